//! Harness for the integration tests: real runc, a busybox rootfs, the real
//! crion-monitor binary. Nothing is skipped: a missing tool fails the test.
// Each test crate (monitor.rs, attach.rs) uses part of the harness.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::{Errno, FdFlags};
use rustix::pipe::{PipeFlags, pipe_with};

pub const MONITOR: &str = env!("CARGO_BIN_EXE_crion-monitor");
pub const RUNC: &str = "/usr/sbin/runc";
pub const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "sleep", "head", "tr", "printf", "tty", "stty", "dd", "touch", "test",
];

/// Every spawn in the test process holds this lock: while a sync pipe is
/// being handed to a monitor, its write end is inheritable, and a process
/// started by a concurrent test would keep it open.
static SPAWN_LOCK: Mutex<()> = Mutex::new(());
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

pub fn spawn(command: &mut Command) -> Child {
    let _guard = SPAWN_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    command
        .spawn()
        .unwrap_or_else(|error| panic!("spawning {command:?}: {error}"))
}

pub fn run(command: &mut Command) -> Output {
    let child = spawn(command.stdout(Stdio::piped()).stderr(Stdio::piped()));
    child.wait_with_output().expect("waiting for a child")
}

fn require_tools() {
    assert!(
        rustix::process::getuid().is_root(),
        "the monitor tests run containers and must run as root"
    );
    for tool in [RUNC, BUSYBOX] {
        assert!(
            Path::new(tool).is_file(),
            "{tool} is missing: scripts/setup.sh installs runc and busybox-static"
        );
    }
}

/// A JSON string literal.
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

#[derive(Default)]
pub struct Spec {
    pub args: Vec<String>,
    pub terminal: bool,
    /// Memory limit in bytes, with swap capped at the same value.
    pub memory_limit: Option<u64>,
}

impl Spec {
    pub fn shell(script: &str) -> Self {
        Self {
            args: vec!["sh".into(), "-c".into(), script.into()],
            ..Self::default()
        }
    }

    /// A minimal runc config: runc's default mounts, masked and read-only
    /// paths, and its own namespaces (network included).
    fn config_json(&self, cgroups_path: &str) -> String {
        let args: Vec<String> = self.args.iter().map(|arg| quote(arg)).collect();
        let resources = match self.memory_limit {
            Some(limit) => {
                format!(r#","resources":{{"memory":{{"limit":{limit},"swap":{limit}}}}}"#)
            }
            None => String::new(),
        };
        format!(
            r#"{{
  "ociVersion": "1.0.2",
  "process": {{
    "terminal": {terminal},
    "user": {{"uid": 0, "gid": 0}},
    "args": [{args}],
    "env": ["PATH=/bin", "TERM=xterm"],
    "cwd": "/",
    "noNewPrivileges": true
  }},
  "root": {{"path": "rootfs", "readonly": false}},
  "hostname": "monitor-test",
  "mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc"}},
    {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}},
    {{"destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}},
    {{"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}},
    {{"destination": "/sys", "type": "sysfs", "source": "sysfs",
      "options": ["nosuid", "noexec", "nodev", "ro"]}}
  ],
  "linux": {{
    "cgroupsPath": {cgroups_path}{resources},
    "namespaces": [
      {{"type": "pid"}}, {{"type": "ipc"}}, {{"type": "uts"}},
      {{"type": "mount"}}, {{"type": "network"}}
    ],
    "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
      "/proc/timer_list", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }}
}}"#,
            terminal = self.terminal,
            args = args.join(", "),
            cgroups_path = quote(cgroups_path),
        )
    }
}

/// The sync channel's one line, and how the launcher exited.
pub struct Launch {
    /// None while the launcher still runs.
    pub launcher: Option<std::process::ExitStatus>,
    pub sync: String,
}

pub struct Container {
    pub id: String,
    dir: tempfile::TempDir,
    pub monitor_pid: Option<i32>,
}

