//! Attach: the framing of a control connection after `attach`, and the
//! bounded queue that holds one client's output until it reads it.
//!
//! Every frame is `[kind u8][length u32 big-endian][payload]`.
//!
//! Monitor → client:
//!   1 stdout   container output (all of it, in terminal mode)
//!   2 stderr   container output
//!   3 exit     the exit record, as written to the exit file (JSON); last frame
//!   4 error    a UTF-8 message about a frame the monitor could not honour
//!
//! Client → monitor:
//!   16 stdin         bytes for the container's stdin (any length)
//!   17 close-stdin   empty: close the container's stdin once what came before is written
//!   18 resize        4 bytes, rows u16 then columns u16, big-endian
//!
//! The decoder streams stdin payloads through as they arrive, so a client
//! costs a few bytes of decoder state whatever the frame lengths it sends.

use std::collections::VecDeque;
use std::os::fd::AsFd;

use rustix::io::Errno;
use rustix::net::{SendFlags, send};

use crate::cri_log::Stream;

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;
pub const ERROR: u8 = 4;

pub const STDIN: u8 = 16;
pub const CLOSE_STDIN: u8 = 17;
pub const RESIZE: u8 = 18;

const HEADER: usize = 5;

/// Output held for one client that does not keep up; past it the oldest
/// frames are dropped for that client (the log keeps everything).
pub const OUTPUT_LIMIT: usize = 256 * 1024;

pub fn output_kind(stream: Stream) -> u8 {
    match stream {
        Stream::Stdout => STDOUT,
        Stream::Stderr => STDERR,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("a frame of kind {kind} must carry {expected} bytes, not {length}")]
    Length {
        kind: u8,
        expected: u32,
        length: u32,
    },
}

/// What a client asked for, as its frames are decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// A piece of a stdin frame's payload; one frame may come in several.
    Stdin(&'a [u8]),
    CloseStdin,
    Resize {
        rows: u16,
        columns: u16,
    },
}

#[derive(Default)]
pub struct FrameDecoder {
    header: [u8; HEADER],
    header_len: usize,
    /// Payload bytes of the current frame still to come.
    remaining: u32,
    /// A resize frame's payload, gathered until whole.
    small: [u8; 4],
    small_len: usize,
}

