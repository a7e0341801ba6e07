//! The hashing thread: computes the diffID (sha256 of the uncompressed
//! stream) on the chunks the decompression thread sends, and passes them on
//! unchanged to the tar thread. On its own thread because hashing every
//! uncompressed byte costs about as much CPU as inflating them, and the tar
//! thread is busy with the filesystem.

use std::sync::mpsc::{Receiver, SyncSender};

use sha2::{Digest, Sha256};

use super::decode::Message;
use super::digest_string;

/// Forwards messages until the decompression thread's last one, or until
/// the tar thread hangs up, which the decompression thread then sees too.
pub(super) fn run(input: &Receiver<Message>, output: &SyncSender<Message>) {
    let mut hasher = Sha256::new();
    // Ends without a last message only when the decompression thread
    // panicked; the tar thread reports that when its channel closes.
    while let Ok(message) = input.recv() {
        let message = match message {
            Message::Data { buffer, len } => {
                hasher.update(&buffer[..len]);
                Message::Data { buffer, len }
            }
            Message::End { compressed, .. } => Message::End {
                compressed,
                diff_id: Some(digest_string(std::mem::take(&mut hasher).finalize())),
            },
            failed @ Message::Failed(_) => failed,
        };
        if output.send(message).is_err() {
            return;
        }
    }
}
