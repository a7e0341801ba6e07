//! `createPodNamespaces`, `removePodNamespaces`, `preparePrivateMountDir`.
//! The namespaces are made on a thread crion-core starts for the purpose;
//! the libuv thread running the task only waits for it.

use std::collections::HashMap;
use std::path::PathBuf;

use crion_core::namespaces as core;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::blocking::BlockingTask;

#[napi(object, use_nullable = true)]
pub struct PodNamespacesRequest {
    /// An existing directory, best below one prepared with
    /// `preparePrivateMountDir`; the pins are made as `net`, `ipc` and `uts`
    /// inside it.
    pub dir: String,
    pub net: bool,
    pub ipc: bool,
    pub uts: bool,
    /// Set in the new UTS namespace; needs `uts`.
    pub hostname: Option<String>,
    /// Namespaced sysctls only: `net.*` (needs `net`), `kernel.shm*`,
    /// `kernel.msg*`, `kernel.sem`, `fs.mqueue.*` (need `ipc`). Dotted, or
    /// slashed where a component holds a dot (`net/ipv4/conf/eth0.100/forwarding`).
    pub sysctls: HashMap<String, String>,
}

/// The pin file of each namespace made; null for a kind not asked for.
#[napi(object, use_nullable = true)]
pub struct PodNamespaces {
    pub net: Option<String>,
    pub ipc: Option<String>,
    pub uts: Option<String>,
}

fn path_string(path: PathBuf) -> String {
    path.to_string_lossy().into_owned()
}

/// Makes the pod's network, IPC and UTS namespaces (those asked for) on a
/// thread of their own, sets the hostname and sysctls inside them, brings
/// up `lo`, and bind-mounts each onto `<dir>/<kind>`. Rejects with `code`
/// set: `ERR_POD_NS_INVALID` (a hostname or sysctl that would reach the
/// host, a bad name), `ERR_POD_NS_SYSCTL`, `ERR_POD_NS_HOSTNAME`,
/// `ERR_POD_NS_LOOPBACK`, `ERR_POD_NS_UNSHARE`, `ERR_POD_NS_PIN` (a pin
/// file already there, a failed mount), `ERR_POD_NS_THREAD`; nothing is
/// left behind then.
#[napi(ts_return_type = "Promise<PodNamespaces>")]
pub fn create_pod_namespaces(
    request: PodNamespacesRequest,
) -> AsyncTask<BlockingTask<PodNamespaces>> {
    // Sorted, so that the writes happen in the same order on every run.
    let mut sysctls: Vec<(String, String)> = request.sysctls.into_iter().collect();
    sysctls.sort();
    let request = core::PodNamespacesRequest {
        dir: PathBuf::from(request.dir),
        net: request.net,
        ipc: request.ipc,
        uts: request.uts,
        hostname: request.hostname,
        sysctls,
    };
    BlockingTask::new(move || {
        core::create_pod_namespaces(&request).map(|made| PodNamespaces {
            net: made.net.map(path_string),
            ipc: made.ipc.map(path_string),
            uts: made.uts.map(path_string),
        })
    })
}

/// Unmounts and deletes the pins in `dir` (not `dir` itself). Missing pins
/// are fine, so removal can be retried. Rejects with `ERR_POD_NS_UNPIN`.
#[napi(ts_return_type = "Promise<void>")]
pub fn remove_pod_namespaces(dir: String) -> AsyncTask<BlockingTask<()>> {
    BlockingTask::new(move || core::remove_pod_namespaces(&PathBuf::from(dir)))
}

/// Makes `dir` (created if missing) a private mount point of its own, as
/// `ip netns` does for /run/netns, unless it already is one. Rejects with
/// `ERR_POD_NS_MOUNT_DIR`.
#[napi(ts_return_type = "Promise<void>")]
pub fn prepare_private_mount_dir(dir: String) -> AsyncTask<BlockingTask<()>> {
    BlockingTask::new(move || core::prepare_private_mount_dir(&PathBuf::from(dir)))
}
