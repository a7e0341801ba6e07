//! The exclusive claim a daemon holds on its root and state directories.
//! Two daemons on one root would sweep each other's half-made pods at
//! start and serve the same containers, so the claim is taken before
//! anything in the directory is read or changed. It is a `flock(2)` on
//! `<dir>/crion.lock`: the kernel drops it when the process dies, however it
//! dies, so a crashed daemon never leaves a stale claim. The file holds the
//! holder's PID, for the message a second daemon gets.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

pub const LOCK_FILE: &str = "crion.lock";

#[derive(Debug, thiserror::Error)]
pub enum DirLockError {
    #[error("opening the lock file {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another crion daemon ({}) holds {path}: only one daemon may use a root or state directory",
        holder.map_or_else(|| "PID unknown".to_owned(), |pid| format!("PID {pid}"))
    )]
    Held { path: PathBuf, holder: Option<u32> },
    #[error("locking {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("writing the daemon's PID into {path}")]
    WritePid {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl DirLockError {
    pub fn code(&self) -> &'static str {
        match self {
            DirLockError::Held { .. } => "ERR_DIR_LOCK_HELD",
            DirLockError::Open { .. }
            | DirLockError::Lock { .. }
            | DirLockError::WritePid { .. } => "ERR_DIR_LOCK",
        }
    }
}

/// Held until dropped (or the process ends).
#[derive(Debug)]
pub struct DirLock {
    // Only kept open: closing the file releases the lock.
    _file: File,
    path: PathBuf,
}

impl DirLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the claim on `dir` (which must exist) without waiting, and writes
/// `pid` into the lock file. A claim held elsewhere is [`DirLockError::Held`]
/// with that holder's PID when the file names one.
pub fn lock_dir(dir: &Path, pid: u32) -> Result<DirLock, DirLockError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|source| DirLockError::Open {
            path: path.clone(),
            source,
        })?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            return Err(DirLockError::Held {
                holder: holder_pid(&mut file),
                path,
            });
        }
        Err(source) => return Err(DirLockError::Lock { path, source }),
    }
    let write_pid = |file: &mut File| -> std::io::Result<()> {
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(format!("{pid}\n").as_bytes())
    };
    write_pid(&mut file).map_err(|source| DirLockError::WritePid {
        path: path.clone(),
        source,
    })?;
    Ok(DirLock { _file: file, path })
}

/// The PID the holder wrote; None while it has not written it yet, or when the file says nothing readable.
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests;
