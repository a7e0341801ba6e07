//! `bindConsoleSocket` and its `ConsoleSocket`: the socket runc sends an
//! exec's pty master to. `receive` waits on a thread of its own (it may
//! wait seconds for runc); binding and closing are a few syscalls on the
//! JS thread.

use std::os::fd::IntoRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crion_core::console_socket as core;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::js_error;
use crate::own_thread::settle_on_own_thread;

/// A listening unix socket (mode 0600) for `runc exec --tty
/// --console-socket`. Its file is removed by `close()`, or when the handle
/// is garbage-collected with no receive pending.
#[napi]
pub struct ConsoleSocket {
    socket: Arc<core::ConsoleSocket>,
}

#[napi]
impl ConsoleSocket {
    /// The socket's path, to pass to runc.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.socket.path().to_string_lossy().into_owned()
    }

    /// Accepts one connection and resolves with the descriptor it passed
    /// (the pty master, close-on-exec), which the caller then owns and must
    /// close. Rejects with `code` set: `ERR_CONSOLE_SOCKET_TIMEOUT` when
    /// nothing arrived within `timeoutMs`, `ERR_CONSOLE_SOCKET_NO_DESCRIPTOR`,
    /// `ERR_CONSOLE_SOCKET_CLOSED` when `close()` was called before or while
    /// it waited, `ERR_CONSOLE_SOCKET`.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn receive<'env>(&self, env: &'env Env, timeout_ms: u32) -> Result<Object<'env>> {
        let socket = Arc::clone(&self.socket);
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        settle_on_own_thread(env, "crion-console", move || {
            socket.receive(timeout).map(IntoRawFd::into_raw_fd)
        })
    }

    /// Removes the socket file and ends a pending `receive` with
    /// `ERR_CONSOLE_SOCKET_CLOSED`. Closing twice is fine.
    #[napi]
    pub fn close(&self) {
        self.socket.close();
    }
}

/// Binds a console socket at `path`, replacing a stale socket file (any
/// other file there is an error). Throws with `code` set:
/// `ERR_CONSOLE_SOCKET_PATH_TOO_LONG` (over 107 bytes), `ERR_CONSOLE_SOCKET`.
#[napi]
pub fn bind_console_socket(env: Env, path: String) -> Result<ConsoleSocket> {
    core::ConsoleSocket::bind(&PathBuf::from(path))
        .map(|socket| ConsoleSocket {
            socket: Arc::new(socket),
        })
        .map_err(|error| js_error(&env, error.code(), &error))
}
