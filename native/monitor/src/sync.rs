//! The sync channel: one JSON line to the daemon on `--sync-fd`, then
//! end-of-file. Either the container was created,
//!   {"ok":true,"pid":<container init>,"monitorPid":<monitor>}
//! or it was not,
//!   {"ok":false,"code":"ERR_…","message":"…","runtimeExitCode":N|null,"runtimeStderr":"…"|null}
//! where the runtime fields are set when `runtime create` itself failed, so
//! CreateContainer can fail with the runtime's own words.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;

use crate::json;

/// What a failed start reports.
pub struct Failure<'a> {
    pub code: &'a str,
    pub message: &'a str,
    pub runtime_exit_code: Option<i32>,
    pub runtime_stderr: Option<&'a str>,
}

impl Failure<'_> {
    fn to_json(&self) -> String {
        let mut out = String::from("{\"ok\":false,\"code\":");
        json::push_string(&mut out, self.code);
        out.push_str(",\"message\":");
        json::push_string(&mut out, self.message);
        out.push_str(",\"runtimeExitCode\":");
        match self.runtime_exit_code {
            Some(code) => out.push_str(&code.to_string()),
            None => out.push_str("null"),
        }
        out.push_str(",\"runtimeStderr\":");
        match self.runtime_stderr {
            Some(stderr) => json::push_string(&mut out, stderr),
            None => out.push_str("null"),
        }
        out.push_str("}\n");
        out
    }
}

fn ready_json(container_pid: i32, monitor_pid: i32) -> String {
    format!("{{\"ok\":true,\"pid\":{container_pid},\"monitorPid\":{monitor_pid}}}\n")
}

/// Consumed by the one message it sends: closing the descriptor is the
/// end-of-file that tells the daemon nothing else will come.
pub struct SyncChannel {
    file: File,
}

impl SyncChannel {
    pub fn new(fd: OwnedFd) -> Self {
        Self {
            file: File::from(fd),
        }
    }

    /// A daemon that went away before reading gets no message, which is no
    /// reason for the container to fail: the message is dropped, and the
    /// state directory holds the same facts for the daemon's next start.
    pub fn ready(mut self, container_pid: i32, monitor_pid: i32) {
        let _ = self
            .file
            .write_all(ready_json(container_pid, monitor_pid).as_bytes());
    }

    pub fn failed(mut self, failure: &Failure<'_>) {
        let _ = self.file.write_all(failure.to_json().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_readiness() {
        assert_eq!(
            ready_json(42, 7),
            "{\"ok\":true,\"pid\":42,\"monitorPid\":7}\n"
        );
    }

    #[test]
    fn formats_a_runtime_failure_with_its_stderr() {
        let failure = Failure {
            code: "ERR_RUNTIME_CREATE",
            message: "runc create exited with code 1: no \"sh\"",
            runtime_exit_code: Some(1),
            runtime_stderr: Some("no \"sh\"\n"),
        };
        assert_eq!(
            failure.to_json(),
            "{\"ok\":false,\"code\":\"ERR_RUNTIME_CREATE\",\
             \"message\":\"runc create exited with code 1: no \\\"sh\\\"\",\
             \"runtimeExitCode\":1,\"runtimeStderr\":\"no \\\"sh\\\"\\n\"}\n"
        );
    }

    #[test]
    fn other_failures_have_null_runtime_fields() {
        let failure = Failure {
            code: "ERR_LOG_OPEN",
            message: "opening the container log /x",
            runtime_exit_code: None,
            runtime_stderr: None,
        };
        assert!(
            failure
                .to_json()
                .ends_with("\"runtimeExitCode\":null,\"runtimeStderr\":null}\n")
        );
    }

    #[test]
    fn a_message_reaches_the_reader_followed_by_end_of_file() {
        let (reader, writer) = rustix::pipe::pipe().expect("pipe");
        SyncChannel::new(writer).ready(1, 2);
        let text = std::io::read_to_string(File::from(reader)).expect("read to EOF");
        assert_eq!(text, ready_json(1, 2));
    }
}