impl Container {
    pub fn new(spec: &Spec) -> Self {
        require_tools();
        let id = format!(
            "crion-monitor-test-{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::Builder::new()
            .prefix("crion-monitor-")
            .tempdir()
            .expect("temp dir");
        let container = Self {
            id,
            dir,
            monitor_pid: None,
        };
        let rootfs = container.rootfs();
        for sub in ["bin", "proc", "dev", "sys", "tmp"] {
            fs::create_dir_all(rootfs.join(sub)).expect("rootfs directories");
        }
        fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copying busybox");
        for applet in APPLETS {
            symlink("busybox", rootfs.join("bin").join(applet)).expect("applet link");
        }
        fs::create_dir_all(container.state_dir()).expect("state dir");
        fs::create_dir_all(container.log_path().parent().expect("log dir")).expect("log dir");
        fs::write(
            container.bundle().join("config.json"),
            spec.config_json(&container.cgroups_path()),
        )
        .expect("config.json");
        container
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle().join("rootfs")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("logs/0.log")
    }

    pub fn exit_file(&self) -> PathBuf {
        self.state_dir().join("exit.json")
    }

    /// Waits until the container's log holds `text`: the container has got
    /// that far, so what a test does next reaches a running process.
    pub fn wait_for_log(&self, text: &str) {
        wait_for(Duration::from_secs(10), "the container's log", || {
            fs::read_to_string(self.log_path())
                .ok()
                .filter(|log| log.contains(text))
        });
    }

    fn runtime_root(&self) -> PathBuf {
        self.dir.path().join("runc")
    }

    pub fn cgroups_path(&self) -> String {
        format!("/{}", self.id)
    }

    /// The container's memory cgroup directory, v1 or v2.
    pub fn memory_cgroup(&self) -> PathBuf {
        let v1 = Path::new("/sys/fs/cgroup/memory");
        let root = if v1.is_dir() {
            v1
        } else {
            Path::new("/sys/fs/cgroup")
        };
        root.join(&self.id)
    }

    pub fn monitor_args(&self, extra: &[&str]) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--id".into(),
            self.id.clone().into(),
            "--bundle".into(),
            self.bundle().into(),
            "--state-dir".into(),
            self.state_dir().into(),
            "--log-path".into(),
            self.log_path().into(),
            "--runtime".into(),
            RUNC.into(),
            "--runtime-root".into(),
            self.runtime_root().into(),
        ];
        args.extend(extra.iter().map(OsString::from));
        args
    }

    /// Starts the monitor the way the daemon does, through `launcher` (the
    /// monitor itself, or a shell standing in for a daemon), with a sync pipe.
    pub fn launch_with(&mut self, launcher: &mut Command) -> (Child, Launch) {
        let stderr = fs::File::create(self.monitor_stderr()).expect("stderr file");
        let (read, mut child) = {
            let _guard = SPAWN_LOCK
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let (read, write) = pipe_with(PipeFlags::empty()).expect("sync pipe");
            rustix::io::fcntl_setfd(&read, FdFlags::CLOEXEC).expect("cloexec");
            launcher.arg("--sync-fd").arg(write.as_raw_fd().to_string());
            let child = launcher
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("spawning the monitor");
            drop(write);
            (read, child)
        };
        let sync = read_line(&read, Duration::from_secs(30));
        let launcher_status = launcher_exit(&mut child);
        if let Some(pid) = json_field(&sync, "monitorPid") {
            self.monitor_pid = pid.parse().ok();
        }
        (
            child,
            Launch {
                launcher: launcher_status,
                sync,
            },
        )
    }

    /// What the launcher and the detached monitor wrote to stderr.
    pub fn monitor_stderr(&self) -> PathBuf {
        self.dir.path().join("monitor.stderr")
    }

    pub fn launch(&mut self, extra: &[&str]) -> Launch {
        let mut command = Command::new(MONITOR);
        command.args(self.monitor_args(extra));
        self.launch_with(&mut command).1
    }

    /// Launches and insists on success.
    pub fn create(&mut self, extra: &[&str]) {
        let launch = self.launch(extra);
        assert!(
            launch.launcher.is_some_and(|status| status.success()),
            "launcher failed: {:?}",
            launch.launcher
        );
        assert_eq!(
            json_field(&launch.sync, "ok"),
            Some("true"),
            "create failed: {}",
            launch.sync
        );
    }

    pub fn runc(&self, args: &[&str]) -> Output {
        let mut command = Command::new(RUNC);
        command.arg("--root").arg(self.runtime_root()).args(args);
        run(&mut command)
    }

    pub fn start(&self) {
        let output = self.runc(&["start", &self.id]);
        assert!(
            output.status.success(),
            "runc start: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The exit file, once it appears.
    pub fn wait_exit(&self) -> String {
        wait_for(Duration::from_secs(30), "the exit file", || {
            fs::read_to_string(self.exit_file()).ok()
        })
    }

    pub fn wait_monitor_gone(&self) {
        let pid = self
            .monitor_pid
            .expect("the monitor's pid came over the sync channel");
        wait_for(Duration::from_secs(10), "the monitor to exit", || {
            (!process_alive(pid)).then_some(())
        });
    }

    /// Sends one control command and returns the answer line.
    pub fn control(&self, command: &str) -> String {
        let stream = UnixStream::connect(self.state_dir().join("ctl")).expect("connecting to ctl");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        (&stream)
            .write_all(format!("{command}\n").as_bytes())
            .expect("sending a command");
        let mut answer = String::new();
        BufReader::new(&stream)
            .read_line(&mut answer)
            .expect("reading the answer");
        answer
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.runc(&["delete", "-f", &self.id]);
        // A monitor left running by a failed test is killed by its pid.
        let leftover = self
            .monitor_pid
            .filter(|&pid| process_alive(pid))
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = leftover {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// The launcher's status; None if it is still running after a while (as
/// the shell standing in for a daemon does).
fn launcher_exit(child: &mut Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads up to the first newline or end-of-file, failing after `timeout`.
pub fn read_line(fd: &OwnedFd, timeout: Duration) -> String {
    rustix::io::ioctl_fionbio(fd, true).expect("non-blocking");
    let deadline = Instant::now() + timeout;
    let mut text = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        assert!(!remaining.is_zero(), "no sync message within {timeout:?}");
        let wait = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        let _ = poll(&mut fds, Some(&wait));
        match rustix::io::read(fd, &mut buffer) {
            Ok(0) => break,
            Ok(count) => {
                text.extend_from_slice(&buffer[..count]);
                if text.contains(&b'\n') {
                    break;
                }
            }
            Err(Errno::AGAIN | Errno::INTR) => {}
            Err(errno) => panic!("reading the sync pipe: {errno}"),
        }
    }
    String::from_utf8(text).expect("the sync message is UTF-8")
}

/// The raw text of a top-level JSON field of the flat messages the monitor
/// writes (numbers, booleans, null; strings with their quotes).
pub fn json_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let start = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &json[start..];
    if rest.starts_with('"') {
        let mut escaped = false;
        for (offset, character) in rest.char_indices().skip(1) {
            match character {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => return Some(&rest[..=offset]),
                _ => escaped = false,
            }
        }
        None
    } else {
        let end = rest.find([',', '}'])?;
        Some(&rest[..end])
    }
}

pub fn wait_for<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Alive and not a zombie (the monitor's reaper may be an init that is slow
/// to reap).
pub fn process_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat_field(&stat, 3).is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

/// Field `n` (1-based, as in proc(5)) of /proc/PID/stat.
pub fn stat_field(stat: &str, n: usize) -> Option<String> {
    // The command name (field 2) is parenthesised and may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name
        .split(' ')
        .nth(n.checked_sub(3)?)
        .map(str::to_owned)
}

pub fn proc_status_kib(pid: i32, key: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub timestamp: String,
    pub stream: String,
    pub tag: String,
    pub content: Vec<u8>,
}

/// Parses a CRI log, checking the form of every record on the way.
pub fn log_records(path: &Path) -> Vec<Record> {
    let bytes =
        fs::read(path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    assert!(
        bytes.is_empty() || bytes.ends_with(b"\n"),
        "a log record is not newline-terminated"
    );
    let mut records = Vec::new();
    for line in bytes.split(|&byte| byte == b'\n') {
        if line.is_empty() {
            continue;
        }
        let mut fields = line.splitn(4, |&byte| byte == b' ');
        let mut field =
            || String::from_utf8(fields.next().expect("a field").to_vec()).expect("ASCII");
        let record = Record {
            timestamp: field(),
            stream: field(),
            tag: field(),
            content: fields.next().expect("content, maybe empty").to_vec(),
        };
        assert_timestamp(&record.timestamp);
        assert!(
            ["stdout", "stderr"].contains(&record.stream.as_str()),
            "{record:?}"
        );
        assert!(["P", "F"].contains(&record.tag.as_str()), "{record:?}");
        records.push(record);
    }
    records
}

/// `YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ`, UTC, nine fraction digits.
fn assert_timestamp(timestamp: &str) {
    let bytes = timestamp.as_bytes();
    let pattern = b"dddd-dd-ddTdd:dd:dd.dddddddddZ";
    assert_eq!(bytes.len(), pattern.len(), "timestamp {timestamp:?}");
    for (&byte, &expected) in bytes.iter().zip(pattern) {
        if expected == b'd' {
            assert!(byte.is_ascii_digit(), "timestamp {timestamp:?}");
        } else {
            assert_eq!(byte, expected, "timestamp {timestamp:?}");
        }
    }
}

/// Joins the records of one stream back into the bytes the container wrote:
/// `F` ends a line, `P` does not.
pub fn stream_text(records: &[Record], stream: &str) -> String {
    let mut text = Vec::new();
    for record in records.iter().filter(|record| record.stream == stream) {
        text.extend_from_slice(&record.content);
        if record.tag == "F" {
            text.push(b'\n');
        }
    }
    String::from_utf8(text).expect("test output is UTF-8")
}

/// Frame kinds of an attach connection (README, "Attach").
pub mod frame {
    pub const STDOUT: u8 = 1;
    pub const STDERR: u8 = 2;
    pub const EXIT: u8 = 3;
    pub const ERROR: u8 = 4;
    pub const STDIN: u8 = 16;
    pub const CLOSE_STDIN: u8 = 17;
    pub const RESIZE: u8 = 18;
}

/// One attach connection to a monitor.
pub struct Attachment {
    pub stream: UnixStream,
}

/// Everything an attach client received until end-of-file.
#[derive(Debug, Default)]
pub struct Transcript {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub errors: Vec<String>,
    /// The exit frame's JSON.
    pub exit: Option<String>,
}

impl Attachment {
    pub fn send(&self, kind: u8, payload: &[u8]) {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&u32::try_from(payload.len()).expect("small").to_be_bytes());
        bytes.extend_from_slice(payload);
        (&self.stream).write_all(&bytes).expect("sending a frame");
    }

    /// The next frame, or None at end-of-file; fails after `timeout`.
    pub fn next_frame(&self, timeout: Duration) -> Option<(u8, Vec<u8>)> {
        use std::io::Read;
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("timeout");
        let mut header = [0u8; 5];
        match (&self.stream).read_exact(&mut header) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(error) => panic!("reading a frame header: {error}"),
        }
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let mut payload = vec![0u8; length as usize];
        (&self.stream)
            .read_exact(&mut payload)
            .expect("reading a frame payload");
        Some((header[0], payload))
    }

    /// Reads frames until stdout holds `text`.
    pub fn wait_stdout(&self, text: &str, transcript: &mut Transcript) {
        while !String::from_utf8_lossy(&transcript.stdout).contains(text) {
            let frame = self
                .next_frame(Duration::from_secs(10))
                .unwrap_or_else(|| panic!("end of attach output before {text:?}: {transcript:?}"));
            transcript.add(frame);
        }
    }

    /// Reads frames until end-of-file.
    pub fn read_to_end(&self) -> Transcript {
        let mut transcript = Transcript::default();
        self.read_rest(&mut transcript);
        transcript
    }

    pub fn read_rest(&self, transcript: &mut Transcript) {
        while let Some(frame) = self.next_frame(Duration::from_secs(30)) {
            assert!(transcript.exit.is_none(), "a frame after the exit frame");
            transcript.add(frame);
        }
    }
}

impl Transcript {
    pub fn add(&mut self, (kind, payload): (u8, Vec<u8>)) {
        match kind {
            frame::STDOUT => self.stdout.extend_from_slice(&payload),
            frame::STDERR => self.stderr.extend_from_slice(&payload),
            frame::EXIT => {
                self.exit = Some(String::from_utf8(payload).expect("exit frame is UTF-8"))
            }
            frame::ERROR => self
                .errors
                .push(String::from_utf8(payload).expect("error frame is UTF-8")),
            other => panic!("unknown frame kind {other} from the monitor"),
        }
    }
}

impl Container {
    /// Connects to the control socket and sends `attach`. The answer is read
    /// a byte at a time, so no frame is consumed with it.
    pub fn attach(&self) -> Attachment {
        use std::io::Read;
        let stream = UnixStream::connect(self.state_dir().join("ctl")).expect("connecting to ctl");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        (&stream).write_all(b"attach\n").expect("sending attach");
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while answer.last() != Some(&b'\n') {
            (&stream).read_exact(&mut byte).expect("reading the answer");
            answer.push(byte[0]);
        }
        assert_eq!(answer, b"ok\n", "attach refused");
        Attachment { stream }
    }
}
