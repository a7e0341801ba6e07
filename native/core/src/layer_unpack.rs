//! Unpacks one image layer blob into an overlay "diff" directory in one
//! streaming pass. The TypeScript fallback (`src/image/unpack/`) implements
//! the same rules; a change here is a change there.
//!
//! - One pass: read the blob file, hash the compressed bytes (sha256 →
//!   compressedDigest), decompress (gzip incl. multi-member; zstd incl.
//!   multiple frames; none), hash the uncompressed bytes (→ diffId), parse
//!   tar (ustar, GNU long names/links `L`/`K`, PAX extended headers `x` and
//!   global `g` incl. `path`, `linkpath`, `size`, `uid`, `gid`, `mtime`,
//!   `SCHILY.xattr.*`), create entries. The tar is read to its
//!   end-of-archive and trailing bytes are hashed too, so diffId equals
//!   sha256 of the whole uncompressed stream. A stream that ends cleanly at
//!   a header boundary without the end-of-archive blocks is accepted, as by
//!   Go's `archive/tar` (and so containerd); an empty gzip or zstd blob is
//!   not.
//! - Entry types: regular files (`0`, `\0`, `7` contiguous), hard links
//!   (`1`, target must be an earlier entry of this layer inside destination),
//!   symlinks (`2`, the link TARGET may point anywhere — it is just data;
//!   never follow it), char/block devices (`3`/`4`, mknod), directories
//!   (`5`), FIFOs (`6`). Anything else (e.g. sparse `S`, volume `V`, PAX
//!   `GNU.sparse.*`, unknown) → `unsupported-entry` error. Directories may
//!   appear after their children, or not at all (create missing parents 0755
//!   root-owned). An entry naming the layer root (`./`) is skipped, as in
//!   containerd: the root's attributes belong to the snapshot.
//! - Metadata: ownership (lchown with uid/gid), mode incl.
//!   setuid/setgid/sticky (chmod after chown since chown clears setuid),
//!   mtime (nanosecond precision if PAX gives it; utimensat with
//!   AT_SYMLINK_NOFOLLOW; directory mtimes are set after their contents are
//!   written, i.e. at the end), xattrs from PAX `SCHILY.xattr.<name>`
//!   (lsetxattr; ones the filesystem refuses with ENOTSUP or EPERM are
//!   skipped, as in containerd; `trusted.overlay.*` is never taken from the
//!   archive). A hard link takes no attributes: the inode keeps its target's.
//! - Overlay whiteouts: an entry `dir/.wh.NAME` becomes a character device
//!   0:0 named `dir/NAME` (overlayfs whiteout), owned by the entry's uid/gid;
//!   `dir/.wh..wh..opq` sets xattr `trusted.overlay.opaque=y` on `dir`
//!   (creating `dir` if absent). Other `.wh..wh.*` names (aufs metadata like
//!   `.wh..wh.plnk`) are skipped.
//! - Confinement: paths are normalized by stripping a leading `./`; an entry
//!   whose path is absolute, or has a `..` component, → `path-escape`. No
//!   write goes through a symlink: every parent is resolved inside
//!   `destination` without following symlinks (see `tree`) — a layer that
//!   creates `a -> /etc` and then writes `a/passwd` → `path-escape`; a hard
//!   link whose target resolves outside or through a symlink → `path-escape`.
//!   When an entry replaces an existing entry at the same path (later entry
//!   wins, as in docker), it is unlinked first (a directory with its
//!   contents, unless the new entry is a directory too) and the new one is
//!   created exclusively.
//! - `max_uncompressed_bytes` exceeded → `too-large`, without inflating
//!   more than one byte past the limit.
//! - Malformed gzip/zstd/tar, truncated stream, bad header checksum, a
//!   parent that is not a directory, a hard link to a missing entry or a
//!   directory, a path longer than PATH_MAX → `corrupt`.
//! - On any error the destination may be partially populated; the caller
//!   deletes it. No fd or thread outlives the call.
//! - A cancelled token stops the unpack between entries and between chunks
//!   (`ERR_UNPACK_CANCELLED`), leaving the destination as after an error.
//!
//! Three threads per call: one that reads, hashes and decompresses the blob,
//! one that hashes the uncompressed stream (for a compressed blob), and the
//! caller's, which parses tar and writes, with bounded queues of large
//! chunks between them so that inflating and hashing overlap the writes.

