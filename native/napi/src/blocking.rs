//! `BlockingTask`: one crion-core call that blocks for about a millisecond
//! (a mount, a namespace thread's join), run on libuv's pool so the event
//! loop does not wait for it. Nothing run here may change per-thread state
//! such as namespaces: the pool's threads are Node's.

use std::error::Error as StdError;

use crion_core::{exit_watch, namespaces, netns_connect, overlay, pod_shm};
use napi::bindgen_prelude::*;

use crate::js_error;

/// A crion-core error, whose stable code becomes the JS error's `code`.
pub trait CodedError: StdError + Send + 'static {
    fn code(&self) -> &'static str;
}

impl CodedError for namespaces::PodNamespacesError {
    fn code(&self) -> &'static str {
        namespaces::PodNamespacesError::code(self)
    }
}

impl CodedError for overlay::OverlayError {
    fn code(&self) -> &'static str {
        overlay::OverlayError::code(self)
    }
}

impl CodedError for pod_shm::PodShmError {
    fn code(&self) -> &'static str {
        pod_shm::PodShmError::code(self)
    }
}

impl CodedError for exit_watch::ExitWatchError {
    fn code(&self) -> &'static str {
        exit_watch::ExitWatchError::code(self)
    }
}

impl CodedError for netns_connect::NetnsConnectError {
    fn code(&self) -> &'static str {
        netns_connect::NetnsConnectError::code(self)
    }
}

type Work<T> = Box<dyn FnOnce() -> std::result::Result<T, Box<dyn CodedError>> + Send>;

pub struct BlockingTask<T> {
    work: Option<Work<T>>,
}

impl<T> BlockingTask<T> {
    /// `work` returns JS-ready values: converting on the pool thread keeps
    /// `resolve`, on the JS thread, to a move.
    pub fn new<E: CodedError>(
        work: impl FnOnce() -> std::result::Result<T, E> + Send + 'static,
    ) -> AsyncTask<Self>
    where
        Self: Task,
    {
        AsyncTask::new(BlockingTask {
            work: Some(Box::new(move || {
                work().map_err(|error| Box::new(error) as _)
            })),
        })
    }
}

impl<T: ToNapiValue + TypeName + Send + 'static> Task for BlockingTask<T> {
    // The core error travels to `resolve` as a value: only there, on the JS
    // thread, can it become an Error object carrying its own `code`.
    type Output = std::result::Result<T, Box<dyn CodedError>>;
    type JsValue = T;

    fn compute(&mut self) -> Result<Self::Output> {
        let work = self
            .work
            .take()
            .ok_or_else(|| Error::new(Status::GenericFailure, "the task already ran"))?;
        Ok(work())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map_err(|error| {
            let code = error.code();
            js_error(&env, code, &*error as &dyn StdError)
        })
    }
}
