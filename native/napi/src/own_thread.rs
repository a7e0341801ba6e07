//! `settle_on_own_thread`: one crion-core call that may wait for seconds (a
//! console socket waiting for runc, a connect waiting for a pod's server),
//! run on a thread started for it rather than on libuv's four-thread pool,
//! which Node's `fs`, `dns` and `zlib` share and which a few slow port
//! forwards would otherwise fill. The pending promise keeps the event loop
//! alive until the call returns.

use napi::bindgen_prelude::*;
use napi::{Env, JsDeferred};

use crate::blocking::CodedError;
use crate::js_error;

type Resolver<T> = Box<dyn FnOnce(Env) -> Result<T> + Send>;

/// Runs `work` on a new thread named `name` and settles the returned
/// promise with its outcome: the value, or an Error whose `code` is the
/// core error's. `work` returns JS-ready values, so nothing is converted
/// on the JS thread but the final value.
pub fn settle_on_own_thread<'env, T, E>(
    env: &'env Env,
    name: &str,
    work: impl FnOnce() -> std::result::Result<T, E> + Send + 'static,
) -> Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    E: CodedError,
{
    let (deferred, promise) = env.create_deferred::<T, Resolver<T>>()?;
    let settle = move |deferred: JsDeferred<T, Resolver<T>>| match work() {
        Ok(value) => deferred.resolve(Box::new(move |_| Ok(value))),
        Err(error) => deferred.resolve(Box::new(move |env| {
            Err(js_error(&env, error.code(), &error))
        })),
    };
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || settle(deferred))
        .map_err(|error| {
            Error::new(
                Status::GenericFailure,
                format!("starting the thread {name}: {error}"),
            )
        })?;
    Ok(promise)
}
