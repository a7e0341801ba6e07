//! `connectInNetns`: each call waits on a thread of its own (a connect may
//! take up to its timeout), and crion-core joins the namespace on yet
//! another thread it starts, so no Node thread changes namespace.

use std::os::fd::IntoRawFd;
use std::path::PathBuf;
use std::time::Duration;

use crion_core::netns_connect as core;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::own_thread::settle_on_own_thread;

/// Connects to localhost:`port` (127.0.0.1, then ::1) inside the network
/// namespace file `netnsPath`, or in the daemon's own namespace when it is
/// null, and resolves with the connected TCP socket's descriptor
/// (non-blocking, close-on-exec), which the caller then owns and must close.
/// Rejects with `code` set: `ERR_NETNS_CONNECT_REFUSED` (nothing listens on
/// either address), `ERR_NETNS_CONNECT_TIMEOUT` (not connected within
/// `timeoutMs`), `ERR_NETNS_CONNECT` (another connect failure),
/// `ERR_NETNS_CONNECT_NETNS` (the file cannot be opened or is no network
/// namespace), `ERR_NETNS_CONNECT_INVALID_PORT`, `ERR_NETNS_CONNECT_THREAD`.
#[napi(
    ts_args_type = "netnsPath: string | null, port: number, timeoutMs: number",
    ts_return_type = "Promise<number>"
)]
pub fn connect_in_netns<'env>(
    env: &'env Env,
    netns_path: Option<String>,
    port: u32,
    timeout_ms: u32,
) -> Result<Object<'env>> {
    let port = u16::try_from(port).map_err(|_| {
        Error::new(
            Status::InvalidArg,
            format!("port must be at most {}, got {port}", u16::MAX),
        )
    })?;
    let request = core::ConnectRequest {
        netns: netns_path.map(PathBuf::from),
        port,
        timeout: Duration::from_millis(u64::from(timeout_ms)),
    };
    settle_on_own_thread(env, "crion-netns-wait", move || {
        core::connect_in_netns(&request).map(IntoRawFd::into_raw_fd)
    })
}
