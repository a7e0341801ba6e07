//! `openPty` and `setWindowSize`: a few syscalls each, on the JS thread.

use crion_core::terminal::{self as core, WindowSize};
use std::os::fd::IntoRawFd;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::js_error;

fn dimension(name: &str, value: u32) -> Result<u16> {
    u16::try_from(value).map_err(|_| {
        Error::new(
            Status::InvalidArg,
            format!("{name} must be at most {}, got {value}", u16::MAX),
        )
    })
}

/// Sets the window size of the terminal `fd` (a pty master) to `rows` by
/// `cols`; the kernel signals SIGWINCH to the slave's foreground process
/// group. `fd` stays the caller's. Throws with `code` set:
/// `ERR_TERMINAL_NOT_A_TTY`, `ERR_TERMINAL_BAD_FD` (not open),
/// `ERR_TERMINAL_WINDOW_SIZE`.
#[napi]
pub fn set_window_size(env: Env, fd: i32, rows: u32, cols: u32) -> Result<()> {
    let size = WindowSize {
        rows: dimension("rows", rows)?,
        cols: dimension("cols", cols)?,
    };
    core::set_window_size_of_raw(fd, size).map_err(|error| js_error(&env, error.code(), &error))
}

/// Both ends of a new pty, as descriptor numbers now owned by JS.
#[napi(object)]
pub struct PtyPair {
    pub master: i32,
    pub slave: i32,
}

/// Opens a new pseudo-terminal whose window is `rows` by `cols`; both
/// descriptors are close-on-exec and the caller's to close. Throws with
/// `code` `ERR_TERMINAL_OPEN`.
#[napi]
pub fn open_pty(env: Env, rows: u32, cols: u32) -> Result<PtyPair> {
    let size = WindowSize {
        rows: dimension("rows", rows)?,
        cols: dimension("cols", cols)?,
    };
    let pair = core::open_pty(size).map_err(|error| js_error(&env, error.code(), &error))?;
    Ok(PtyPair {
        master: pair.master.into_raw_fd(),
        slave: pair.slave.into_raw_fd(),
    })
}
