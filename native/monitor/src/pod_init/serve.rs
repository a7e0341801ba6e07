//! The init: PID 1 of a pod's PID namespace, started by the launcher as
//! `crion-monitor pod-init-serve`. The pod's containers see it as PID 1 and
//! can reach `/proc/1/root`, `/proc/1/cwd` and `/proc/1/fd`, so before it
//! reports ready it gives up everything that could lead out of the pod:
//! the host's filesystem (its root is an empty read-only tmpfs in a mount
//! namespace of its own), every descriptor but /dev/null and its signalfd,
//! every capability, root's IDs and dumpability. Then it only reaps the
//! orphans reparented to it and waits for SIGTERM or SIGINT, as pause does.
//!
//! Its stdout is the report pipe to the launcher: one line, `ready` or
//! `error <code>: <cause chain>`; it is /dev/null from then on.
#![allow(unsafe_code)]

use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::ptr;

use rustix::fs::{CWD, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountPropagationFlags, MoveMountFlags, UnmountFlags,
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, mount_change, move_mount, unmount,
};
use rustix::process::{
    DumpableBehavior, Gid, Signal, Uid, WaitOptions, fchdir, pivot_root, set_dumpable_behavior,
    set_parent_process_death_signal, setsid, wait,
};
use rustix::thread::{
    CapabilitySet, CapabilitySets, UnshareFlags, set_capabilities, set_no_new_privs,
    set_thread_groups, set_thread_res_gid, set_thread_res_uid,
};

use super::{ERROR_PREFIX, READY};

