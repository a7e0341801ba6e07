//! The command line. The daemon builds it; nothing here is meant for people
//! beyond `--help`, so the parser is small and strict: every flag takes its
//! value as the next argument or after `=`, unknown flags are errors.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::cri_log::DEFAULT_MAX_LINE;

pub const USAGE: &str = "\
Usage: crion-monitor --id ID --bundle DIR --state-dir DIR --log-path FILE [options]
       crion-monitor pod-init --pid-pin FILE [--netns FILE] [--ipcns FILE]
                     [--utsns FILE]

Runs `RUNTIME create` for one container, then stays behind (detached from the
caller) to hold its stdio, write its CRI log and record its exit.

Required:
  --id ID                 container ID, passed to the runtime
  --bundle DIR            OCI bundle (config.json and rootfs)
  --state-dir DIR         where the monitor keeps container.pid, monitor.pid,
                          runtime.log, the ctl socket and (by default) exit.json
  --log-path FILE         CRI log file (created, appended to)

Options:
  --runtime PATH          OCI runtime binary (default: runc, looked up on PATH)
  --runtime-root DIR      passed to the runtime as --root
  --runtime-arg ARG       extra global runtime argument, repeatable
  --exit-file FILE        exit record (default: STATE-DIR/exit.json)
  --terminal              give the container a pty (runtime --console-socket)
  --stdin                 keep the container's stdin open instead of /dev/null
  --sync-fd N             inherited fd to report readiness or failure on
  --cgroup-memory DIR     the container's memory cgroup, to detect OOM kills
  --log-max-line BYTES    longest log record content (default: 16384)
  --restore DIR           run `RUNTIME restore` from the CRIU images in DIR
                          instead of `RUNTIME create`: the container runs at once
  --help                  print this text

