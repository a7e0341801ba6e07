//! `crion-monitor pod-init`: a pod's PID 1, in place of the pause container.
//! Starting pause costs a `runc create` and a `runc start` (about 90 ms); this
//! costs one exec. The process the daemon runs (the launcher) joins the pod's
//! namespaces, unshares a PID namespace, starts itself again as
//! `crion-monitor pod-init-serve` (the init, which becomes PID 1 there), waits
//! for the init to report, pins the PID namespace and prints
//! `{"pid":<init's host PID>}`. The init then outlives the launcher, as the
//! monitors do. See `pod_init/serve.rs` for what the init does.
//!
//! The launcher leaves cgroups alone: on cgroup v1, writing a PID to
//! `cgroup.procs` waits for an RCU grace period (~15 ms here, against ~3.8 ms
//! for the whole launch), so the daemon moves the init into the pod's cgroups
//! itself once it has the PID, off the pod start's critical path.
//!
//! On any failure the launcher leaves nothing behind: the init is killed and
//! reaped, and the pin is unmounted.
#![allow(unsafe_code)]

mod serve;

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::mount::{UnmountFlags, mount_bind, unmount};
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::thread::{LinkNameSpaceType, UnshareFlags, move_into_link_name_space};

use crate::cli::PodInitOptions;

pub use serve::serve;

/// The hidden first argument that makes the binary the init.
pub const SERVE_MODE: &str = "pod-init-serve";

/// The init's report on its stdout: this line, or `error <chain>`.
const READY: &[u8] = b"ready\n";
const ERROR_PREFIX: &str = "error ";

