//! `lockDirectory`: the daemon's claim on its root and state directories,
//! taken on the JS thread at start (one open and one flock(2), before the
//! daemon does anything else) and held by the returned handle.

use std::path::PathBuf;

use crion_core::dir_lock as core;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::js_error;

/// An exclusive claim on a directory, held until `release()` or the process ends.
#[napi]
pub struct DirectoryLock {
    held: Option<core::DirLock>,
}

#[napi]
impl DirectoryLock {
    /// Gives the claim up; later calls do nothing.
    #[napi]
    pub fn release(&mut self) {
        self.held = None;
    }
}

/// Claims `dir` (which must exist) for this process through
/// `<dir>/crion.lock`, without waiting. Throws with `code`
/// `ERR_DIR_LOCK_HELD` when another process holds it (the message names
/// its PID), `ERR_DIR_LOCK` when the file cannot be opened, locked or written.
#[napi]
pub fn lock_directory(env: Env, dir: String) -> Result<DirectoryLock> {
    core::lock_dir(&PathBuf::from(dir), std::process::id())
        .map(|held| DirectoryLock { held: Some(held) })
        .map_err(|error| js_error(&env, error.code(), &error))
}