/// The pause image's user and group.
const NOBODY: u32 = 65535;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("blocking signals")]
    Mask(#[source] io::Error),
    #[error("setting the parent-death signal")]
    DeathSignal(#[source] Errno),
    #[error("opening /dev/null")]
    DevNull(#[source] Errno),
    #[error("starting a new session")]
    Session(#[source] Errno),
    #[error("unsharing the mount namespace")]
    MountNamespace(#[source] Errno),
    #[error("making every mount private")]
    Private(#[source] Errno),
    #[error("mounting the empty root (tmpfs)")]
    Root(#[source] Errno),
    #[error("pivoting to the empty root")]
    Pivot(#[source] Errno),
    #[error("detaching the host's root")]
    Detach(#[source] Errno),
    #[error("dropping capability {capability} from the bounding set")]
    Bounding {
        capability: u32,
        #[source]
        source: io::Error,
    },
    #[error("clearing the supplementary groups")]
    Groups(#[source] Errno),
    #[error("setting the GIDs to {NOBODY}")]
    Gid(#[source] Errno),
    #[error("setting the UIDs to {NOBODY}")]
    Uid(#[source] Errno),
    #[error("clearing the capability sets")]
    Capabilities(#[source] Errno),
    #[error("setting no_new_privs")]
    NoNewPrivs(#[source] Errno),
    #[error("making the process non-dumpable")]
    Dumpable(#[source] Errno),
    #[error("creating the signalfd")]
    Signalfd(#[source] io::Error),
    #[error("replacing stdio with /dev/null")]
    Stdio(#[source] Errno),
    #[error("reading the signalfd")]
    ReadSignal(#[source] Errno),
    #[error("reaping children")]
    Reap(#[source] Errno),
}

impl ServeError {
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::Mask(_) => "ERR_POD_INIT_SIGNAL_MASK",
            ServeError::DeathSignal(_) => "ERR_POD_INIT_DEATH_SIGNAL",
            ServeError::DevNull(_) => "ERR_POD_INIT_DEV_NULL",
            ServeError::Session(_) => "ERR_POD_INIT_SESSION",
            ServeError::MountNamespace(_) => "ERR_POD_INIT_MOUNT_NAMESPACE",
            ServeError::Private(_) => "ERR_POD_INIT_PRIVATE",
            ServeError::Root(_) => "ERR_POD_INIT_ROOT",
            ServeError::Pivot(_) => "ERR_POD_INIT_PIVOT",
            ServeError::Detach(_) => "ERR_POD_INIT_DETACH",
            ServeError::Bounding { .. } => "ERR_POD_INIT_BOUNDING",
            ServeError::Groups(_) => "ERR_POD_INIT_GROUPS",
            ServeError::Gid(_) => "ERR_POD_INIT_GID",
            ServeError::Uid(_) => "ERR_POD_INIT_UID",
            ServeError::Capabilities(_) => "ERR_POD_INIT_CAPABILITIES",
            ServeError::NoNewPrivs(_) => "ERR_POD_INIT_NO_NEW_PRIVS",
            ServeError::Dumpable(_) => "ERR_POD_INIT_DUMPABLE",
            ServeError::Signalfd(_) => "ERR_POD_INIT_SIGNALFD",
            ServeError::Stdio(_) => "ERR_POD_INIT_STDIO",
            ServeError::ReadSignal(_) => "ERR_POD_INIT_READ_SIGNAL",
            ServeError::Reap(_) => "ERR_POD_INIT_REAP",
        }
    }
}

/// The init's whole life. Past the report there is nobody to tell about an
/// error, so the exit status is all that remains of it.
pub fn serve() -> ExitCode {
    // Started as /proc/self/exe, it would show as `exe` in ps. Cosmetic.
    let _ = rustix::thread::set_name(c"crion-pod-init");
    let init = match prepare() {
        Ok(init) => init,
        Err(error) => {
            let line = format!(
                "{ERROR_PREFIX}{}: {}\n",
                error.code(),
                crate::error_chain(&error)
            );
            let _ = io::stdout().write_all(line.as_bytes());
            return ExitCode::FAILURE;
        }
    };
    // Should the launcher die from here on, the write fails (SIGPIPE is
    // ignored) and the init exits: nobody would ever pin or stop it.
    if set_parent_process_death_signal(None).is_err()
        || io::stdout()
            .write_all(READY)
            .and_then(|()| io::stdout().flush())
            .is_err()
    {
        return ExitCode::FAILURE;
    }
    match init.serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

struct Init {
    signals: OwnedFd,
}

fn prepare() -> Result<Init, ServeError> {
    // Before anything else: a SIGTERM during setup must wait for the loop,
    // not hit PID 1 with its default action half-way through.
    let mask = block_all_signals()?;
    // A launcher that dies (or is killed by the daemon) before the report
    // takes the init with it, so a failed launch leaves nothing behind.
    set_parent_process_death_signal(Some(Signal::KILL)).map_err(ServeError::DeathSignal)?;
    close_inherited_descriptors();
    // Opened before the host's filesystem is out of reach. Stdout stays the
    // report pipe until the report is written.
    let dev_null = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .map_err(ServeError::DevNull)?;
    rustix::stdio::dup2_stdin(&dev_null).map_err(ServeError::Stdio)?;
    rustix::stdio::dup2_stderr(&dev_null).map_err(ServeError::Stdio)?;
    drop(dev_null);
    setsid().map_err(ServeError::Session)?;
    enter_empty_root()?;
    drop_privileges()?;
    // Changing the UIDs cleared the parent-death signal; the window to the
    // report still needs it.
    set_parent_process_death_signal(Some(Signal::KILL)).map_err(ServeError::DeathSignal)?;
    let signals = signalfd(&mask)?;
    Ok(Init { signals })
}

impl Init {
    fn serve(self) -> Result<(), ServeError> {
        // Closes the report pipe, the last descriptor of the setup: the
        // launcher waits for that end-of-file after `ready`.
        rustix::stdio::dup2_stdout(io::stdin().as_fd()).map_err(ServeError::Stdio)?;

        // Room for eight `struct signalfd_siginfo` (128 bytes each).
        let mut buffer = [0u8; 1024];
        loop {
            let count = match rustix::io::read(&self.signals, &mut buffer) {
                Ok(count) => count,
                Err(Errno::INTR) => continue,
                Err(errno) => return Err(ServeError::ReadSignal(errno)),
            };
            for info in buffer[..count].chunks_exact(128) {
                // `ssi_signo`, the first field.
                let signal = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]);
                match signal as i32 {
                    libc::SIGTERM | libc::SIGINT => return Ok(()),
                    libc::SIGCHLD => reap_all()?,
                    _ => {}
                }
            }
        }
    }
}

/// Containers' processes whose parents died are reparented here; SIGCHLDs
/// coalesce, so every exited child is reaped on each one.
fn reap_all() -> Result<(), ServeError> {
    loop {
        match wait(WaitOptions::NOHANG) {
            Ok(Some(_)) | Err(Errno::INTR) => {}
            Ok(None) | Err(Errno::CHILD) => return Ok(()),
            Err(errno) => return Err(ServeError::Reap(errno)),
        }
    }
}

fn block_all_signals() -> Result<libc::sigset_t, ServeError> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises the set it points to; it cannot fail for
    // a valid pointer.
    unsafe { libc::sigfillset(set.as_mut_ptr()) };
    // SAFETY: initialised by sigfillset just above.
    let set = unsafe { set.assume_init() };
    // SAFETY: a valid, initialised set; the previous mask is not wanted. The
    // kernel leaves SIGKILL and SIGSTOP out by itself.
    let result = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, ptr::null_mut()) };
    if result != 0 {
        return Err(ServeError::Mask(io::Error::from_raw_os_error(result)));
    }
    Ok(set)
}

/// Blocking: the init has nothing to do between signals.
fn signalfd(set: &libc::sigset_t) -> Result<OwnedFd, ServeError> {
    // SAFETY: -1 asks for a new descriptor; the set is valid.
    let fd = unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(ServeError::Signalfd(io::Error::last_os_error()));
    }
    // SAFETY: signalfd returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whatever the daemon leaked to the launcher would otherwise stay open in
/// the pod's PID 1 for the pod's lifetime, reachable through /proc/1/fd.
/// Closed rather than marked close-on-exec, since the init never execs.
fn close_inherited_descriptors() {
    // SAFETY: nothing in this process owns a descriptor above 2 yet: this
    // runs before the init opens any, and std opens none behind its back.
    // Best effort: before Linux 5.9 there is no close_range and the
    // descriptors stay (the launcher's own are all close-on-exec).
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        );
    }
}

/// A private mount namespace whose only mount is an empty read-only tmpfs:
/// `/proc/1/root` and `/proc/1/cwd` lead nowhere, and the host's mounts are
/// neither held busy nor visible through `/proc/1/mountinfo`.
fn enter_empty_root() -> Result<(), ServeError> {
    // SAFETY: CLONE_NEWNS unshares no file descriptor table, and the init
    // has one thread.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) }
        .map_err(ServeError::MountNamespace)?;
    // Otherwise the mounts below would propagate back to the host.
    mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(ServeError::Private)?;

    let tmpfs = fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC).map_err(ServeError::Root)?;
    fsconfig_set_string(&tmpfs, "size", "4k").map_err(ServeError::Root)?;
    fsconfig_set_string(&tmpfs, "mode", "0555").map_err(ServeError::Root)?;
    fsconfig_create(&tmpfs).map_err(ServeError::Root)?;
    let root = fsmount(
        &tmpfs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOEXEC,
    )
    .map_err(ServeError::Root)?;
    // pivot_root takes only a mount attached in this namespace; stacked on
    // `/`, the tmpfs needs no directory of the host to exist.
    move_mount(&root, "", CWD, "/", MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
        .map_err(ServeError::Root)?;
    fchdir(&root).map_err(ServeError::Pivot)?;
    pivot_root(".", ".").map_err(ServeError::Pivot)?;
    // The host's root now sits under ours, at the same place.
    unmount(".", UnmountFlags::DETACH).map_err(ServeError::Detach)?;
    rustix::process::chdir("/").map_err(ServeError::Pivot)?;
    Ok(())
}

fn drop_privileges() -> Result<(), ServeError> {
    // Every capability the kernel knows, including ones newer than this
    // code: PR_CAPBSET_DROP fails with EINVAL past the last.
    for capability in 0u32.. {
        // SAFETY: PR_CAPBSET_DROP takes a capability number and touches no
        // memory of the caller.
        let result = unsafe {
            libc::prctl(
                libc::PR_CAPBSET_DROP,
                libc::c_ulong::from(capability),
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        if result != 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EINVAL) && capability > 0 {
                break;
            }
            return Err(ServeError::Bounding {
                capability,
                source: error,
            });
        }
    }
    set_thread_groups(&[]).map_err(ServeError::Groups)?;
    let gid = Gid::from_raw(NOBODY);
    set_thread_res_gid(gid, gid, gid).map_err(ServeError::Gid)?;
    // Leaving UID 0 for a non-zero real, effective and saved UID empties the
    // permitted, effective and ambient sets.
    let uid = Uid::from_raw(NOBODY);
    set_thread_res_uid(uid, uid, uid).map_err(ServeError::Uid)?;
    // The inheritable set survives that; an exec would need it.
    set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::empty(),
            permitted: CapabilitySet::empty(),
            inheritable: CapabilitySet::empty(),
        },
    )
    .map_err(ServeError::Capabilities)?;
    set_no_new_privs(true).map_err(ServeError::NoNewPrivs)?;
    // The UID change already made it so (suid_dumpable permitting); stated
    // explicitly because /proc/1/{environ,mem,fd} of PID 1 depend on it.
    set_dumpable_behavior(DumpableBehavior::NotDumpable).map_err(ServeError::Dumpable)?;
    Ok(())
}