/// The init mounts one tmpfs and drops privileges; anything slower is stuck,
/// and the daemon should not wait on it forever.
const REPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum PodInitError {
    #[error("opening {flag} {path}")]
    OpenPin {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("--pid-pin {path} is not a regular file")]
    PidPinNotAFile { path: PathBuf },
    #[error("joining the namespace pinned at {flag} {path}")]
    Setns {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("unsharing the PID namespace")]
    UnsharePid(#[source] Errno),
    #[error("creating the report pipe")]
    Pipe(#[source] Errno),
    #[error("starting the init (/proc/self/exe)")]
    Spawn(#[source] io::Error),
    #[error("reading the init's report")]
    Report(#[source] Errno),
    #[error("the init did not report within {}s", REPORT_TIMEOUT.as_secs())]
    Timeout,
    #[error("the init exited before reporting ({status})")]
    InitExited { status: String },
    #[error("the init failed: {message}")]
    InitFailed { message: String },
    #[error("bind-mounting {source_path} onto --pid-pin {path}")]
    Pin {
        source_path: PathBuf,
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("writing the result to stdout")]
    Output(#[source] io::Error),
}

impl PodInitError {
    pub fn code(&self) -> &'static str {
        match self {
            PodInitError::OpenPin { .. } => "ERR_POD_INIT_OPEN_PIN",
            PodInitError::PidPinNotAFile { .. } => "ERR_POD_INIT_PID_PIN",
            PodInitError::Setns { .. } => "ERR_POD_INIT_SETNS",
            PodInitError::UnsharePid(_) => "ERR_POD_INIT_UNSHARE",
            PodInitError::Pipe(_) => "ERR_POD_INIT_PIPE",
            PodInitError::Spawn(_) => "ERR_POD_INIT_SPAWN",
            PodInitError::Report(_) => "ERR_POD_INIT_REPORT",
            PodInitError::Timeout => "ERR_POD_INIT_TIMEOUT",
            PodInitError::InitExited { .. } => "ERR_POD_INIT_EXITED",
            PodInitError::InitFailed { .. } => "ERR_POD_INIT_FAILED",
            PodInitError::Pin { .. } => "ERR_POD_INIT_PIN",
            PodInitError::Output(_) => "ERR_POD_INIT_OUTPUT",
        }
    }
}

struct NamespacePin {
    flag: &'static str,
    path: PathBuf,
    kind: LinkNameSpaceType,
    file: File,
}

/// Runs the launcher; on success the init is running and its host PID has
/// been printed.
pub fn launch(options: &PodInitOptions) -> Result<(), PodInitError> {
    let pins = open_pins(options)?;
    check_pid_pin(&options.pid_pin)?;
    // setns into these three types works from a multithreaded process too,
    // but the PID namespace applies to the children of the calling thread
    // only: the launcher never starts a thread, so it is the process's.
    for pin in &pins {
        move_into_link_name_space(pin.file.as_fd(), Some(pin.kind)).map_err(|source| {
            PodInitError::Setns {
                flag: pin.flag,
                path: pin.path.clone(),
                source,
            }
        })?;
    }
    drop(pins);
    // SAFETY: CLONE_NEWPID changes only which namespace this thread's next
    // children start in; it unshares no file descriptor table, which is what
    // makes unshare unsafe for other threads.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWPID) }
        .map_err(PodInitError::UnsharePid)?;

    let (report, report_writer) = pipe_with(PipeFlags::CLOEXEC).map_err(PodInitError::Pipe)?;
    // The Command owns the writer and drops it once the init has it, so the
    // launcher sees end-of-file if the init dies before reporting.
    let child = Command::new("/proc/self/exe")
        .arg0("crion-monitor")
        .arg(SERVE_MODE)
        // The daemon's environment is none of the pod's business.
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::from(report_writer))
        .stderr(Stdio::null())
        .spawn()
        .map_err(PodInitError::Spawn)?;
    let mut init = StartedInit {
        child,
        pin: None,
        released: false,
    };

    read_report(&report, &mut init)?;
    let pid = init.pid();
    let namespace = PathBuf::from(format!("/proc/{pid}/ns/pid"));
    mount_bind(&namespace, &options.pid_pin).map_err(|source| PodInitError::Pin {
        source_path: namespace,
        path: options.pid_pin.clone(),
        source,
    })?;
    init.pin = Some(options.pid_pin.clone());

    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{{\"pid\":{pid}}}")
        .and_then(|()| stdout.flush())
        .map_err(PodInitError::Output)?;
    init.release();
    Ok(())
}

fn open_pins(options: &PodInitOptions) -> Result<Vec<NamespacePin>, PodInitError> {
    [
        ("--netns", &options.netns, LinkNameSpaceType::Network),
        (
            "--ipcns",
            &options.ipcns,
            LinkNameSpaceType::InterProcessCommunication,
        ),
        (
            "--utsns",
            &options.utsns,
            LinkNameSpaceType::HostNameAndNISDomainName,
        ),
    ]
    .into_iter()
    .filter_map(|(flag, path, kind)| path.as_ref().map(|path| (flag, path, kind)))
    .map(|(flag, path, kind)| {
        let file = File::open(path).map_err(|source| PodInitError::OpenPin {
            flag,
            path: path.clone(),
            source,
        })?;
        Ok(NamespacePin {
            flag,
            path: path.clone(),
            kind,
            file,
        })
    })
    .collect()
}

/// A bind mount needs an existing target of the source's kind; checking it
/// before anything starts turns a late mount failure into an early, clear one.
fn check_pid_pin(path: &Path) -> Result<(), PodInitError> {
    let metadata = std::fs::symlink_metadata(path).map_err(|source| PodInitError::OpenPin {
        flag: "--pid-pin",
        path: path.to_owned(),
        source,
    })?;
    if metadata.is_file() {
        Ok(())
    } else {
        Err(PodInitError::PidPinNotAFile {
            path: path.to_owned(),
        })
    }
}

/// Waits for the init's one line and the end-of-file after it: the init
/// closes the pipe as the last step of its setup, so once this returns the
/// init holds nothing but its final descriptors. Whatever goes wrong, the
/// init is left to `StartedInit`'s drop to kill.
fn read_report(report: &OwnedFd, init: &mut StartedInit) -> Result<(), PodInitError> {
    let deadline = Instant::now() + REPORT_TIMEOUT;
    let mut line = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = Timespec::try_from(left).map_err(|_| PodInitError::Timeout)?;
        let mut fds = [PollFd::new(report, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Err(PodInitError::Timeout),
            Ok(_) | Err(Errno::INTR) => {}
            Err(errno) => return Err(PodInitError::Report(errno)),
        }
        match rustix::io::read(report, &mut buffer) {
            Ok(0) => break,
            Ok(count) => line.extend_from_slice(&buffer[..count]),
            Err(Errno::INTR | Errno::AGAIN) => {}
            Err(errno) => return Err(PodInitError::Report(errno)),
        }
    }
    if line == READY {
        return Ok(());
    }
    if line.is_empty() {
        return Err(PodInitError::InitExited {
            status: init.wait_description(),
        });
    }
    let message = line
        .strip_prefix(ERROR_PREFIX.as_bytes())
        .unwrap_or(&line)
        .trim_ascii_end();
    Err(PodInitError::InitFailed {
        message: String::from_utf8_lossy(message).into_owned(),
    })
}

/// The undo steps of a launch: unless released, dropping this kills and
/// reaps the init and unmounts the pin.
struct StartedInit {
    child: Child,
    pin: Option<PathBuf>,
    released: bool,
}

impl StartedInit {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_description(&mut self) -> String {
        match self.child.wait() {
            Ok(status) => status.to_string(),
            Err(error) => format!("its status is unknown: {error}"),
        }
    }

    fn release(mut self) {
        self.released = true;
    }
}

impl Drop for StartedInit {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Some(pin) = &self.pin {
            // Lazy: the daemon or runc may already hold the pin open.
            let _ = unmount(pin, UnmountFlags::DETACH);
        }
        // Both are no-ops on an init that was already reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
