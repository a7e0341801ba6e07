//! OOM kills, read from the container's memory cgroup: the `oom_kill` counter
//! of `memory.events` (cgroup v2) or `memory.oom_control` (cgroup v1, Linux
//! 4.13+). The monitor reads it once the runtime has created the cgroup and
//! again when the container has exited: if it grew, the kernel's OOM killer
//! killed something in the container during its life.
//!
//! That is reported as `oomKilled` whatever the exit status, as containerd and
//! CRI-O report OOMKilled on any OOM event of the container: when `sh -c 'a;
//! b'` has `b` killed, the shell exits with code 137 rather than by SIGKILL,
//! and it is still the memory limit that ended the container.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OomError {
    #[error(
        "{dir} has neither memory.events (cgroup v2) nor memory.oom_control (cgroup v1): \
         not a memory cgroup"
    )]
    NotAMemoryCgroup { dir: PathBuf },
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} has no oom_kill counter (cgroup v1 needs Linux 4.13)")]
    NoCounter { path: PathBuf },
}

impl OomError {
    pub fn code(&self) -> &'static str {
        match self {
            OomError::NotAMemoryCgroup { .. } => "ERR_OOM_NOT_A_MEMORY_CGROUP",
            OomError::Read { .. } => "ERR_OOM_READ",
            OomError::NoCounter { .. } => "ERR_OOM_NO_COUNTER",
        }
    }
}

pub struct OomCounter {
    path: PathBuf,
}

impl OomCounter {
    /// Finds the counter file of the memory cgroup `dir`.
    pub fn open(dir: &Path) -> Result<Self, OomError> {
        ["memory.events", "memory.oom_control"]
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file())
            .map(|path| Self { path })
            .ok_or_else(|| OomError::NotAMemoryCgroup {
                dir: dir.to_owned(),
            })
    }

    pub fn read(&self) -> Result<u64, OomError> {
        let text = fs::read_to_string(&self.path).map_err(|source| OomError::Read {
            path: self.path.clone(),
            source,
        })?;
        parse_oom_kill(&text).ok_or_else(|| OomError::NoCounter {
            path: self.path.clone(),
        })
    }
}

/// Both files are `key value` lines; v1's also has `oom_kill_disable` and
/// `under_oom`, v2's `oom`, `oom_kill` and `oom_group_kill`.
fn parse_oom_kill(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == "oom_kill").then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgroup_v1_oom_control() {
        assert_eq!(
            parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            Some(2)
        );
    }

    #[test]
    fn parses_cgroup_v2_memory_events() {
        assert_eq!(
            parse_oom_kill("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n"),
            Some(1)
        );
    }

    #[test]
    fn a_file_without_the_counter_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(
            dir.path().join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\n",
        )
        .expect("write");
        let counter = OomCounter::open(dir.path()).expect("counter file found");
        assert_eq!(
            counter.read().expect_err("no counter").code(),
            "ERR_OOM_NO_COUNTER"
        );
    }

    #[test]
    fn a_directory_without_memory_files_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = OomCounter::open(dir.path())
            .err()
            .expect("not a memory cgroup");
        assert_eq!(error.code(), "ERR_OOM_NOT_A_MEMORY_CGROUP");
        assert!(
            error
                .to_string()
                .contains(&dir.path().display().to_string())
        );
    }
}
