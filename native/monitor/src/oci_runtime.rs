//! `runtime create`. The monitor runs only `create`: the daemon runs
//! `runtime start` itself when StartContainer comes (CRI separates the two),
//! which is conmon's split. runc's container init then waits on the exec FIFO
//! as the monitor's child, and the monitor's pipes are already its stdio.
//!
//! A container made from a checkpoint runs `runtime restore --detach`
//! instead: CRIU gives the restored process the runtime's stdio (the
//! monitor's pipes, as with create) and it is running when restore returns,
//! so the daemon runs no `start`. Restored processes are reparented to the
//! monitor, the subreaper, when CRIU leaves.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustix::process::Pid;

use crate::child_reaper::{self, ExitStatus, ReaperError};
use crate::container_io::RuntimeStdio;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("starting the OCI runtime {runtime}")]
    Spawn {
        runtime: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("waiting for `{runtime} {action}`")]
    Wait {
        runtime: PathBuf,
        action: &'static str,
        #[source]
        source: ReaperError,
    },
    #[error("`{runtime} {action}` {}: {}", describe(*.status), summary(.output))]
    CreateFailed {
        runtime: PathBuf,
        action: &'static str,
        status: ExitStatus,
        /// What the runtime wrote to stderr and stdout.
        output: String,
    },
}

impl RuntimeError {
    pub fn code(&self) -> &'static str {
        match self {
            RuntimeError::Spawn { .. } => "ERR_RUNTIME_SPAWN",
            RuntimeError::Wait { .. } => "ERR_RUNTIME_WAIT",
            RuntimeError::CreateFailed { .. } => "ERR_RUNTIME_CREATE",
        }
    }
}

fn describe(status: ExitStatus) -> String {
    match status {
        ExitStatus::Exited(code) => format!("exited with code {code}"),
        ExitStatus::Signaled(signal) => format!("was killed by signal {signal}"),
    }
}

/// The runtime's last non-empty line, which is its error (runc prints the
/// error alone on stderr when logging goes to `--log`).
fn summary(output: &str) -> &str {
    output
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .unwrap_or("it printed nothing")
}

pub struct CreateRequest<'a> {
    pub runtime: &'a Path,
    pub root: Option<&'a Path>,
    pub extra_args: &'a [OsString],
    /// The runtime's own log (`--log`, JSON): its warnings and errors, kept
    /// out of the container's stderr.
    pub log: &'a Path,
    pub bundle: &'a Path,
    pub pid_file: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub id: &'a str,
    /// CRIU's images of a checkpoint: restore from them instead of creating.
    pub restore_from: Option<&'a Path>,
    /// Where CRIU writes its restore log (`--work-path`).
    pub work_dir: &'a Path,
}

