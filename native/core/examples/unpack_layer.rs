//! Times `unpack_layer` on a real blob, for comparing against `tar x` and the
//! TypeScript unpacker:
//!
//! ```sh
//! cargo run --release -p crion-core --example unpack_layer -- layer.tar.gz gzip /tmp/out
//! ```
//!
//! The destination must not exist; it is created, and left for inspection.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use crion_core::cancel::CancelToken;
use crion_core::layer_unpack::{Compression, UnpackRequest, unpack_layer};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [blob, compression, destination] = args.as_slice() else {
        eprintln!("usage: unpack_layer <blob> <gzip|zstd|none> <new destination directory>");
        return ExitCode::FAILURE;
    };
    let compression = match compression.as_str() {
        "gzip" => Compression::Gzip,
        "zstd" => Compression::Zstd,
        "none" => Compression::None,
        other => {
            eprintln!("unknown compression {other:?}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = std::fs::create_dir(destination) {
        eprintln!("creating {destination}: {error}");
        return ExitCode::FAILURE;
    }
    let request = UnpackRequest {
        blob_path: PathBuf::from(blob),
        destination: PathBuf::from(destination),
        compression,
        max_uncompressed_bytes: u64::MAX,
    };
    let started = Instant::now();
    match unpack_layer(&request, &CancelToken::new()) {
        Ok(summary) => {
            let seconds = started.elapsed().as_secs_f64();
            println!("{summary:#?}");
            println!(
                "{seconds:.2} s, {:.0} MB/s uncompressed, {:.0} MB/s compressed",
                summary.uncompressed_size as f64 / 1e6 / seconds,
                summary.compressed_size as f64 / 1e6 / seconds
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{} ({})", error, error.code());
            ExitCode::FAILURE
        }
    }
}
