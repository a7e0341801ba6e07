//! The exit file: how the container ended, written once, atomically, for the
//! daemon (now or after a restart) to read.
//!
//! `{"exitCode":N,"signal":null|N,"oomKilled":bool,"exitedAt":"<RFC3339Nano>"}`
//! A container killed by a signal reports `exitCode` 128 + signal, as Docker,
//! containerd and CRI-O do (137 for SIGKILL), with the signal itself beside it.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::child_reaper::ExitStatus;
use crate::timestamp::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum ExitFileError {
    #[error("{action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl ExitFileError {
    pub fn code(&self) -> &'static str {
        match self {
            ExitFileError::Io { .. } => "ERR_EXIT_FILE_IO",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitRecord {
    pub status: ExitStatus,
    pub oom_killed: bool,
    pub exited_at: Timestamp,
}

impl ExitRecord {
    pub fn to_json(self) -> String {
        let (exit_code, signal) = match self.status {
            ExitStatus::Exited(code) => (code, None),
            ExitStatus::Signaled(signal) => (128 + signal, Some(signal)),
        };
        let signal = signal.map_or_else(|| "null".to_owned(), |signal| signal.to_string());
        let exited_at = self.exited_at.rfc3339_nano();
        format!(
            "{{\"exitCode\":{exit_code},\"signal\":{signal},\"oomKilled\":{},\"exitedAt\":\"{}\"}}\n",
            self.oom_killed,
            // The timestamp is ASCII digits and punctuation by construction.
            String::from_utf8_lossy(&exited_at),
        )
    }
}

/// Writes beside the target, syncs, renames over it and syncs the directory:
/// a reader sees no file or the whole record, even across a power cut.
pub fn write(path: &Path, record: &ExitRecord) -> Result<(), ExitFileError> {
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| ExitFileError::Io {
            action,
            path,
            source,
        }
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);

    let mut file = File::create(&temporary).map_err(io_error("creating", &temporary))?;
    file.write_all(record.to_json().as_bytes())
        .map_err(io_error("writing", &temporary))?;
    file.sync_all().map_err(io_error("syncing", &temporary))?;
    drop(file);
    fs::rename(&temporary, path).map_err(io_error("renaming into place", path))?;
    let directory = path.parent().unwrap_or(Path::new("/"));
    File::open(directory)
        .and_then(|directory| directory.sync_all())
        .map_err(io_error("syncing the directory", directory))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Timestamp = Timestamp::from_unix(1_475_713_029, 669_794_202);

    #[test]
    fn a_normal_exit_has_no_signal() {
        let record = ExitRecord {
            status: ExitStatus::Exited(3),
            oom_killed: false,
            exited_at: AT,
        };
        assert_eq!(
            record.to_json(),
            "{\"exitCode\":3,\"signal\":null,\"oomKilled\":false,\"exitedAt\":\"2016-10-06T00:17:09.669794202Z\"}\n"
        );
    }

    #[test]
    fn a_signal_reports_128_plus_the_signal() {
        let record = ExitRecord {
            status: ExitStatus::Signaled(9),
            oom_killed: true,
            exited_at: AT,
        };
        assert_eq!(
            record.to_json(),
            "{\"exitCode\":137,\"signal\":9,\"oomKilled\":true,\"exitedAt\":\"2016-10-06T00:17:09.669794202Z\"}\n"
        );
    }

    #[test]
    fn writes_atomically_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("exit.json");
        let record = ExitRecord {
            status: ExitStatus::Exited(0),
            oom_killed: false,
            exited_at: AT,
        };
        write(&path, &record).expect("write");
        assert_eq!(fs::read_to_string(&path).expect("read"), record.to_json());
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("exit.json")]);
    }

    #[test]
    fn errors_name_the_path() {
        let record = ExitRecord {
            status: ExitStatus::Exited(0),
            oom_killed: false,
            exited_at: AT,
        };
        let error = write(Path::new("/nonexistent-dir/exit.json"), &record)
            .expect_err("a missing directory fails");
        assert!(error.to_string().contains("/nonexistent-dir/exit.json.tmp"));
    }
}
