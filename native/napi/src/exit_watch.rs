//! `watchExit` and `pidAlive`. Every watch shares crion-core's one watcher
//! thread, started by the first watch; each pending watch holds a
//! threadsafe function (its `JsDeferred`), which keeps Node's event loop
//! alive until the process exits, as a child process handle would.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crion_core::exit_watch::{self as core, ExitWatcher};
use napi::bindgen_prelude::*;
use napi::{Env, JsDeferred};
use napi_derive::napi;

use crate::js_error;

type Resolver = Box<dyn FnOnce(Env) -> Result<()> + Send>;
type Deferred = JsDeferred<(), Resolver>;

static WATCHER: OnceLock<std::result::Result<ExitWatcher, core::ExitWatchError>> = OnceLock::new();

/// Resolves once process `pid` has exited (at once for a zombie), whether or
/// not it is the daemon's child. Rejects with `code` set:
/// `ERR_EXIT_WATCH_NO_PROCESS` when there is no such process (it was
/// already reaped), `ERR_EXIT_WATCH_INVALID_PID`, `ERR_EXIT_WATCH_PIDFD`,
/// `ERR_EXIT_WATCH_WATCHER` (the watcher thread could not start).
#[napi(ts_return_type = "Promise<void>")]
pub fn watch_exit<'env>(env: &'env Env, pid: i32) -> Result<Object<'env>> {
    let (deferred, promise) = env.create_deferred::<(), Resolver>()?;
    // Shared with the exit callback so that, if the watch cannot start and
    // the callback is dropped unrun, the promise is still settled here: an
    // unsettled deferred would keep the event loop alive for good.
    let slot: Arc<Mutex<Option<Deferred>>> = Arc::new(Mutex::new(Some(deferred)));
    let take =
        |slot: &Mutex<Option<Deferred>>| slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    let on_exit = {
        let slot = Arc::clone(&slot);
        Box::new(move || {
            if let Some(deferred) = take(&slot) {
                deferred.resolve(Box::new(|_| Ok(())));
            }
        })
    };
    let outcome = match WATCHER.get_or_init(ExitWatcher::start) {
        Ok(watcher) => watcher.watch(pid, on_exit),
        Err(error) => Err(core::ExitWatchError::Thread {
            source: std::io::Error::other(error.to_string()),
        }),
    };
    if let Err(error) = outcome
        && let Some(deferred) = take(&slot)
    {
        deferred.resolve(Box::new(move |env| {
            Err(js_error(&env, error.code(), &error))
        }));
    }
    Ok(promise)
}

/// Whether `pid` is a running process: false once it has exited, zombie or
/// reaped. Throws `ERR_EXIT_WATCH_INVALID_PID` or `ERR_EXIT_WATCH_PIDFD`.
#[napi]
pub fn pid_alive(env: Env, pid: i32) -> Result<bool> {
    core::pid_alive(pid).map_err(|error| js_error(&env, error.code(), &error))
}
