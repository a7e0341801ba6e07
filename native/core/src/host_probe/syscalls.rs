//! Probes that can only be answered by asking the kernel: a syscall that is
//! missing, filtered by seccomp or refused for lack of privilege all read as
//! "unavailable", with the errno as the reason.

use std::os::fd::AsFd;
use std::path::Path;

use rustix::io::Errno;
use rustix::mount::{FsOpenFlags, fsconfig_set_string, fsopen};
use rustix::process::{PidfdFlags, WaitId, WaitIdOptions, getpid, pidfd_open, waitid};

use super::{HostProbeError, Support};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountApi {
    /// `fsopen("overlay")` (Linux 5.2).
    pub fsopen_overlay: Support,
    /// overlay accepts `lowerdir+` through `fsconfig` (Linux 6.8), one layer
    /// per call: the only way past the one-page limit of mount(2) options,
    /// about 36 layers with absolute paths.
    pub lowerdir_append: Support,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pidfd {
    /// `pidfd_open` (Linux 5.3).
    pub open: Support,
    /// `waitid(P_PIDFD)` (Linux 5.4), which lets an exit watcher reap the
    /// process its pidfd refers to.
    pub waitid: Support,
}

/// Opens an overlay filesystem context and appends one lower layer, then
/// closes the context: nothing is created or mounted, and the scratch layer
/// is removed before returning.
pub(super) fn probe_mount_api(scratch_parent: &Path) -> Result<MountApi, HostProbeError> {
    let fs_context = match fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fd) => fd,
        Err(errno) => {
            return Ok(MountApi {
                fsopen_overlay: Support::unavailable(format!(
                    "fsopen(\"overlay\") failed: {errno}"
                )),
                lowerdir_append: Support::unavailable("needs fsopen(\"overlay\")"),
            });
        }
    };

    let scratch = tempfile::Builder::new()
        .prefix("crion-probe-lower-")
        .tempdir_in(scratch_parent)
        .map_err(|source| HostProbeError::ScratchDir {
            path: scratch_parent.to_owned(),
            source,
        })?;
    let lowerdir_append = match fsconfig_set_string(fs_context.as_fd(), "lowerdir+", scratch.path())
    {
        Ok(()) => Support::Available,
        Err(Errno::INVAL) => {
            Support::unavailable("overlay rejected the lowerdir+ parameter (needs Linux 6.8)")
        }
        Err(errno) => Support::unavailable(format!("fsconfig(\"lowerdir+\") failed: {errno}")),
    };

    // The context holds a reference to the layer: release it first.
    drop(fs_context);
    let scratch_path = scratch.path().to_owned();
    scratch
        .close()
        .map_err(|source| HostProbeError::RemoveScratchDir {
            path: scratch_path,
            source,
        })?;

    Ok(MountApi {
        fsopen_overlay: Support::Available,
        lowerdir_append,
    })
}

pub(super) fn probe_pidfd() -> Pidfd {
    let pidfd = match pidfd_open(getpid(), PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(errno) => {
            return Pidfd {
                open: Support::unavailable(format!("pidfd_open failed: {errno}")),
                waitid: Support::unavailable("needs pidfd_open"),
            };
        }
    };

    // The probing process is not its own child, so a kernel that understands
    // P_PIDFD answers ECHILD without waiting or reaping anything; one that
    // does not rejects the id type with EINVAL.
    let waitid = match waitid(
        WaitId::PidFd(pidfd.as_fd()),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
    ) {
        Ok(_) | Err(Errno::CHILD) => Support::Available,
        Err(Errno::INVAL) => Support::unavailable("waitid rejected P_PIDFD (needs Linux 5.4)"),
        Err(errno) => Support::unavailable(format!("waitid(P_PIDFD) failed: {errno}")),
    };

    Pidfd {
        open: Support::Available,
        waitid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_api_probe_leaves_no_scratch_directory_behind() {
        let parent = tempfile::tempdir().expect("test directory");
        probe_mount_api(parent.path()).expect("probe succeeds");
        let leftovers = std::fs::read_dir(parent.path()).expect("readable").count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn lowerdir_append_is_only_available_with_fsopen() {
        let parent = tempfile::tempdir().expect("test directory");
        let mount_api = probe_mount_api(parent.path()).expect("probe succeeds");
        if !mount_api.fsopen_overlay.is_available() {
            assert!(!mount_api.lowerdir_append.is_available());
        }
    }

    #[test]
    fn an_unwritable_scratch_parent_is_an_error_naming_it() {
        let parent = Path::new("/proc/crion-no-such-directory");
        match probe_mount_api(parent) {
            // Without fsopen the scratch directory is never needed.
            Ok(mount_api) => assert!(!mount_api.fsopen_overlay.is_available()),
            Err(error) => {
                assert_eq!(error.code(), "ERR_HOST_PROBE_SCRATCH_DIR");
                assert_eq!(
                    error.to_string(),
                    "creating a scratch directory under /proc/crion-no-such-directory"
                );
            }
        }
    }

    #[test]
    fn pidfd_open_works_on_kernels_from_5_3() {
        let pidfd = probe_pidfd();
        if kernel_at_least(5, 4) {
            assert_eq!(pidfd.open, Support::Available);
            assert_eq!(pidfd.waitid, Support::Available);
        }
    }

    fn kernel_at_least(major: u32, minor: u32) -> bool {
        let release = rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned();
        let mut numbers = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|part| part.parse::<u32>().unwrap_or(0));
        let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        found >= (major, minor)
    }
}
