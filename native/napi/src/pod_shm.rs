//! `mountPodShm` and `unmountPodShm`, run on libuv's pool: one mount(2) or
//! umount2(2), which changes nothing per thread.

use std::path::PathBuf;

use crion_core::pod_shm as core;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::blocking::BlockingTask;

/// Mounts a tmpfs of `sizeBytes` (mode 1777, nosuid, nodev, noexec) on the
/// existing directory `target`. Rejects with `code` `ERR_POD_SHM_MOUNT`.
#[napi(ts_return_type = "Promise<void>")]
pub fn mount_pod_shm(target: String, size_bytes: i64) -> Result<AsyncTask<BlockingTask<()>>> {
    let size_bytes = u64::try_from(size_bytes).map_err(|_| {
        Error::new(
            Status::InvalidArg,
            format!("sizeBytes must not be negative, got {size_bytes}"),
        )
    })?;
    Ok(BlockingTask::new(move || {
        core::mount_pod_shm(&PathBuf::from(target), size_bytes)
    }))
}

/// Unmounts the pod's /dev/shm, detaching it while busy. Nothing mounted,
/// or no such path, is fine. Rejects with `code` `ERR_POD_SHM_UNMOUNT`.
#[napi(ts_return_type = "Promise<void>")]
pub fn unmount_pod_shm(target: String) -> AsyncTask<BlockingTask<()>> {
    BlockingTask::new(move || core::unmount_pod_shm(&PathBuf::from(target)))
}
