//! `CancelToken`: made in JS, handed to a native call, cancelled from JS
//! (e.g. when an AbortSignal fires) while the call runs on its own thread.

use crion_core::cancel as core;
use napi_derive::napi;

/// Cancels the native work it was passed to. Cancelling twice, or after
/// the work finished, does nothing.
#[napi]
#[derive(Default)]
pub struct CancelToken {
    token: core::CancelToken,
}

#[napi]
impl CancelToken {
    #[napi(constructor)]
    pub fn new() -> Self {
        CancelToken::default()
    }

    #[napi]
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// A clone for the worker thread.
    pub(crate) fn token(&self) -> core::CancelToken {
        self.token.clone()
    }
}