impl FrameDecoder {
    /// Decodes `input`, calling `each` for every frame or stdin piece in it.
    /// After an error the connection's byte stream cannot be trusted: the
    /// caller drops the client.
    pub fn feed<'a>(
        &mut self,
        mut input: &'a [u8],
        mut each: impl FnMut(ClientFrame<'a>),
    ) -> Result<(), FrameError> {
        while !input.is_empty() {
            if self.header_len < HEADER {
                let take = (HEADER - self.header_len).min(input.len());
                self.header[self.header_len..self.header_len + take]
                    .copy_from_slice(&input[..take]);
                self.header_len += take;
                input = &input[take..];
                if self.header_len < HEADER {
                    return Ok(());
                }
                let kind = self.header[0];
                let length = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]);
                let expected = match kind {
                    STDIN => None,
                    CLOSE_STDIN => Some(0),
                    RESIZE => Some(4),
                    other => return Err(FrameError::UnknownKind(other)),
                };
                if let Some(expected) = expected.filter(|&expected| expected != length) {
                    return Err(FrameError::Length {
                        kind,
                        expected,
                        length,
                    });
                }
                self.remaining = length;
                self.small_len = 0;
            }
            let take = (self.remaining as usize).min(input.len());
            let (payload, rest) = input.split_at(take);
            input = rest;
            self.remaining -= take as u32;
            match self.header[0] {
                STDIN if !payload.is_empty() => each(ClientFrame::Stdin(payload)),
                RESIZE => {
                    self.small[self.small_len..self.small_len + take].copy_from_slice(payload);
                    self.small_len += take;
                }
                _ => {}
            }
            if self.remaining == 0 {
                self.header_len = 0;
                match self.header[0] {
                    CLOSE_STDIN => each(ClientFrame::CloseStdin),
                    RESIZE => each(ClientFrame::Resize {
                        rows: u16::from_be_bytes([self.small[0], self.small[1]]),
                        columns: u16::from_be_bytes([self.small[2], self.small[3]]),
                    }),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Frames waiting for one client. Whole frames are dropped from the front
/// when a new one does not fit, so the client always sees a valid stream,
/// with gaps. The frame being sent sits in `head` so that dropping never
/// cuts it. Memory grows only while the client lags, and is given back when
/// it catches up.
pub struct FrameQueue {
    limit: usize,
    head: Vec<u8>,
    head_sent: usize,
    queue: VecDeque<u8>,
    dropped: u64,
}

impl FrameQueue {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            head: Vec::new(),
            head_sent: 0,
            queue: VecDeque::new(),
            dropped: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.head_sent == self.head.len() && self.queue.is_empty()
    }

    /// Bytes held, the frame being sent included.
    pub fn len(&self) -> usize {
        self.head.len() - self.head_sent + self.queue.len()
    }

    /// Output bytes (payload) dropped so far because the client lagged.
    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn push(&mut self, kind: u8, payload: &[u8]) {
        let frame = HEADER + payload.len();
        if frame > self.limit {
            self.dropped += payload.len() as u64;
            return;
        }
        if self.is_empty() {
            // The common case, a client that keeps up: the frame goes
            // straight to the head, and the queue is never allocated.
            self.head.clear();
            self.head_sent = 0;
            self.head.push(kind);
            self.head
                .extend_from_slice(&(payload.len() as u32).to_be_bytes());
            self.head.extend_from_slice(payload);
            return;
        }
        while self.len() + frame > self.limit {
            if self.head_sent == 0 && !self.head.is_empty() {
                // Queued but not started: as droppable as any other frame.
                self.dropped += (self.head.len() - HEADER) as u64;
                self.head.clear();
                continue;
            }
            if self.queue.len() < HEADER {
                break;
            }
            let length =
                u32::from_be_bytes([self.queue[1], self.queue[2], self.queue[3], self.queue[4]])
                    as usize;
            self.queue.drain(..(HEADER + length).min(self.queue.len()));
            self.dropped += length as u64;
        }
        if self.len() + frame > self.limit {
            // Only the frame being sent is left, and it cannot be cut.
            self.dropped += payload.len() as u64;
            return;
        }
        // Taken at its full size the first time the client lags, in one
        // allocation: growing by doubling would leave the smaller blocks
        // behind in the heap, and VecDeque alone would round up past the
        // limit. Pages are only touched as output fills it.
        if self.queue.len() + frame > self.queue.capacity() {
            self.queue.reserve_exact(self.limit - self.queue.len());
        }
        self.queue.push_back(kind);
        // Frames are at most `limit` bytes, far below u32::MAX.
        self.queue
            .extend((payload.len() as u32).to_be_bytes().iter().copied());
        self.queue.extend(payload.iter().copied());
    }

    /// Sends what the socket takes without waiting. `Ok` when everything is
    /// sent or the socket is full; an error means the client is gone.
    pub fn send_to(&mut self, fd: impl AsFd) -> Result<(), Errno> {
        loop {
            if self.head_sent == self.head.len() {
                self.head.clear();
                self.head_sent = 0;
                if self.queue.len() < HEADER {
                    self.give_back_memory();
                    return Ok(());
                }
                let length = u32::from_be_bytes([
                    self.queue[1],
                    self.queue[2],
                    self.queue[3],
                    self.queue[4],
                ]) as usize;
                let end = (HEADER + length).min(self.queue.len());
                self.head.extend(self.queue.drain(..end));
            }
            match send(
                &fd,
                &self.head[self.head_sent..],
                SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
            ) {
                Ok(sent) => self.head_sent += sent,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Ok(()),
                Err(errno) => return Err(errno),
            }
        }
    }

    fn give_back_memory(&mut self) {
        const KEEP: usize = 32 * 1024;
        if self.queue.capacity() > KEEP {
            self.queue = VecDeque::new();
        }
        if self.head.capacity() > KEEP {
            self.head = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    /// Decodes `input` fed in pieces of `step` bytes, stdin pieces joined.
    fn decode(input: &[u8], step: usize) -> (Vec<String>, Result<(), FrameError>) {
        let mut decoder = FrameDecoder::default();
        let mut seen: Vec<String> = Vec::new();
        let mut stdin = Vec::new();
        for piece in input.chunks(step) {
            let result = decoder.feed(piece, |frame| match frame {
                ClientFrame::Stdin(data) => stdin.extend_from_slice(data),
                other => {
                    if !stdin.is_empty() {
                        seen.push(format!("stdin {}", String::from_utf8_lossy(&stdin)));
                        stdin.clear();
                    }
                    seen.push(format!("{other:?}"));
                }
            });
            if result.is_err() {
                return (seen, result);
            }
        }
        if !stdin.is_empty() {
            seen.push(format!("stdin {}", String::from_utf8_lossy(&stdin)));
        }
        (seen, Ok(()))
    }

    #[test]
    fn decodes_frames_whatever_the_pieces_they_arrive_in() {
        let mut input = frame(STDIN, b"hello ");
        input.extend(frame(STDIN, b""));
        input.extend(frame(STDIN, b"world"));
        input.extend(frame(RESIZE, &[0, 24, 0, 80]));
        input.extend(frame(CLOSE_STDIN, b""));
        input.extend(frame(STDIN, b"late"));
        let expected = vec![
            "stdin hello world".to_owned(),
            "Resize { rows: 24, columns: 80 }".to_owned(),
            "CloseStdin".to_owned(),
            "stdin late".to_owned(),
        ];
        for step in [1, 2, 3, 5, 7, input.len()] {
            assert_eq!(
                decode(&input, step),
                (expected.clone(), Ok(())),
                "step {step}"
            );
        }
    }

    #[test]
    fn refuses_unknown_kinds_and_wrong_lengths() {
        assert_eq!(
            decode(&frame(99, b""), 1).1,
            Err(FrameError::UnknownKind(99))
        );
        assert_eq!(
            decode(&frame(RESIZE, &[0, 24]), 64).1,
            Err(FrameError::Length {
                kind: RESIZE,
                expected: 4,
                length: 2
            })
        );
        assert!(decode(&frame(CLOSE_STDIN, b"x"), 64).1.is_err());
    }

    /// Reads what the peer has sent so far, without waiting.
    fn read_available(stream: &mut UnixStream, bytes: &mut Vec<u8>) {
        stream.set_nonblocking(true).expect("nonblocking");
        let _ = stream.read_to_end(bytes);
    }

    fn split_frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let length = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            frames.push((rest[0], rest[HEADER..HEADER + length].to_vec()));
            rest = &rest[HEADER + length..];
        }
        frames
    }

    #[test]
    fn a_full_queue_drops_its_oldest_whole_frames() {
        let mut queue = FrameQueue::new(3 * (HEADER + 10));
        for index in 0..5u8 {
            queue.push(STDOUT, &[b'0' + index; 10]);
        }
        assert_eq!(queue.len(), 3 * (HEADER + 10));
        assert_eq!(queue.dropped(), 20);
        let (mine, mut theirs) = UnixStream::pair().expect("pair");
        queue.send_to(&mine).expect("send");
        assert!(queue.is_empty());
        let mut bytes = Vec::new();
        read_available(&mut theirs, &mut bytes);
        let payloads: Vec<Vec<u8>> = split_frames(&bytes).into_iter().map(|f| f.1).collect();
        assert_eq!(
            payloads,
            vec![vec![b'2'; 10], vec![b'3'; 10], vec![b'4'; 10]]
        );
    }

    #[test]
    fn the_frame_being_sent_is_never_cut() {
        let (mine, mut theirs) = UnixStream::pair().expect("pair");
        // A frame bigger than the socket takes at once.
        let big = vec![b'x'; 1024 * 1024];
        let mut queue = FrameQueue::new(big.len() + 100);
        queue.push(STDERR, &big);
        queue.send_to(&mine).expect("send");
        assert!(!queue.is_empty(), "the socket took a whole MiB at once");
        // Only the head is queued and it cannot be cut: a frame that does
        // not fit beside it is dropped, a small one still fits.
        queue.push(STDOUT, &vec![b'y'; 1024 * 1024]);
        queue.push(STDOUT, b"last");
        let mut bytes = Vec::new();
        while !queue.is_empty() {
            read_available(&mut theirs, &mut bytes);
            queue.send_to(&mine).expect("send");
        }
        read_available(&mut theirs, &mut bytes);
        let frames = split_frames(&bytes);
        assert_eq!(
            frames.first().map(|f| (f.0, f.1.len())),
            Some((STDERR, big.len()))
        );
        assert_eq!(frames.last(), Some(&(STDOUT, b"last".to_vec())));
        assert!(queue.dropped() > 0);
    }

    #[test]
    fn a_client_that_keeps_up_costs_no_queue() {
        let (mine, mut theirs) = UnixStream::pair().expect("pair");
        let mut queue = FrameQueue::new(OUTPUT_LIMIT);
        let mut bytes = Vec::new();
        for _ in 0..100 {
            queue.push(STDOUT, &[b'x'; 1000]);
            queue.send_to(&mine).expect("send");
            read_available(&mut theirs, &mut bytes);
        }
        assert!(queue.is_empty());
        assert_eq!(queue.queue.capacity(), 0);
        assert_eq!(split_frames(&bytes).len(), 100);
    }

    #[test]
    fn a_gone_client_is_an_error() {
        let (mine, theirs) = UnixStream::pair().expect("pair");
        drop(theirs);
        let mut queue = FrameQueue::new(OUTPUT_LIMIT);
        queue.push(STDOUT, b"x");
        assert!(queue.send_to(&mine).is_err());
    }
}
