//! A pod's `/dev/shm`: a tmpfs of its own that every container of the pod
//! bind-mounts, so they share POSIX shared memory as the IPC namespace they
//! share implies. mount(2) directly: spawning mount(8) from the daemon cost
//! a fork of Node and several milliseconds of RunPodSandbox.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::mount::{MountFlags, UnmountFlags, mount, unmount};

#[derive(Debug, thiserror::Error)]
pub enum PodShmError {
    #[error("mounting the pod's /dev/shm tmpfs of {size_bytes} bytes on {target}")]
    Mount {
        target: PathBuf,
        size_bytes: u64,
        #[source]
        source: Errno,
    },
    #[error("unmounting the pod's /dev/shm {target}")]
    Unmount {
        target: PathBuf,
        #[source]
        source: Errno,
    },
}

impl PodShmError {
    pub fn code(&self) -> &'static str {
        match self {
            PodShmError::Mount { .. } => "ERR_POD_SHM_MOUNT",
            PodShmError::Unmount { .. } => "ERR_POD_SHM_UNMOUNT",
        }
    }
}

/// Mounts a tmpfs of `size_bytes` on the existing directory `target`:
/// world-writable and sticky like any /dev/shm, and neither setuid
/// programs, devices nor executables, as Docker and containerd mount it.
pub fn mount_pod_shm(target: &Path, size_bytes: u64) -> Result<(), PodShmError> {
    let error = |source| PodShmError::Mount {
        target: target.to_owned(),
        size_bytes,
        source,
    };
    // Digits and ASCII only: never holds a NUL.
    let data =
        CString::new(format!("mode=1777,size={size_bytes}")).map_err(|_| error(Errno::INVAL))?;
    mount(
        "shm",
        target,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        data.as_c_str(),
    )
    .map_err(error)
}

/// Unmounts the pod's /dev/shm. Detached rather than refused while a
/// process still has it open (the kernel frees it when the last user
/// goes), and a target with nothing mounted, or missing, is fine: stopping
/// and removing a pod both release it, and either may be retried.
pub fn unmount_pod_shm(target: &Path) -> Result<(), PodShmError> {
    match unmount(target, UnmountFlags::DETACH) {
        // EINVAL: not a mount point.
        Ok(()) | Err(Errno::INVAL | Errno::NOENT) => Ok(()),
        Err(source) => Err(PodShmError::Unmount {
            target: target.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests;
