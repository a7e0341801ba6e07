//! Terminals for exec and attach: a new pty pair for `runc exec --tty`,
//! whose foreground mode wants its own stdio to be a terminal, and a
//! terminal's window size (TIOCSWINSZ on the pty master), set when the
//! kubelet relays a resize. The kernel sends SIGWINCH to the foreground
//! process group of the slave.

#[allow(unsafe_code)]
mod raw_fd;

use std::os::fd::{AsFd, OwnedFd, RawFd};

use rustix::fs::{Mode, OFlags, open};
use rustix::io::Errno;
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcgetwinsize, tcsetwinsize};

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("descriptor {fd} is not open")]
    BadDescriptor { fd: RawFd },
    #[error("descriptor {fd} is not a terminal")]
    NotATerminal { fd: RawFd },
    #[error("setting the window size of descriptor {fd} to {rows} rows by {cols} columns")]
    SetWindowSize {
        fd: RawFd,
        rows: u16,
        cols: u16,
        #[source]
        source: Errno,
    },
    #[error("opening a new pseudo-terminal through /dev/ptmx")]
    OpenPty {
        #[source]
        source: Errno,
    },
    #[error("opening the pseudo-terminal slave {path}")]
    OpenSlave {
        path: String,
        #[source]
        source: Errno,
    },
    #[error("reading the window size of descriptor {fd}")]
    GetWindowSize {
        fd: RawFd,
        #[source]
        source: Errno,
    },
}

impl TerminalError {
    /// Stable identifier for callers that branch on the kind of failure; the
    /// message may change, these may not.
    pub fn code(&self) -> &'static str {
        match self {
            TerminalError::BadDescriptor { .. } => "ERR_TERMINAL_BAD_FD",
            TerminalError::NotATerminal { .. } => "ERR_TERMINAL_NOT_A_TTY",
            TerminalError::SetWindowSize { .. } | TerminalError::GetWindowSize { .. } => {
                "ERR_TERMINAL_WINDOW_SIZE"
            }
            TerminalError::OpenPty { .. } | TerminalError::OpenSlave { .. } => "ERR_TERMINAL_OPEN",
        }
    }
}

/// Rows and columns of a terminal; the pixel sizes are left 0, as runc and
/// the kubelet leave them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSize {
    pub rows: u16,
    pub cols: u16,
}

/// Both ends of a new pseudo-terminal, close-on-exec, neither of them the
/// caller's controlling terminal.
pub struct PtyPair {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a new pty whose window is `size` from the start, so that a program
/// reading it at once (runc sizes the container's terminal from it) sees
/// the client's size.
pub fn open_pty(size: WindowSize) -> Result<PtyPair, TerminalError> {
    let open_error = |source| TerminalError::OpenPty { source };
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .map_err(open_error)?;
    grantpt(&master).map_err(open_error)?;
    unlockpt(&master).map_err(open_error)?;
    let name = ptsname(&master, Vec::new()).map_err(open_error)?;
    let slave = open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| TerminalError::OpenSlave {
        path: name.to_string_lossy().into_owned(),
        source,
    })?;
    set_window_size(&master, size)?;
    Ok(PtyPair { master, slave })
}

/// Sets the window size of the terminal `fd` (a pty master, or its slave).
pub fn set_window_size(fd: impl AsFd, size: WindowSize) -> Result<(), TerminalError> {
    let fd = fd.as_fd();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let winsize = Winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    tcsetwinsize(fd, winsize).map_err(|source| match source {
        Errno::BADF => TerminalError::BadDescriptor { fd: raw },
        Errno::NOTTY => TerminalError::NotATerminal { fd: raw },
        source => TerminalError::SetWindowSize {
            fd: raw,
            rows: size.rows,
            cols: size.cols,
            source,
        },
    })
}

/// The window size of the terminal `fd`.
pub fn window_size(fd: impl AsFd) -> Result<WindowSize, TerminalError> {
    let fd = fd.as_fd();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    tcgetwinsize(fd)
        .map(|winsize| WindowSize {
            rows: winsize.ws_row,
            cols: winsize.ws_col,
        })
        .map_err(|source| match source {
            Errno::BADF => TerminalError::BadDescriptor { fd: raw },
            Errno::NOTTY => TerminalError::NotATerminal { fd: raw },
            source => TerminalError::GetWindowSize { fd: raw, source },
        })
}

/// `set_window_size` on a descriptor known only by its number, as JS holds
/// it. The caller must own `fd` for the duration of the call; a number
/// that names no open descriptor is `BadDescriptor`.
pub fn set_window_size_of_raw(fd: RawFd, size: WindowSize) -> Result<(), TerminalError> {
    raw_fd::with_borrowed(fd, |borrowed| set_window_size(borrowed, size))
        .unwrap_or(Err(TerminalError::BadDescriptor { fd }))
}

#[cfg(test)]
mod tests;
