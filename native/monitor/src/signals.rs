//! SIGCHLD as a readable file descriptor, so the event loop waits for child
//! exits, output and control requests in one `poll`. rustix wraps neither
//! `sigprocmask` nor `signalfd`, hence the FFI below.
//!
//! The blocked mask is inherited across fork, but `std::process::Command`
//! empties the mask (and restores SIGPIPE) in the child before exec, so the
//! runtime and the container start with no signal blocked.
#![allow(unsafe_code)]

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;

use rustix::io::Errno;

#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("blocking SIGCHLD")]
    Mask(#[source] io::Error),
    #[error("creating the SIGCHLD signalfd")]
    Create(#[source] io::Error),
    #[error("reading the SIGCHLD signalfd")]
    Read(#[source] io::Error),
}

impl SignalError {
    pub fn code(&self) -> &'static str {
        match self {
            SignalError::Mask(_) => "ERR_SIGNAL_MASK",
            SignalError::Create(_) => "ERR_SIGNAL_CREATE",
            SignalError::Read(_) => "ERR_SIGNAL_READ",
        }
    }
}

pub struct ChildSignals {
    fd: OwnedFd,
}

impl ChildSignals {
    /// Blocks SIGCHLD (the monitor has one thread, so the thread mask is the
    /// process mask) and returns a non-blocking signalfd for it. Call this
    /// before starting any child, so no exit can be signalled unseen.
    pub fn block() -> Result<Self, SignalError> {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the set it points to; it cannot fail
        // for a valid pointer.
        unsafe { libc::sigemptyset(set.as_mut_ptr()) };
        // SAFETY: initialised by sigemptyset just above.
        let mut set = unsafe { set.assume_init() };
        // SAFETY: a valid set and a valid signal number.
        unsafe { libc::sigaddset(&mut set, libc::SIGCHLD) };

        // SAFETY: a valid, initialised set; the previous mask is not wanted.
        let result = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, ptr::null_mut()) };
        if result != 0 {
            return Err(SignalError::Mask(io::Error::from_raw_os_error(result)));
        }

        // SAFETY: -1 asks for a new descriptor; the set is valid.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if fd < 0 {
            return Err(SignalError::Create(io::Error::last_os_error()));
        }
        // SAFETY: signalfd returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd })
    }

    /// Consumes the pending notifications. Their content does not matter:
    /// SIGCHLDs coalesce, so the reaper asks the kernel for every exit anyway.
    pub fn drain(&self) -> Result<(), SignalError> {
        // Room for four `struct signalfd_siginfo` (128 bytes each).
        let mut buffer = [0u8; 512];
        loop {
            match rustix::io::read(&self.fd, &mut buffer) {
                Ok(0) | Err(Errno::AGAIN) => return Ok(()),
                Ok(_) | Err(Errno::INTR) => {}
                Err(errno) => return Err(SignalError::Read(errno.into())),
            }
        }
    }
}

impl AsFd for ChildSignals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
