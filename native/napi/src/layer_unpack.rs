//! `unpackLayer`. A layer unpack reads and writes for seconds, so each call
//! runs on a thread of its own (plus the decompression and hashing threads
//! crion-core starts) rather than on libuv's four-thread pool, where it
//! would hold up Node's `fs`, `dns` and `zlib` work for as long as it runs. The promise is
//! settled through a threadsafe function (`JsDeferred`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;

use crion_core::layer_unpack as core;
use napi::bindgen_prelude::*;
use napi::{Env, JsDeferred};
use napi_derive::napi;

use crate::cancel::CancelToken;
use crate::js_error;

#[napi(string_enum)]
pub enum LayerCompression {
    #[napi(value = "gzip")]
    Gzip,
    #[napi(value = "zstd")]
    Zstd,
    #[napi(value = "none")]
    None,
}

#[napi(object)]
pub struct LayerUnpackRequest {
    /// The compressed layer blob, already verified against its digest.
    pub blob_path: String,
    /// An existing, empty directory; becomes the layer's overlay diff directory.
    pub destination: String,
    pub compression: LayerCompression,
    /// Refuse the layer (`ERR_UNPACK_TOO_LARGE`) past this many tar bytes: a
    /// non-negative integer, exact up to 2^53.
    pub max_uncompressed_bytes: i64,
}

#[napi(object)]
pub struct LayerUnpackResult {
    /// `sha256:<hex>` of the blob.
    pub compressed_digest: String,
    /// `sha256:<hex>` of the whole uncompressed tar stream.
    pub diff_id: String,
    pub compressed_size: i64,
    pub uncompressed_size: i64,
    /// Tar entries, whiteouts included; PAX and GNU long-name headers are
    /// part of the entry they describe.
    pub entries: i64,
}

impl From<core::UnpackSummary> for LayerUnpackResult {
    fn from(summary: core::UnpackSummary) -> Self {
        LayerUnpackResult {
            compressed_digest: summary.compressed_digest,
            diff_id: summary.diff_id,
            compressed_size: to_js_size(summary.compressed_size),
            uncompressed_size: to_js_size(summary.uncompressed_size),
            entries: to_js_size(summary.entries),
        }
    }
}

/// Every count here is far below 2^63; saturating keeps the conversion total.
fn to_js_size(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

type Resolver = Box<dyn FnOnce(Env) -> Result<LayerUnpackResult> + Send>;

/// Decompresses and unpacks a layer blob into `destination` in one pass, on
/// a thread of its own. Rejects with `code` set: `ERR_UNPACK_PATH_ESCAPE`,
/// `ERR_UNPACK_TOO_LARGE`, `ERR_UNPACK_CORRUPT`,
/// `ERR_UNPACK_UNSUPPORTED_ENTRY` for a bad layer, `ERR_UNPACK_IO` (the
/// message names the path) or `ERR_UNPACK_THREAD` for a host failure, and
/// `ERR_UNPACK_CANCELLED` once `cancel` is cancelled.
#[napi(ts_return_type = "Promise<LayerUnpackResult>")]
pub fn unpack_layer<'env>(
    env: &'env Env,
    request: LayerUnpackRequest,
    cancel: Option<&CancelToken>,
) -> Result<Object<'env>> {
    let cancel = cancel.map(CancelToken::token).unwrap_or_default();
    let request = core::UnpackRequest {
        blob_path: PathBuf::from(request.blob_path),
        destination: PathBuf::from(request.destination),
        compression: match request.compression {
            LayerCompression::Gzip => core::Compression::Gzip,
            LayerCompression::Zstd => core::Compression::Zstd,
            LayerCompression::None => core::Compression::None,
        },
        max_uncompressed_bytes: u64::try_from(request.max_uncompressed_bytes).map_err(|_| {
            Error::new(
                Status::InvalidArg,
                "maxUncompressedBytes must not be negative",
            )
        })?,
    };
    // The thread starts before the promise exists: a deferred that is never
    // settled would keep Node's event loop alive forever, so none is made
    // unless a thread is there to settle it.
    let (hand_over, receive) = mpsc::sync_channel::<JsDeferred<LayerUnpackResult, Resolver>>(1);
    thread::Builder::new()
        .name("crion-unpack".to_owned())
        .spawn(move || {
            // No deferred arrives only if making it failed on the JS thread,
            // which then throws.
            let Ok(deferred) = receive.recv() else {
                return;
            };
            let outcome = catch_unwind(AssertUnwindSafe(|| core::unpack_layer(&request, &cancel)));
            deferred.resolve(Box::new(move |env| match outcome {
                Ok(Ok(summary)) => Ok(summary.into()),
                Ok(Err(error)) => Err(js_error(&env, error.code(), &error)),
                Err(panic) => Err(js_error(&env, "ERR_UNPACK_PANIC", &PanicError::from(panic))),
            }));
        })
        .map_err(|error| {
            Error::new(
                Status::GenericFailure,
                format!("starting the layer unpack thread: {error}"),
            )
        })?;
    let (deferred, promise) = env.create_deferred::<LayerUnpackResult, Resolver>()?;
    // The thread waits for this before doing anything, so it is still there.
    if let Err(mpsc::SendError(deferred)) = hand_over.send(deferred) {
        deferred.reject(Error::new(
            Status::GenericFailure,
            "the layer unpack thread exited before it started",
        ));
    }
    Ok(promise)
}

/// A panic in crion-core is a bug; it still settles the promise instead of
/// leaving it pending forever.
#[derive(Debug, thiserror::Error)]
#[error("the layer unpack panicked: {0}")]
struct PanicError(String);

impl From<Box<dyn std::any::Any + Send>> for PanicError {
    fn from(payload: Box<dyn std::any::Any + Send>) -> Self {
        let message = match payload.downcast::<String>() {
            Ok(message) => *message,
            Err(payload) => payload
                .downcast_ref::<&str>()
                .map_or_else(|| "no message".to_owned(), |message| (*message).to_owned()),
        };
        PanicError(message)
    }
}
