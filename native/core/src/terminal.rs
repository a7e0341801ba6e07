//! A terminal's window size (TIOCSWINSZ on the pty master), set when the
//! kubelet relays a resize of an exec or attach with a terminal. The kernel
//! sends SIGWINCH to the foreground process group of the slave.

#[allow(unsafe_code)]
mod raw_fd;

use std::os::fd::{AsFd, RawFd};

use rustix::io::Errno;
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