impl CreateRequest<'_> {
    pub fn action(&self) -> &'static str {
        if self.restore_from.is_some() {
            "restore"
        } else {
            "create"
        }
    }

    /// `<runtime> [--root R] --log L --log-format json [extra…] create
    /// --bundle B --pid-file P [--console-socket S] <id>`, or
    /// `… restore --detach --image-path I --work-path W --bundle B …`.
    pub fn args(&self) -> Vec<&OsStr> {
        let mut args: Vec<&OsStr> = Vec::new();
        if let Some(root) = self.root {
            args.extend([OsStr::new("--root"), root.as_os_str()]);
        }
        args.extend([
            OsStr::new("--log"),
            self.log.as_os_str(),
            OsStr::new("--log-format"),
            OsStr::new("json"),
        ]);
        args.extend(self.extra_args.iter().map(OsString::as_os_str));
        args.push(OsStr::new(self.action()));
        if let Some(images) = self.restore_from {
            args.extend([
                OsStr::new("--detach"),
                OsStr::new("--image-path"),
                images.as_os_str(),
                OsStr::new("--work-path"),
                self.work_dir.as_os_str(),
            ]);
        }
        args.extend([
            OsStr::new("--bundle"),
            self.bundle.as_os_str(),
            OsStr::new("--pid-file"),
            self.pid_file.as_os_str(),
        ]);
        if let Some(socket) = self.console_socket {
            args.extend([OsStr::new("--console-socket"), socket.as_os_str()]);
        }
        args.push(OsStr::new(self.id));
        args
    }

    /// Runs `create` to completion. The caller reads the runtime's output
    /// from its ends of the pipes when the status is not success.
    pub fn run(&self, stdio: RuntimeStdio) -> Result<ExitStatus, RuntimeError> {
        let mut command = Command::new(self.runtime);
        command
            .args(self.args())
            .stdin(stdio.stdin.map_or_else(Stdio::null, Stdio::from))
            .stdout(Stdio::from(stdio.stdout))
            .stderr(Stdio::from(stdio.stderr));
        let child = command.spawn().map_err(|source| RuntimeError::Spawn {
            runtime: self.runtime.to_owned(),
            source,
        })?;
        // The runtime's ends must be closed here, or the monitor would keep
        // the container's output pipes open itself and never see their end.
        drop(command);
        let pid = Pid::from_raw(child.id() as i32).ok_or_else(|| RuntimeError::Spawn {
            runtime: self.runtime.to_owned(),
            source: io::Error::other("the runtime has no process id"),
        })?;
        child_reaper::wait_for(pid).map_err(|source| RuntimeError::Wait {
            runtime: self.runtime.to_owned(),
            action: self.action(),
            source,
        })
    }

    /// Pairs a failed status with the runtime's output.
    pub fn failed(&self, status: ExitStatus, output: String) -> RuntimeError {
        RuntimeError::CreateFailed {
            runtime: self.runtime.to_owned(),
            action: self.action(),
            status,
            output,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request to runc without `--root` or extra arguments, its log, pid
    /// file and CRIU work directory under `/s`.
    fn request_for(restore_from: Option<&Path>) -> CreateRequest<'_> {
        CreateRequest {
            runtime: Path::new("runc"),
            root: None,
            extra_args: &[],
            log: Path::new("/s/runtime.log"),
            bundle: Path::new("/b"),
            pid_file: Path::new("/s/container.pid"),
            console_socket: None,
            id: "c1",
            restore_from,
            work_dir: Path::new("/s"),
        }
    }

    fn args_of(request: &CreateRequest<'_>) -> Vec<String> {
        request
            .args()
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn builds_the_create_command_line() {
        let extra = [OsString::from("--systemd-cgroup")];
        let request = CreateRequest {
            runtime: Path::new("/usr/sbin/runc"),
            root: Some(Path::new("/run/crion/runc")),
            extra_args: &extra,
            console_socket: Some(Path::new("/s/console.sock")),
            ..request_for(None)
        };
        assert_eq!(
            args_of(&request),
            [
                "--root",
                "/run/crion/runc",
                "--log",
                "/s/runtime.log",
                "--log-format",
                "json",
                "--systemd-cgroup",
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/s/container.pid",
                "--console-socket",
                "/s/console.sock",
                "c1"
            ]
        );
    }

    #[test]
    fn builds_the_restore_command_line() {
        let request = CreateRequest {
            extra_args: &[OsString::from("--criu=/opt/criu")],
            ..request_for(Some(Path::new("/s/checkpoint")))
        };
        assert_eq!(
            args_of(&request),
            [
                "--log",
                "/s/runtime.log",
                "--log-format",
                "json",
                "--criu=/opt/criu",
                "restore",
                "--detach",
                "--image-path",
                "/s/checkpoint",
                "--work-path",
                "/s",
                "--bundle",
                "/b",
                "--pid-file",
                "/s/container.pid",
                "c1"
            ]
        );
    }

    #[test]
    fn a_failure_quotes_the_runtimes_last_line() {
        let error = request_for(None).failed(
            ExitStatus::Exited(1),
            "warning: x\nrunc create failed: no sh\n\n".to_owned(),
        );
        assert_eq!(
            error.to_string(),
            "`runc create` exited with code 1: runc create failed: no sh"
        );
        let silent = request_for(None).failed(ExitStatus::Signaled(9), String::new());
        assert_eq!(
            silent.to_string(),
            "`runc create` was killed by signal 9: it printed nothing"
        );
        let restore = request_for(Some(Path::new("/s/checkpoint"))).failed(
            ExitStatus::Exited(1),
            "criu failed: type RESTORE errno 0".to_owned(),
        );
        assert_eq!(
            restore.to_string(),
            "`runc restore` exited with code 1: criu failed: type RESTORE errno 0"
        );
    }

    #[test]
    fn a_missing_runtime_names_itself() {
        let (_pending, stdio) = crate::container_io::prepare(false).expect("pipes");
        let request = CreateRequest {
            runtime: Path::new("/nonexistent/runc"),
            ..request_for(None)
        };
        let error = request.run(stdio).expect_err("no such runtime");
        assert_eq!(error.code(), "ERR_RUNTIME_SPAWN");
        assert!(error.to_string().contains("/nonexistent/runc"));
    }
}