pod-init starts a pod's PID 1 in a new PID namespace, joining the namespaces
pinned at --netns, --ipcns and --utsns, bind-mounts its PID namespace onto
--pid-pin and prints {\"pid\":N}.
Its paths must be absolute.
";

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{flag} needs a value")]
    MissingValue { flag: String },
    #[error("unknown argument {argument:?}")]
    Unknown { argument: OsString },
    #[error("{flag} is required")]
    Required { flag: &'static str },
    #[error("{flag} {value:?}: {reason}")]
    Invalid {
        flag: &'static str,
        value: OsString,
        reason: &'static str,
    },
    #[error("{flag} {path}: cannot make the path absolute")]
    Absolute {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl CliError {
    pub fn code(&self) -> &'static str {
        match self {
            CliError::MissingValue { .. } => "ERR_CLI_MISSING_VALUE",
            CliError::Unknown { .. } => "ERR_CLI_UNKNOWN_ARGUMENT",
            CliError::Required { .. } => "ERR_CLI_REQUIRED",
            CliError::Invalid { .. } => "ERR_CLI_INVALID",
            CliError::Absolute { .. } => "ERR_CLI_PATH",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub id: String,
    pub bundle: PathBuf,
    pub state_dir: PathBuf,
    pub log_path: PathBuf,
    /// A bare name is looked up on PATH when the runtime is started; a path
    /// is made absolute, since the detached monitor runs from `/`.
    pub runtime: PathBuf,
    pub runtime_root: Option<PathBuf>,
    pub runtime_args: Vec<OsString>,
    pub exit_file: PathBuf,
    pub terminal: bool,
    pub stdin: bool,
    pub sync_fd: Option<i32>,
    pub cgroup_memory: Option<PathBuf>,
    pub log_max_line: usize,
    /// CRIU images to restore the container from, instead of creating it.
    pub restore_from: Option<PathBuf>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Help,
    Run(Box<Options>),
}

pub fn parse(args: &[OsString]) -> Result<Invocation, CliError> {
    let mut id = None;
    let mut bundle = None;
    let mut state_dir = None;
    let mut log_path = None;
    let mut runtime = None;
    let mut runtime_root = None;
    let mut runtime_args = Vec::new();
    let mut exit_file = None;
    let mut terminal = false;
    let mut stdin = false;
    let mut sync_fd = None;
    let mut cgroup_memory = None;
    let mut log_max_line = DEFAULT_MAX_LINE;
    let mut restore_from = None;

    let mut args = args.iter();
    while let Some(argument) = args.next() {
        let (flag, inline_value) = split_flag(argument);
        let mut value = |flag: &[u8]| -> Result<OsString, CliError> {
            inline_value
                .map(OsStr::to_owned)
                .or_else(|| args.next().cloned())
                .ok_or_else(|| CliError::MissingValue {
                    flag: String::from_utf8_lossy(flag).into_owned(),
                })
        };
        match flag {
            b"--help" | b"-h" => return Ok(Invocation::Help),
            b"--terminal" | b"--stdin" if inline_value.is_some() => {
                return Err(CliError::Unknown {
                    argument: argument.clone(),
                });
            }
            b"--terminal" => terminal = true,
            b"--stdin" => stdin = true,
            b"--id" => id = Some(container_id(value(flag)?)?),
            b"--bundle" => bundle = Some(absolute("--bundle", value(flag)?)?),
            b"--state-dir" => state_dir = Some(absolute("--state-dir", value(flag)?)?),
            b"--log-path" => log_path = Some(absolute("--log-path", value(flag)?)?),
            b"--runtime" => runtime = Some(runtime_path(value(flag)?)?),
            b"--runtime-root" => runtime_root = Some(absolute("--runtime-root", value(flag)?)?),
            b"--runtime-arg" => runtime_args.push(value(flag)?),
            b"--exit-file" => exit_file = Some(absolute("--exit-file", value(flag)?)?),
            b"--sync-fd" => sync_fd = Some(fd_number(value(flag)?)?),
            b"--cgroup-memory" => {
                cgroup_memory = Some(absolute("--cgroup-memory", value(flag)?)?);
            }
            b"--log-max-line" => log_max_line = max_line(value(flag)?)?,
            b"--restore" => restore_from = Some(absolute("--restore", value(flag)?)?),
            _ => {
                return Err(CliError::Unknown {
                    argument: argument.clone(),
                });
            }
        }
    }

    let state_dir: PathBuf = state_dir.ok_or(CliError::Required {
        flag: "--state-dir",
    })?;
    Ok(Invocation::Run(Box::new(Options {
        id: id.ok_or(CliError::Required { flag: "--id" })?,
        bundle: bundle.ok_or(CliError::Required { flag: "--bundle" })?,
        log_path: log_path.ok_or(CliError::Required { flag: "--log-path" })?,
        runtime: runtime.unwrap_or_else(|| PathBuf::from("runc")),
        runtime_root,
        runtime_args,
        exit_file: exit_file.unwrap_or_else(|| state_dir.join("exit.json")),
        state_dir,
        terminal,
        stdin,
        sync_fd,
        cgroup_memory,
        log_max_line,
        restore_from,
    })))
}

/// `pod-init`'s command line (see pod_init.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInitOptions {
    pub pid_pin: PathBuf,
    pub netns: Option<PathBuf>,
    pub ipcns: Option<PathBuf>,
    pub utsns: Option<PathBuf>,
}

/// Relative paths are refused rather than resolved: the launcher changes
/// namespaces before it uses some of them, and the daemon always knows the
/// absolute path.
pub fn parse_pod_init(args: &[OsString]) -> Result<PodInitOptions, CliError> {
    let mut pid_pin = None;
    let mut netns = None;
    let mut ipcns = None;
    let mut utsns = None;

    let mut args = args.iter();
    while let Some(argument) = args.next() {
        let (flag, inline_value) = split_flag(argument);
        let (name, slot) = match flag {
            b"--pid-pin" => ("--pid-pin", &mut pid_pin),
            b"--netns" => ("--netns", &mut netns),
            b"--ipcns" => ("--ipcns", &mut ipcns),
            b"--utsns" => ("--utsns", &mut utsns),
            _ => {
                return Err(CliError::Unknown {
                    argument: argument.clone(),
                });
            }
        };
        let value = inline_value
            .map(OsStr::to_owned)
            .or_else(|| args.next().cloned());
        let path = strictly_absolute(name, value)?;
        if slot.replace(path).is_some() {
            return Err(CliError::Invalid {
                flag: name,
                value: argument.clone(),
                reason: "given more than once",
            });
        }
    }
    Ok(PodInitOptions {
        pid_pin: pid_pin.ok_or(CliError::Required { flag: "--pid-pin" })?,
        netns,
        ipcns,
        utsns,
    })
}

fn strictly_absolute(flag: &'static str, value: Option<OsString>) -> Result<PathBuf, CliError> {
    let value = value.ok_or_else(|| CliError::MissingValue {
        flag: flag.to_owned(),
    })?;
    if !value.as_bytes().starts_with(b"/") {
        return Err(CliError::Invalid {
            flag,
            value,
            reason: "must be an absolute path",
        });
    }
    Ok(PathBuf::from(value))
}

/// Finds `--sync-fd N` in a command line that did not parse, so even a usage
/// error can be reported on the channel the daemon reads.
pub fn find_sync_fd(args: &[OsString]) -> Option<i32> {
    let mut args = args.iter();
    while let Some(argument) = args.next() {
        match split_flag(argument) {
            (b"--sync-fd", Some(value)) => return fd_number(value.to_owned()).ok(),
            (b"--sync-fd", None) => return fd_number(args.next()?.clone()).ok(),
            _ => {}
        }
    }
    None
}

fn split_flag(argument: &OsStr) -> (&[u8], Option<&OsStr>) {
    let bytes = argument.as_bytes();
    match bytes.iter().position(|&byte| byte == b'=') {
        Some(equals) if bytes.starts_with(b"--") => (
            &bytes[..equals],
            Some(OsStr::from_bytes(&bytes[equals + 1..])),
        ),
        _ => (bytes, None),
    }
}

/// runc's rule (`^[\w+-\.]+$`), minus a leading `-`, which the runtime would
/// read as a flag since the ID is its last argument.
fn container_id(value: OsString) -> Result<String, CliError> {
    let invalid = |reason| CliError::Invalid {
        flag: "--id",
        value: value.clone(),
        reason,
    };
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if bytes[0] == b'-' {
        return Err(invalid("must not start with '-'"));
    }
    if !bytes
        .iter()
        .all(|&byte| byte.is_ascii_alphanumeric() || b"_+-.".contains(&byte))
    {
        return Err(invalid(
            "may hold only letters, digits, '_', '+', '-' and '.'",
        ));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn absolute(flag: &'static str, value: OsString) -> Result<PathBuf, CliError> {
    if value.is_empty() {
        return Err(CliError::Invalid {
            flag,
            value,
            reason: "must not be empty",
        });
    }
    let path = PathBuf::from(value);
    std::path::absolute(&path).map_err(|source| CliError::Absolute { flag, path, source })
}

fn runtime_path(value: OsString) -> Result<PathBuf, CliError> {
    if value.as_bytes().contains(&b'/') {
        absolute("--runtime", value)
    } else if value.is_empty() {
        Err(CliError::Invalid {
            flag: "--runtime",
            value,
            reason: "must not be empty",
        })
    } else {
        Ok(PathBuf::from(value))
    }
}

/// 0–2 are the monitor's own stdio, which the detached monitor replaces.
fn fd_number(value: OsString) -> Result<i32, CliError> {
    match std::str::from_utf8(value.as_bytes()).map(str::parse::<i32>) {
        Ok(Ok(fd)) if fd >= 3 => Ok(fd),
        _ => Err(CliError::Invalid {
            flag: "--sync-fd",
            value,
            reason: "must be a file descriptor number of 3 or more",
        }),
    }
}

fn max_line(value: OsString) -> Result<usize, CliError> {
    match std::str::from_utf8(value.as_bytes()).map(str::parse::<usize>) {
        // Up to 1 MiB: the record is assembled in memory before it is written.
        Ok(Ok(bytes)) if (1..=1 << 20).contains(&bytes) => Ok(bytes),
        _ => Err(CliError::Invalid {
            flag: "--log-max-line",
            value,
            reason: "must be a byte count from 1 to 1048576",
        }),
    }
}

impl Options {
    pub fn container_pid_file(&self) -> PathBuf {
        self.state_dir.join("container.pid")
    }

    pub fn monitor_pid_file(&self) -> PathBuf {
        self.state_dir.join("monitor.pid")
    }

    pub fn control_socket(&self) -> PathBuf {
        self.state_dir.join("ctl")
    }

    pub fn console_socket(&self) -> PathBuf {
        self.state_dir.join("console.sock")
    }

    pub fn runtime_log(&self) -> PathBuf {
        self.state_dir.join("runtime.log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn run(list: &[&str]) -> Options {
        match parse(&args(list)).expect("parses") {
            Invocation::Run(options) => *options,
            Invocation::Help => panic!("not a help request"),
        }
    }

    const REQUIRED: [&str; 8] = [
        "--id",
        "c1",
        "--bundle",
        "/b",
        "--state-dir",
        "/s",
        "--log-path",
        "/l/0.log",
    ];

    #[test]
    fn applies_defaults() {
        let options = run(&REQUIRED);
        assert_eq!(options.runtime, PathBuf::from("runc"));
        assert_eq!(options.exit_file, PathBuf::from("/s/exit.json"));
        assert_eq!(options.log_max_line, 16 * 1024);
        assert!(!options.terminal && !options.stdin);
        assert_eq!(options.sync_fd, None);
        assert_eq!(options.restore_from, None);
        assert_eq!(options.control_socket(), PathBuf::from("/s/ctl"));
    }

    #[test]
    fn takes_every_flag_in_both_spellings() {
        let mut list = REQUIRED.to_vec();
        list.extend([
            "--runtime=/usr/sbin/runc",
            "--runtime-root",
            "/run/crion/runc",
            "--runtime-arg",
            "--systemd-cgroup",
            "--runtime-arg=--debug",
            "--exit-file=/x/exit",
            "--terminal",
            "--stdin",
            "--sync-fd",
            "3",
            "--cgroup-memory=/sys/fs/cgroup/memory/pod/c1",
            "--log-max-line=100",
            "--restore",
            "/s/checkpoint",
        ]);
        let options = run(&list);
        assert_eq!(options.runtime, PathBuf::from("/usr/sbin/runc"));
        assert_eq!(options.runtime_root, Some(PathBuf::from("/run/crion/runc")));
        assert_eq!(options.runtime_args, args(&["--systemd-cgroup", "--debug"]));
        assert_eq!(options.exit_file, PathBuf::from("/x/exit"));
        assert!(options.terminal && options.stdin);
        assert_eq!(options.sync_fd, Some(3));
        assert_eq!(options.log_max_line, 100);
        assert_eq!(options.restore_from, Some(PathBuf::from("/s/checkpoint")));
    }

    #[test]
    fn makes_relative_paths_absolute() {
        let options = run(&[
            "--id",
            "c",
            "--bundle",
            "b",
            "--state-dir",
            "s",
            "--log-path",
            "l",
        ]);
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(options.bundle, cwd.join("b"));
        assert_eq!(options.exit_file, cwd.join("s/exit.json"));
    }

    #[test]
    fn rejects_bad_input_with_stable_codes() {
        let code = |list: &[&str]| parse(&args(list)).expect_err("rejected").code();
        assert_eq!(code(&["--id"]), "ERR_CLI_MISSING_VALUE");
        assert_eq!(code(&["--bogus"]), "ERR_CLI_UNKNOWN_ARGUMENT");
        assert_eq!(code(&["--terminal=yes"]), "ERR_CLI_UNKNOWN_ARGUMENT");
        assert_eq!(code(&["--id", "c"]), "ERR_CLI_REQUIRED");
        assert_eq!(code(&["--id", "-rf"]), "ERR_CLI_INVALID");
        assert_eq!(code(&["--id", "a/b"]), "ERR_CLI_INVALID");
        assert_eq!(code(&["--sync-fd", "1"]), "ERR_CLI_INVALID");
        assert_eq!(code(&["--sync-fd", "x"]), "ERR_CLI_INVALID");
        assert_eq!(code(&["--log-max-line", "0"]), "ERR_CLI_INVALID");
        assert_eq!(code(&["--bundle", ""]), "ERR_CLI_INVALID");
    }

    #[test]
    fn finds_the_sync_fd_of_a_bad_command_line() {
        assert_eq!(find_sync_fd(&args(&["--bogus", "--sync-fd", "5"])), Some(5));
        assert_eq!(find_sync_fd(&args(&["--sync-fd=7", "--bogus"])), Some(7));
        assert_eq!(find_sync_fd(&args(&["--bogus"])), None);
    }

    fn pod_init(list: &[&str]) -> Result<PodInitOptions, CliError> {
        parse_pod_init(&args(list))
    }

    #[test]
    fn pod_init_takes_every_flag_in_both_spellings() {
        let options = pod_init(&[
            "--pid-pin",
            "/run/p/pid",
            "--netns=/run/p/net",
            "--ipcns",
            "/run/p/ipc",
            "--utsns=/run/p/uts",
        ])
        .expect("parses");
        assert_eq!(options.pid_pin, PathBuf::from("/run/p/pid"));
        assert_eq!(options.netns, Some(PathBuf::from("/run/p/net")));
        assert_eq!(options.ipcns, Some(PathBuf::from("/run/p/ipc")));
        assert_eq!(options.utsns, Some(PathBuf::from("/run/p/uts")));
    }

    #[test]
    fn pod_init_needs_only_the_pid_pin() {
        let options = pod_init(&["--pid-pin=/p"]).expect("parses");
        assert_eq!(options.netns, None);
        assert_eq!(options.ipcns, None);
        assert_eq!(options.utsns, None);
    }

    #[test]
    fn pod_init_rejects_bad_input_with_stable_codes() {
        let code = |list: &[&str]| pod_init(list).expect_err("rejected").code();
        assert_eq!(code(&[]), "ERR_CLI_REQUIRED");
        assert_eq!(code(&["--netns", "/n"]), "ERR_CLI_REQUIRED");
        assert_eq!(code(&["--pid-pin"]), "ERR_CLI_MISSING_VALUE");
        assert_eq!(code(&["--pid-pin", "p"]), "ERR_CLI_INVALID");
        assert_eq!(code(&["--pid-pin=/p", "--netns=run/n"]), "ERR_CLI_INVALID");
        assert_eq!(
            code(&["--pid-pin=/p", "--cgroup-procs", "/c"]),
            "ERR_CLI_UNKNOWN_ARGUMENT"
        );
        assert_eq!(code(&["--pid-pin=/p", "--utsns="]), "ERR_CLI_INVALID");
        assert_eq!(code(&["--pid-pin=/p", "--pid-pin=/q"]), "ERR_CLI_INVALID");
        assert_eq!(
            code(&["--pid-pin=/p", "--id", "c"]),
            "ERR_CLI_UNKNOWN_ARGUMENT"
        );
        assert_eq!(
            code(&["--pid-pin=/p", "/extra"]),
            "ERR_CLI_UNKNOWN_ARGUMENT"
        );
        assert_eq!(
            code(&["--pid-pin=/p", "--help"]),
            "ERR_CLI_UNKNOWN_ARGUMENT"
        );
    }

    #[test]
    fn help_wins() {
        assert_eq!(parse(&args(&["--help"])).expect("help"), Invocation::Help);
    }
}