mod decode;
mod hash;
mod stream;
mod tar;
mod tree;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;

use self::decode::QUEUE_DEPTH;
use self::stream::{BlockRead, Uncompressed};
use self::tar::{BLOCK, Entry, Header, Kind, Pax, Pending};
use self::tree::{Tree, lossy, show};
use crate::cancel::CancelToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "uncompressed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct UnpackRequest {
    /// The layer blob, already verified against its digest by the downloader.
    pub blob_path: PathBuf,
    /// An existing, empty directory that becomes the layer's diff directory.
    pub destination: PathBuf,
    pub compression: Compression,
    /// The most tar bytes the layer may inflate to.
    pub max_uncompressed_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackSummary {
    /// `sha256:<hex>` of the blob as stored.
    pub compressed_digest: String,
    /// `sha256:<hex>` of the uncompressed tar stream, trailing bytes included.
    pub diff_id: String,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Tar entries, extended headers merged into the entry they describe;
    /// whiteouts and skipped entries count.
    pub entries: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerUnpackError {
    #[error("entry {path:?} escapes the destination: {reason}")]
    PathEscape { path: String, reason: String },
    #[error("the layer inflates to more than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("corrupt layer: {0}")]
    Corrupt(String),
    #[error("entry {path:?} has tar type {typeflag}, which a layer cannot hold")]
    UnsupportedEntry { path: String, typeflag: String },
    #[error("{action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("starting a decompression or hashing thread")]
    Thread(#[source] io::Error),
    #[error("the layer unpack was cancelled")]
    Cancelled,
}

impl LayerUnpackError {
    /// Stable identifier for callers that branch on the kind of failure; the
    /// message may change, these may not.
    pub fn code(&self) -> &'static str {
        match self {
            LayerUnpackError::PathEscape { .. } => "ERR_UNPACK_PATH_ESCAPE",
            LayerUnpackError::TooLarge { .. } => "ERR_UNPACK_TOO_LARGE",
            LayerUnpackError::Corrupt(_) => "ERR_UNPACK_CORRUPT",
            LayerUnpackError::UnsupportedEntry { .. } => "ERR_UNPACK_UNSUPPORTED_ENTRY",
            LayerUnpackError::Io { .. } => "ERR_UNPACK_IO",
            LayerUnpackError::Thread(_) => "ERR_UNPACK_THREAD",
            LayerUnpackError::Cancelled => "ERR_UNPACK_CANCELLED",
        }
    }
}

/// Unpacks the layer, blocking the calling thread until it is done or
/// `cancel` is cancelled; it also starts (and always joins) a decompression
/// thread and, for a compressed blob, a hashing thread.
pub fn unpack_layer(
    request: &UnpackRequest,
    cancel: &CancelToken,
) -> Result<UnpackSummary, LayerUnpackError> {
    let tree = Tree::open(&request.destination)?;
    unpack_into(request, cancel, tree)
}

fn unpack_into(
    request: &UnpackRequest,
    cancel: &CancelToken,
    tree: Tree,
) -> Result<UnpackSummary, LayerUnpackError> {
    let blob = File::open(&request.blob_path).map_err(|source| LayerUnpackError::Io {
        action: "opening",
        path: request.blob_path.clone(),
        source,
    })?;
    let (to_tar, messages) = mpsc::sync_channel(QUEUE_DEPTH);
    let (recycle, recycled) = mpsc::channel();
    thread::scope(|scope| {
        let mut helpers = Vec::with_capacity(2);
        // A compressed blob's chunks pass through the hashing thread on the
        // way; an uncompressed blob's digest, taken as it is read, is its
        // diffID already.
        let to_decoded = if request.compression == Compression::None {
            to_tar
        } else {
            let (to_hash, decoded) = mpsc::sync_channel(QUEUE_DEPTH);
            helpers.push(
                thread::Builder::new()
                    .name("crion-hash".to_owned())
                    .spawn_scoped(scope, move || hash::run(&decoded, &to_tar))
                    .map_err(LayerUnpackError::Thread)?,
            );
            to_hash
        };
        helpers.push(
            thread::Builder::new()
                .name("crion-inflate".to_owned())
                .spawn_scoped(scope, move || {
                    decode::run(
                        blob,
                        &request.blob_path,
                        request.compression,
                        request.max_uncompressed_bytes,
                        cancel,
                        &to_decoded,
                        &recycled,
                    );
                })
                .map_err(LayerUnpackError::Thread)?,
        );
        // `extract` owns the receiving end and drops it when it returns,
        // which stops the threads that are still sending.
        let result = extract(Uncompressed::new(messages, recycle), cancel, tree);
        for helper in helpers {
            if let Err(panic) = helper.join() {
                std::panic::resume_unwind(panic);
            }
        }
        result
    })
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";

fn extract(
    mut stream: Uncompressed,
    cancel: &CancelToken,
    mut tree: Tree,
) -> Result<UnpackSummary, LayerUnpackError> {
    let mut block = [0u8; BLOCK];
    let mut pending = Pending::default();
    let mut global = Pax::default();
    let mut entries: u64 = 0;
    loop {
        if cancel.is_cancelled() {
            return Err(LayerUnpackError::Cancelled);
        }
        let header_offset = stream.offset;
        match stream.read_block(&mut block)? {
            BlockRead::Full => {}
            BlockRead::End if pending.is_empty() => break,
            BlockRead::End => return Err(dangling_extended_header()),
            BlockRead::Partial => return Err(truncated(header_offset)),
        }
        if tar::is_zero_block(&block) {
            end_of_archive(&mut stream, &mut block, header_offset)?;
            if !pending.is_empty() {
                return Err(dangling_extended_header());
            }
            break;
        }
        let header = tar::parse_header(&block).map_err(|problem| {
            LayerUnpackError::Corrupt(format!("tar header at byte {header_offset}: {problem}"))
        })?;
        match header {
            Header::Meta { kind, size } => {
                let payload = read_payload(&mut stream, size)?;
                pending
                    .record(kind, &payload, &mut global)
                    .map_err(|problem| {
                        LayerUnpackError::Corrupt(format!(
                            "extended header at byte {header_offset}: {problem}"
                        ))
                    })?;
            }
            Header::Entry(raw) => {
                let entry = tar::resolve_entry(raw, std::mem::take(&mut pending), &global)?;
                entries += 1;
                let content_end = stream.offset + entry.size;
                create(&mut stream, &mut tree, &entry)?;
                // What a skipped entry left of its content, and the padding.
                let rest = content_end - stream.offset + padding(entry.size);
                if !stream.skip(rest)? {
                    return Err(truncated(stream.offset));
                }
            }
        }
    }
    let stream = stream.finish()?;
    tree.finish()?;
    Ok(UnpackSummary {
        compressed_digest: stream.compressed.digest,
        diff_id: stream.diff_id,
        compressed_size: stream.compressed.size,
        uncompressed_size: stream.uncompressed_size,
        entries,
    })
}

/// Two zero blocks end the archive. One zero block at the very end is
/// accepted too; one followed by anything else is not, as in Go's reader.
fn end_of_archive(
    stream: &mut Uncompressed,
    block: &mut [u8; BLOCK],
    offset: u64,
) -> Result<(), LayerUnpackError> {
    match stream.read_block(block)? {
        BlockRead::End => Ok(()),
        BlockRead::Full if tar::is_zero_block(block) => Ok(()),
        BlockRead::Full => Err(LayerUnpackError::Corrupt(format!(
            "the zero block at byte {offset} is followed by data"
        ))),
        BlockRead::Partial => Err(truncated(stream.offset)),
    }
}

fn dangling_extended_header() -> LayerUnpackError {
    LayerUnpackError::Corrupt("the archive ends after an extended header".to_owned())
}

fn truncated(offset: u64) -> LayerUnpackError {
    LayerUnpackError::Corrupt(format!("the tar stream is truncated at byte {offset}"))
}

fn padding(size: u64) -> u64 {
    let block = BLOCK as u64;
    (block - size % block) % block
}

/// A PAX or GNU long-name payload, bounded by [`tar::MAX_META_SIZE`].
fn read_payload(stream: &mut Uncompressed, size: u64) -> Result<Vec<u8>, LayerUnpackError> {
    let mut payload = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut remaining = size;
    while remaining > 0 {
        let data = stream.next_slice(remaining)?;
        if data.is_empty() {
            return Err(truncated(stream.offset));
        }
        remaining -= data.len() as u64;
        payload.extend_from_slice(data);
    }
    if !stream.skip(padding(size))? {
        return Err(truncated(stream.offset));
    }
    Ok(payload)
}

/// Creates one entry; a regular file's content is read from `stream`.
fn create(
    stream: &mut Uncompressed,
    tree: &mut Tree,
    entry: &Entry,
) -> Result<(), LayerUnpackError> {
    let components =
        tar::normalize(&entry.path).map_err(|escape| LayerUnpackError::PathEscape {
            path: lossy(&entry.path),
            reason: escape.reason().to_owned(),
        })?;
    let Some((name, parents)) = components.split_last() else {
        return Ok(());
    };
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
        return whiteout(tree, entry, parents, hidden);
    }
    let slot = tree.slot(parents, name, &entry.path)?;
    match &entry.kind {
        Kind::File => {
            let file = tree.create_file(&slot)?;
            let mut remaining = entry.size;
            while remaining > 0 {
                let data = stream.next_slice(remaining)?;
                if data.is_empty() {
                    return Err(truncated(stream.offset));
                }
                remaining -= data.len() as u64;
                tree.write_all(&slot, &file, data)?;
            }
            tree.finish_file(&slot, &file, entry)
        }
        Kind::Directory => tree.create_directory(&slot, entry),
        Kind::Symlink { target } => tree.create_symlink(&slot, target, entry),
        Kind::HardLink { target } => tree.create_hard_link(&slot, target, entry),
        Kind::CharDevice { .. } | Kind::BlockDevice { .. } | Kind::Fifo => {
            tree.create_node(&slot, entry)
        }
    }
}

/// `.wh.<hidden>`: an overlay whiteout, an opaque marker, or aufs metadata.
fn whiteout(
    tree: &mut Tree,
    entry: &Entry,
    parents: &[&[u8]],
    hidden: &[u8],
) -> Result<(), LayerUnpackError> {
    if let Some(meta) = hidden.strip_prefix(WHITEOUT_PREFIX) {
        if meta == b".opq" {
            tree.make_opaque(parents, &entry.path)?;
        }
        return Ok(());
    }
    match hidden {
        b"" | b"." => Err(LayerUnpackError::Corrupt(format!(
            "entry {}: a whiteout must name an entry",
            show(&entry.path)
        ))),
        b".." => Err(LayerUnpackError::PathEscape {
            path: lossy(&entry.path),
            reason: "it whites out `..`".to_owned(),
        }),
        _ => {
            let slot = tree.slot(parents, hidden, &entry.path)?;
            tree.create_whiteout(&slot, entry)
        }
    }
}

/// `sha256:<lowercase hex>`, the form digests take in OCI descriptors.
fn digest_string(hash: impl AsRef<[u8]>) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::from("sha256:");
    for &byte in hash.as_ref() {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    text
}
