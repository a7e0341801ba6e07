//! File descriptors the monitor inherits from whoever started it: the sync
//! descriptor it was told about, and any it was not.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

use rustix::io::{FdFlags, fcntl_getfd};

#[derive(Debug, thiserror::Error)]
pub enum InheritedFdError {
    #[error("--sync-fd {fd} is not an open file descriptor")]
    NotOpen {
        fd: RawFd,
        #[source]
        source: io::Error,
    },
    #[error("--sync-fd {fd} cannot be marked close-on-exec")]
    Flags {
        fd: RawFd,
        #[source]
        source: io::Error,
    },
}

/// Marks every descriptor from 3 up close-on-exec, so nothing the caller
/// leaked (a pipe it waits on, a socket) reaches the runtime or the container
/// and holds it open for the container's lifetime. Best effort: before Linux
/// 5.11 `close_range` lacks the flag and descriptors stay as they are.
pub fn mark_all_close_on_exec() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on
    // descriptors; it closes none, so no owner is invalidated.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}

/// Takes ownership of descriptor `fd`, which the caller passed on purpose,
/// and marks it close-on-exec: were the runtime to inherit it, the daemon
/// would not see end-of-file on it until the container exits.
pub fn take(fd: RawFd) -> Result<OwnedFd, InheritedFdError> {
    // SAFETY: the borrow lasts for this one fcntl, which only asks whether
    // the number is open; no other code in this process uses that number,
    // since it was handed to us from outside.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let flags = fcntl_getfd(borrowed).map_err(|errno| InheritedFdError::NotOpen {
        fd,
        source: errno.into(),
    })?;
    rustix::io::fcntl_setfd(borrowed, flags | FdFlags::CLOEXEC).map_err(|errno| {
        InheritedFdError::Flags {
            fd,
            source: errno.into(),
        }
    })?;
    // SAFETY: `fd` is open (checked above) and was passed to this process
    // for it to own; `take` is called at most once per number, and nothing
    // else in the process opened or owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
