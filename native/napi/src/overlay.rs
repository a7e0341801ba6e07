//! `mountOverlay` and `unmountOverlay`, run on libuv's pool: a mount takes
//! well under a millisecond to a few, and changes nothing per thread.

use std::path::PathBuf;

use crion_core::overlay as core;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::blocking::BlockingTask;

#[napi(object, use_nullable = true)]
pub struct OverlayMountRequest {
    /// An existing, absolute directory.
    pub target: String,
    /// Topmost first, at most 500. Relative paths are taken relative to
    /// `cwd` (short layer links such as `l/ABC`).
    pub lower_dirs: Vec<String>,
    /// Absolute; with `workDir` or neither. Without them the mount is a
    /// read-only view of the lower layers and `readonly` must be true.
    pub upper_dir: Option<String>,
    pub work_dir: Option<String>,
    /// Absolute.
    pub cwd: Option<String>,
    pub readonly: bool,
}

/// How the mount was made: `lowerdir+` through the new mount API
/// (Linux 6.8), a mount(2) option string (one page at most), or, for a
/// single read-only layer that overlay refuses, a read-only bind mount.
#[napi(string_enum)]
pub enum OverlayMountMethod {
    #[napi(value = "new-mount-api")]
    NewMountApi,
    #[napi(value = "mount-options")]
    MountOptions,
    #[napi(value = "read-only-bind")]
    ReadOnlyBind,
}

/// `detached`: the mount was busy and is now out of the tree, released by
/// the kernel when its last user goes. `not-mounted`: nothing was there.
#[napi(string_enum)]
pub enum OverlayUnmountResult {
    #[napi(value = "unmounted")]
    Unmounted,
    #[napi(value = "detached")]
    Detached,
    #[napi(value = "not-mounted")]
    NotMounted,
}

/// Mounts an overlay at `target`. Rejects with `code` set:
/// `ERR_OVERLAY_INVALID` (the request itself), `ERR_OVERLAY_OPTIONS_TOO_LONG`
/// (a kernel without `lowerdir+` and more layers than one page of mount(2)
/// options holds), `ERR_OVERLAY_MOUNT` (the kernel refused; the message
/// names the directory or target).
#[napi(ts_return_type = "Promise<OverlayMountMethod>")]
pub fn mount_overlay(request: OverlayMountRequest) -> AsyncTask<BlockingTask<OverlayMountMethod>> {
    let request = core::OverlayRequest {
        target: PathBuf::from(request.target),
        lower_dirs: request.lower_dirs.into_iter().map(PathBuf::from).collect(),
        upper_dir: request.upper_dir.map(PathBuf::from),
        work_dir: request.work_dir.map(PathBuf::from),
        cwd: request.cwd.map(PathBuf::from),
        readonly: request.readonly,
    };
    BlockingTask::new(move || {
        core::mount_overlay(&request).map(|method| match method {
            core::MountMethod::NewMountApi => OverlayMountMethod::NewMountApi,
            core::MountMethod::MountOptions => OverlayMountMethod::MountOptions,
            core::MountMethod::ReadOnlyBind => OverlayMountMethod::ReadOnlyBind,
        })
    })
}

/// Unmounts whatever is mounted at `target`; a busy mount is detached
/// instead. Idempotent. Rejects with `ERR_OVERLAY_UNMOUNT`.
#[napi(ts_return_type = "Promise<OverlayUnmountResult>")]
pub fn unmount_overlay(target: String) -> AsyncTask<BlockingTask<OverlayUnmountResult>> {
    BlockingTask::new(move || {
        core::unmount_overlay(&PathBuf::from(target)).map(|result| match result {
            core::Unmounted::Unmounted => OverlayUnmountResult::Unmounted,
            core::Unmounted::Detached => OverlayUnmountResult::Detached,
            core::Unmounted::NotMounted => OverlayUnmountResult::NotMounted,
        })
    })
}
