//! Host-level logic of crion. Everything here is plain Rust, tested with
//! `cargo test` and no Node; `crion-napi` only converts these types for JS.
#![deny(unsafe_code)]

pub mod cancel;
pub mod dir_lock;
pub mod exit_watch;
pub mod host_probe;
pub mod layer_unpack;
pub mod mountinfo;
pub mod namespaces;
pub mod netns_connect;
pub mod overlay;
pub mod pod_shm;
mod readiness;
pub mod terminal;
