//! The decompression thread: reads the blob, hashes the compressed bytes and
//! inflates them into large chunks for the hashing thread (`hash`), which
//! passes them on to the tar thread, so that inflating and both digests
//! overlap the filesystem writes.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, SyncSender};

use flate2::bufread::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::{Compression, LayerUnpackError, digest_string};
use crate::cancel::CancelToken;

/// Uncompressed bytes per message. Large enough that channel hand-offs and
/// hashing calls cost nothing next to the data, small enough that a chunk
/// stays in the shared cache between the two threads.
pub(super) const CHUNK_SIZE: usize = 512 * 1024;

/// Chunks in flight between two threads. Bounds memory at about
/// (2 × QUEUE_DEPTH + 3) × CHUNK_SIZE per unpack.
pub(super) const QUEUE_DEPTH: usize = 4;

/// Compressed bytes per read(2) of the blob.
const READ_BUFFER_SIZE: usize = 256 * 1024;

/// What the decompression thread sends, in stream order: data, then exactly
/// one `End` or `Failed` unless the tar thread hung up first.
pub(super) enum Message {
    /// `buffer[..len]` is the next part of the uncompressed stream; the tar
    /// thread sends `buffer` back for reuse.
    Data {
        buffer: Vec<u8>,
        len: usize,
    },
    End {
        compressed: CompressedInfo,
        /// The uncompressed stream's digest: the blob's own when it is not
        /// compressed, else filled in by the hashing thread.
        diff_id: Option<String>,
    },
    Failed(LayerUnpackError),
}

#[derive(Debug)]
pub(super) struct CompressedInfo {
    pub digest: String,
    pub size: u64,
}

/// Runs the decompression to its end, or until the tar thread hangs up.
pub(super) fn run(
    blob: File,
    blob_path: &Path,
    compression: Compression,
    limit: u64,
    cancel: &CancelToken,
    sender: &SyncSender<Message>,
    recycled: &Receiver<Vec<u8>>,
) {
    let message = match decode(
        blob,
        blob_path,
        compression,
        limit,
        cancel,
        sender,
        recycled,
    ) {
        Ok(Some(compressed)) => Message::End {
            diff_id: (compression == Compression::None).then(|| compressed.digest.clone()),
            compressed,
        },
        Ok(None) => return,
        Err(error) => Message::Failed(error),
    };
    // The tar thread may have stopped on an error of its own meanwhile.
    let _ = sender.send(message);
}

/// State the blob reader shares with this thread while a decoder owns it.
struct BlobState {
    hasher: Sha256,
    size: u64,
    /// A failed read(2) of the blob, kept apart from the decoder's errors
    /// so that a disk error is not reported as a corrupt layer.
    read_error: Option<io::Error>,
}

struct BlobReader {
    file: File,
    state: Rc<RefCell<BlobState>>,
}

impl Read for BlobReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let mut state = self.state.borrow_mut();
        match self.file.read(buffer) {
            Ok(read) => {
                state.hasher.update(&buffer[..read]);
                state.size += read as u64;
                Ok(read)
            }
            Err(error) => {
                let kind = error.kind();
                state.read_error = Some(error);
                Err(io::Error::new(kind, "reading the blob failed"))
            }
        }
    }
}

enum Outcome {
    Done,
    /// The tar thread stopped reading: it has an error of its own to report.
    Abandoned,
}

enum PumpError {
    Decode(io::Error),
    TooLarge,
    Cancelled,
}

fn decode(
    blob: File,
    blob_path: &Path,
    compression: Compression,
    limit: u64,
    cancel: &CancelToken,
    sender: &SyncSender<Message>,
    recycled: &Receiver<Vec<u8>>,
) -> Result<Option<CompressedInfo>, LayerUnpackError> {
    let state = Rc::new(RefCell::new(BlobState {
        hasher: Sha256::new(),
        size: 0,
        read_error: None,
    }));
    let input = BufReader::with_capacity(
        READ_BUFFER_SIZE,
        BlobReader {
            file: blob,
            state: Rc::clone(&state),
        },
    );
    let mut decoder: Box<dyn Read> = match compression {
        // Members are concatenated, as `pigz` and appending writers emit.
        Compression::Gzip => Box::new(MultiGzDecoder::new(input)),
        // Frames are concatenated too; the decoder reads past the first.
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(
            |source| LayerUnpackError::Io {
                action: "creating a zstd decoder for",
                path: blob_path.to_owned(),
                source,
            },
        )?),
        Compression::None => Box::new(input),
    };
    let outcome = pump(&mut *decoder, limit, cancel, sender, recycled);
    drop(decoder);
    let mut state = state.borrow_mut();
    if let Some(source) = state.read_error.take() {
        return Err(LayerUnpackError::Io {
            action: "reading",
            path: blob_path.to_owned(),
            source,
        });
    }
    match outcome {
        Ok(Outcome::Abandoned) => Ok(None),
        Err(PumpError::TooLarge) => Err(LayerUnpackError::TooLarge { limit }),
        Err(PumpError::Cancelled) => Err(LayerUnpackError::Cancelled),
        Err(PumpError::Decode(error)) => Err(LayerUnpackError::Corrupt(format!(
            "{} stream: {error}",
            compression.name()
        ))),
        Ok(Outcome::Done) if compression != Compression::None && state.size == 0 => Err(
            LayerUnpackError::Corrupt(format!("empty {} stream", compression.name())),
        ),
        Ok(Outcome::Done) => Ok(Some(CompressedInfo {
            digest: digest_string(std::mem::take(&mut state.hasher).finalize()),
            size: state.size,
        })),
    }
}

/// Moves the decoder's output into chunks until it ends. Never asks for more
/// than one byte past `limit`, so a bomb is not inflated beyond it.
fn pump(
    decoder: &mut dyn Read,
    limit: u64,
    cancel: &CancelToken,
    sender: &SyncSender<Message>,
    recycled: &Receiver<Vec<u8>>,
) -> Result<Outcome, PumpError> {
    let mut total: u64 = 0;
    loop {
        if cancel.is_cancelled() {
            return Err(PumpError::Cancelled);
        }
        let mut buffer = recycled.try_recv().unwrap_or_else(|_| vec![0; CHUNK_SIZE]);
        let mut len = 0;
        let mut ended = false;
        while len < CHUNK_SIZE {
            let allowed = limit.saturating_sub(total).saturating_add(1);
            let want = usize::try_from(allowed)
                .map_or(CHUNK_SIZE - len, |allowed| allowed.min(CHUNK_SIZE - len));
            let read = match decoder.read(&mut buffer[len..len + want]) {
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(PumpError::Decode(error)),
            };
            if read == 0 {
                ended = true;
                break;
            }
            len += read;
            total += read as u64;
            if total > limit {
                return Err(PumpError::TooLarge);
            }
        }
        if len > 0 && sender.send(Message::Data { buffer, len }).is_err() {
            return Ok(Outcome::Abandoned);
        }
        if ended {
            return Ok(Outcome::Done);
        }
    }
}
