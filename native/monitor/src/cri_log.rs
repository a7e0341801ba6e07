//! The container log in the kubelet's CRI format:
//! `<RFC3339Nano> <stdout|stderr> <P|F> <content>\n`.
//!
//! Output is logged as it is read, the way conmon does: every complete line of
//! a read becomes an `F` record and a trailing fragment without its newline
//! becomes a `P` record at once, so a prompt or a progress bar shows up in
//! `kubectl logs -f` without waiting for a newline, and nothing is held in
//! memory between reads. Content longer than the line limit is cut into `P`
//! records, the last piece of a complete line being the `F` record. A fragment
//! still open when the container exits stays a `P` record: the kubelet appends
//! a newline to `F` content only, so `P` reproduces the bytes the container
//! wrote, and a final `F` would invent a newline it never printed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::timestamp::{RFC3339_NANO_LEN, Timestamp};

/// The kubelet's default, and what containerd and CRI-O use.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024;

/// Records are gathered here and written when it passes this size, so a read
/// full of short lines costs a few writes, and memory stays bounded whatever
/// the ratio of lines to bytes.
const FLUSH_AT: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CriLogError {
    #[error("opening the container log {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the container log {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("syncing the container log {path}")]
    Sync {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl CriLogError {
    pub fn code(&self) -> &'static str {
        match self {
            CriLogError::Open { .. } => "ERR_LOG_OPEN",
            CriLogError::Write { .. } => "ERR_LOG_WRITE",
            CriLogError::Sync { .. } => "ERR_LOG_SYNC",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static [u8] {
        match self {
            Stream::Stdout => b"stdout",
            Stream::Stderr => b"stderr",
        }
    }
}

pub struct CriLog {
    path: PathBuf,
    file: File,
    max_line: usize,
    pending: Vec<u8>,
}

impl CriLog {
    pub fn open(path: &Path, max_line: usize) -> Result<Self, CriLogError> {
        Ok(Self {
            path: path.to_owned(),
            file: open_log(path)?,
            max_line,
            pending: Vec::with_capacity(FLUSH_AT + max_line + 64),
        })
    }

    /// Appends the records for one read of a stream.
    pub fn write(&mut self, stream: Stream, data: &[u8], at: Timestamp) -> Result<(), CriLogError> {
        let timestamp = at.rfc3339_nano();
        let result = append_records(
            &mut self.pending,
            &timestamp,
            stream,
            data,
            self.max_line,
            |pending| {
                if pending.len() >= FLUSH_AT {
                    write_out(&mut self.file, pending)
                } else {
                    Ok(())
                }
            },
        )
        .and_then(|()| write_out(&mut self.file, &mut self.pending));
        result.map_err(|source| {
            // Whatever was not written is dropped: keeping it would let a
            // full disk grow the monitor without bound.
            self.pending.clear();
            CriLogError::Write {
                path: self.path.clone(),
                source,
            }
        })
    }

    /// Opens the log path anew (the kubelet has renamed the old file) and
    /// closes the old file only once the new one exists, so a failed reopen
    /// leaves output flowing to the old file rather than nowhere.
    pub fn reopen(&mut self) -> Result<(), CriLogError> {
        self.file = open_log(&self.path)?;
        Ok(())
    }

    pub fn sync(&self) -> Result<(), CriLogError> {
        self.file.sync_all().map_err(|source| CriLogError::Sync {
            path: self.path.clone(),
            source,
        })
    }
}

fn open_log(path: &Path) -> Result<File, CriLogError> {
    // Append, never truncate: a reopen without a rename before it keeps the
    // lines already written. 0600 as conmon creates them: logs can hold
    // secrets and only the kubelet (root) reads them.
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| CriLogError::Open {
            path: path.to_owned(),
            source,
        })
}

fn write_out(file: &mut File, pending: &mut Vec<u8>) -> io::Result<()> {
    let result = file.write_all(pending);
    pending.clear();
    result
}

/// Appends the CRI records of `data` to `out`, calling `flush` after each
/// record so the caller can bound `out`.
fn append_records(
    out: &mut Vec<u8>,
    timestamp: &[u8; RFC3339_NANO_LEN],
    stream: Stream,
    data: &[u8],
    max_line: usize,
    mut flush: impl FnMut(&mut Vec<u8>) -> io::Result<()>,
) -> io::Result<()> {
    let mut rest = data;
    while !rest.is_empty() {
        let (line, complete) = match rest.iter().position(|&byte| byte == b'\n') {
            Some(newline) => (&rest[..newline], true),
            None => (rest, false),
        };
        rest = &rest[(line.len() + usize::from(complete))..];

        let mut pieces = line.chunks(max_line.max(1)).peekable();
        if line.is_empty() {
            // An empty line is a record too: `F` with no content.
            push_record(out, timestamp, stream, b"F", b"");
            flush(out)?;
        }
        while let Some(piece) = pieces.next() {
            let tag: &[u8] = if complete && pieces.peek().is_none() {
                b"F"
            } else {
                b"P"
            };
            push_record(out, timestamp, stream, tag, piece);
            flush(out)?;
        }
    }
    Ok(())
}

fn push_record(
    out: &mut Vec<u8>,
    timestamp: &[u8; RFC3339_NANO_LEN],
    stream: Stream,
    tag: &[u8],
    content: &[u8],
) {
    out.extend_from_slice(timestamp);
    out.push(b' ');
    out.extend_from_slice(stream.name());
    out.push(b' ');
    out.extend_from_slice(tag);
    out.push(b' ');
    out.extend_from_slice(content);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &[u8; RFC3339_NANO_LEN] = b"2016-10-06T00:17:09.669794202Z";

    fn records(stream: Stream, data: &[u8], max_line: usize) -> String {
        let mut out = Vec::new();
        append_records(&mut out, TS, stream, data, max_line, |_| Ok(())).expect("no flush error");
        String::from_utf8(out).expect("test data is UTF-8")
    }

    #[test]
    fn complete_lines_are_f_records() {
        assert_eq!(
            records(Stream::Stdout, b"hello\nworld\n", DEFAULT_MAX_LINE),
            "2016-10-06T00:17:09.669794202Z stdout F hello\n\
             2016-10-06T00:17:09.669794202Z stdout F world\n"
        );
    }

    #[test]
    fn a_trailing_fragment_is_a_p_record() {
        assert_eq!(
            records(Stream::Stderr, b"done\nprompt> ", DEFAULT_MAX_LINE),
            "2016-10-06T00:17:09.669794202Z stderr F done\n\
             2016-10-06T00:17:09.669794202Z stderr P prompt> \n"
        );
    }

    #[test]
    fn an_empty_line_is_an_empty_f_record() {
        assert_eq!(
            records(Stream::Stdout, b"\n\n", DEFAULT_MAX_LINE),
            "2016-10-06T00:17:09.669794202Z stdout F \n\
             2016-10-06T00:17:09.669794202Z stdout F \n"
        );
    }

    #[test]
    fn long_lines_are_cut_into_p_records_ending_with_f() {
        assert_eq!(
            records(Stream::Stdout, b"abcdefg\nhij", 3),
            "2016-10-06T00:17:09.669794202Z stdout P abc\n\
             2016-10-06T00:17:09.669794202Z stdout P def\n\
             2016-10-06T00:17:09.669794202Z stdout F g\n\
             2016-10-06T00:17:09.669794202Z stdout P hij\n"
        );
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_one_f_record() {
        assert_eq!(
            records(Stream::Stdout, b"abc\nabcdef\n", 3),
            "2016-10-06T00:17:09.669794202Z stdout F abc\n\
             2016-10-06T00:17:09.669794202Z stdout P abc\n\
             2016-10-06T00:17:09.669794202Z stdout F def\n"
        );
    }

    #[test]
    fn carriage_returns_and_binary_bytes_pass_through() {
        let mut out = Vec::new();
        append_records(&mut out, TS, Stream::Stdout, b"a\r\x00b\n", 16, |_| Ok(()))
            .expect("no flush error");
        assert_eq!(
            out,
            b"2016-10-06T00:17:09.669794202Z stdout F a\r\x00b\n".to_vec()
        );
    }

    #[test]
    fn writes_append_and_reopen_follows_a_rename() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("0.log");
        let mut log = CriLog::open(&path, DEFAULT_MAX_LINE).expect("open");
        let at = Timestamp::from_unix(1_475_713_029, 669_794_202);
        log.write(Stream::Stdout, b"one\n", at).expect("write");

        let rotated = dir.path().join("0.log.20161006-001709");
        std::fs::rename(&path, &rotated).expect("rename");
        log.write(Stream::Stdout, b"two\n", at).expect("write");
        log.reopen().expect("reopen");
        log.write(Stream::Stderr, b"three\n", at).expect("write");
        log.sync().expect("sync");

        assert_eq!(
            std::fs::read_to_string(&rotated).expect("rotated file"),
            "2016-10-06T00:17:09.669794202Z stdout F one\n\
             2016-10-06T00:17:09.669794202Z stdout F two\n"
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("new file"),
            "2016-10-06T00:17:09.669794202Z stderr F three\n"
        );
    }

    #[test]
    fn many_short_lines_are_flushed_in_bounded_pieces() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("0.log");
        let mut log = CriLog::open(&path, DEFAULT_MAX_LINE).expect("open");
        let data = b"\n".repeat(10_000);
        log.write(Stream::Stdout, &data, Timestamp::now())
            .expect("write");
        assert!(log.pending.capacity() < FLUSH_AT + DEFAULT_MAX_LINE + 64 + 1);
        let text = std::fs::read_to_string(&path).expect("log");
        assert_eq!(text.lines().count(), 10_000);
    }

    #[test]
    fn open_errors_name_the_path() {
        let error = match CriLog::open(Path::new("/nonexistent-dir/0.log"), DEFAULT_MAX_LINE) {
            Ok(_) => panic!("opening in a missing directory succeeded"),
            Err(error) => error,
        };
        assert_eq!(error.code(), "ERR_LOG_OPEN");
        assert!(error.to_string().contains("/nonexistent-dir/0.log"));
    }
}
