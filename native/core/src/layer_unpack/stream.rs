//! The tar thread's view of the uncompressed stream: chunks from the
//! decompression thread, already hashed, read as blocks and slices without
//! copying file content.

use std::sync::mpsc::{Receiver, Sender};

use super::LayerUnpackError;
use super::decode::{CompressedInfo, Message};
use super::tar::BLOCK;

pub(super) struct Uncompressed {
    messages: Receiver<Message>,
    recycle: Sender<Vec<u8>>,
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes handed out so far: where the next read starts, for messages.
    pub offset: u64,
    received: u64,
    finished: Option<(CompressedInfo, Option<String>)>,
}

/// How much of a 512-byte block the stream still had.
pub(super) enum BlockRead {
    Full,
    /// The stream ended exactly at a block boundary.
    End,
    /// The stream ended inside the block.
    Partial,
}

/// The whole stream's digests and sizes, once it is read to its end.
pub(super) struct StreamSummary {
    pub diff_id: String,
    pub uncompressed_size: u64,
    pub compressed: CompressedInfo,
}

impl Uncompressed {
    pub fn new(messages: Receiver<Message>, recycle: Sender<Vec<u8>>) -> Self {
        Uncompressed {
            messages,
            recycle,
            buffer: Vec::new(),
            start: 0,
            end: 0,
            offset: 0,
            received: 0,
            finished: None,
        }
    }

    /// Makes unread bytes available; false once the stream has ended.
    fn fill(&mut self) -> Result<bool, LayerUnpackError> {
        while self.start == self.end {
            if self.finished.is_some() {
                return Ok(false);
            }
            self.receive()?;
        }
        Ok(true)
    }

    /// Takes the next message: a chunk becomes the unread bytes, `End` marks
    /// the end of the stream.
    fn receive(&mut self) -> Result<(), LayerUnpackError> {
        match self.messages.recv() {
            Ok(Message::Data { buffer, len }) => {
                self.received += len as u64;
                let used = std::mem::replace(&mut self.buffer, buffer);
                if !used.is_empty() {
                    // Fails only once the decompression thread is done.
                    let _ = self.recycle.send(used);
                }
                self.start = 0;
                self.end = len;
                Ok(())
            }
            Ok(Message::End {
                compressed,
                diff_id,
            }) => {
                self.finished = Some((compressed, diff_id));
                Ok(())
            }
            Ok(Message::Failed(error)) => Err(error),
            // Only a panic ends those threads without a last message; the
            // scope that joins them re-raises the panic.
            Err(_) => Err(LayerUnpackError::Corrupt(
                "the decompression thread stopped without a result".to_owned(),
            )),
        }
    }

    pub fn read_block(&mut self, block: &mut [u8; BLOCK]) -> Result<BlockRead, LayerUnpackError> {
        let mut filled = 0;
        while filled < BLOCK {
            if !self.fill()? {
                return Ok(if filled == 0 {
                    BlockRead::End
                } else {
                    BlockRead::Partial
                });
            }
            let take = (BLOCK - filled).min(self.end - self.start);
            block[filled..filled + take]
                .copy_from_slice(&self.buffer[self.start..self.start + take]);
            self.start += take;
            self.offset += take as u64;
            filled += take;
        }
        Ok(BlockRead::Full)
    }

    /// The next up to `max` bytes, without copying; empty at the end.
    pub fn next_slice(&mut self, max: u64) -> Result<&[u8], LayerUnpackError> {
        if max == 0 || !self.fill()? {
            return Ok(&[]);
        }
        let available = self.end - self.start;
        let take = usize::try_from(max).map_or(available, |max| max.min(available));
        let slice = &self.buffer[self.start..self.start + take];
        self.start += take;
        self.offset += take as u64;
        Ok(slice)
    }

    /// Skips `count` bytes; false if the stream ended first.
    pub fn skip(&mut self, mut count: u64) -> Result<bool, LayerUnpackError> {
        while count > 0 {
            let skipped = self.next_slice(count)?.len();
            if skipped == 0 {
                return Ok(false);
            }
            count -= skipped as u64;
        }
        Ok(true)
    }

    /// Reads (and so hashes) whatever follows the end-of-archive marker,
    /// then reports the stream's digests and sizes.
    pub fn finish(mut self) -> Result<StreamSummary, LayerUnpackError> {
        loop {
            if let Some((compressed, diff_id)) = self.finished.take() {
                let diff_id = diff_id.ok_or_else(|| {
                    LayerUnpackError::Corrupt("the stream ended without its diffID".to_owned())
                })?;
                return Ok(StreamSummary {
                    diff_id,
                    uncompressed_size: self.received,
                    compressed,
                });
            }
            self.start = self.end;
            self.receive()?;
        }
    }
}
