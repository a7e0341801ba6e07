//! `setWindowSize`: one ioctl(2), on the JS thread.

use crion_core::terminal::{self as core, WindowSize};
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
