//! One container's monitor, from `runtime create` to the exit file.
//!
//! `start` does everything that can fail the CreateContainer call: the log,
//! the sockets, the pipes, `runtime create`, the container's pid. Its error
//! goes to the daemon over the sync channel. `run` is the rest of the
//! container's life: one `poll` over SIGCHLD, the container's output and the
//! control socket, until the container's init has been reaped; then the
//! output still buffered is logged and the exit file written.
//!
//! The control socket is served only from `run`, when the container's PID
//! is known (in create and restore mode alike): a client that connects
//! earlier waits in the socket's backlog, so `signal` always has a PID.

use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use rustix::process::{Pid, getpid};

use crate::attach;
use crate::child_reaper::{ContainerProcess, ExitStatus, ReaperError};
use crate::cli::Options;
use crate::console::{ConsoleError, ConsoleSocket};
use crate::container_io::{self, ContainerIo, ContainerIoError, ReadOutcome};
use crate::control::{self, Command, ControlServer, Handler};
use crate::cri_log::{CriLog, CriLogError};
use crate::exit_file::{self, ExitFileError, ExitRecord};
use crate::listener::ListenerError;
use crate::oci_runtime::{CreateRequest, RuntimeError};
use crate::oom::{OomCounter, OomError};
use crate::signals::{ChildSignals, SignalError};
use crate::timestamp::Timestamp;

/// One read of container output; matches the default line limit, and pipes
/// hold 64 KiB, so a busy container is drained in a few rounds.
const READ_BUFFER: usize = 16 * 1024;

/// How long attach clients still connected at exit may take to read the
/// rest of the output and the exit frame: the monitor's exit (which the
/// daemon watches) waits that long at most for a client that does not read.
const EXIT_FLUSH: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Signals(#[from] SignalError),
    #[error(transparent)]
    Log(#[from] CriLogError),
    #[error(transparent)]
    Io(#[from] ContainerIoError),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error(transparent)]
    Control(#[from] ListenerError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Reaper(#[from] ReaperError),
    #[error(transparent)]
    Oom(#[from] OomError),
    #[error(transparent)]
    ExitFile(#[from] ExitFileError),
    #[error("{action} {path}")]
    StateFile {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the runtime's pid file {path} holds {content:?}, not a process id")]
    PidFileContent { path: PathBuf, content: String },
    #[error("waiting for events")]
    Poll(#[source] Errno),
}

impl MonitorError {
    pub fn code(&self) -> &'static str {
        match self {
            MonitorError::Signals(error) => error.code(),
            MonitorError::Log(error) => error.code(),
            MonitorError::Io(error) => error.code(),
            MonitorError::Console(error) => error.code(),
            MonitorError::Control(error) => error.code(),
            MonitorError::Runtime(error) => error.code(),
            MonitorError::Reaper(error) => error.code(),
            MonitorError::Oom(error) => error.code(),
            MonitorError::ExitFile(error) => error.code(),
            MonitorError::StateFile { .. } => "ERR_STATE_FILE",
            MonitorError::PidFileContent { .. } => "ERR_PID_FILE_CONTENT",
            MonitorError::Poll(_) => "ERR_POLL",
        }
    }

    /// The runtime's exit code and output, when `runtime create` failed.
    pub fn runtime_failure(&self) -> Option<(i32, &str)> {
        match self {
            MonitorError::Runtime(RuntimeError::CreateFailed { status, output, .. }) => {
                let code = match *status {
                    ExitStatus::Exited(code) => code,
                    ExitStatus::Signaled(signal) => 128 + signal,
                };
                Some((code, output))
            }
            _ => None,
        }
    }
}

pub struct Monitor {
    signals: ChildSignals,
    log: CriLog,
    io: ContainerIo,
    control: ControlServer,
    container: ContainerProcess,
    /// The counter and its value once the cgroup existed.
    oom: Option<(OomCounter, u64)>,
    exit_file: PathBuf,
    /// Set while log writes fail, so a full disk is reported once.
    log_failing: bool,
}

/// Creates the container. Runs in the detached monitor, which is already a
/// subreaper: the container's init becomes its child as the runtime exits.
pub fn start(options: &Options) -> Result<Monitor, MonitorError> {
    // Before any child exists, so no exit goes unseen.
    let signals = ChildSignals::block()?;
    let log = CriLog::open(&options.log_path, options.log_max_line)?;
    let control = ControlServer::bind(&options.control_socket())?;
    let console = if options.terminal {
        Some(ConsoleSocket::bind(&options.console_socket())?)
    } else {
        None
    };
    let (pending, runtime_stdio) = container_io::prepare(options.stdin && !options.terminal)?;

    let pid_file = options.container_pid_file();
    let request = CreateRequest {
        runtime: &options.runtime,
        root: options.runtime_root.as_deref(),
        extra_args: &options.runtime_args,
        log: &options.runtime_log(),
        bundle: &options.bundle,
        pid_file: &pid_file,
        console_socket: console.as_ref().map(ConsoleSocket::path),
        id: &options.id,
        restore_from: options.restore_from.as_deref(),
        work_dir: &options.state_dir,
    };
    let status = request.run(runtime_stdio)?;
    if status != ExitStatus::Exited(0) {
        return Err(request.failed(status, pending.runtime_output()).into());
    }

    let io = match console {
        Some(console) => pending.into_terminal(console.receive_master()?, options.stdin)?,
        None => pending.into_pipes(),
    };
    let container = ContainerProcess::adopt(read_pid_file(&pid_file)?)?;
    let oom = match &options.cgroup_memory {
        Some(dir) => {
            let counter = OomCounter::open(dir)?;
            let before = counter.read()?;
            Some((counter, before))
        }
        None => None,
    };
    write_state_file(
        &options.monitor_pid_file(),
        format!("{}\n", getpid().as_raw_nonzero()).as_bytes(),
    )?;

    Ok(Monitor {
        signals,
        log,
        io,
        control,
        container,
        oom,
        exit_file: options.exit_file.clone(),
        log_failing: false,
    })
}

fn read_pid_file(path: &Path) -> Result<Pid, MonitorError> {
    let content = fs::read_to_string(path).map_err(|source| MonitorError::StateFile {
        action: "reading the runtime's pid file",
        path: path.to_owned(),
        source,
    })?;
    content
        .trim()
        .parse::<i32>()
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| MonitorError::PidFileContent {
            path: path.to_owned(),
            content,
        })
}

/// Written beside and renamed into place, so a reader never sees half a pid.
fn write_state_file(path: &Path, content: &[u8]) -> Result<(), MonitorError> {
    let error = |action| {
        move |source| MonitorError::StateFile {
            action,
            path: path.to_owned(),
            source,
        }
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    fs::write(&temporary, content).map_err(error("writing"))?;
    fs::rename(&temporary, path).map_err(error("renaming into place"))
}

#[derive(Clone, Copy)]
enum Source {
    Signals,
    Output(usize),
    Listener,
    Client(usize),
    /// The container's stdin can take queued attach input.
    Stdin,
}

/// Bounds the final drain, in reads per output: what a container wrote
/// before exiting is at most a pipe's or a pty's buffer, but a process left
/// behind in a shared PID namespace could keep writing for ever.
const DRAIN_READS: usize = 64;

impl Monitor {
    pub fn container_pid(&self) -> i32 {
        self.container.pid().as_raw_nonzero().get()
    }

    /// Runs until the container's init has exited and the exit file is
    /// written. Failures to log or to serve a client are reported on stderr
    /// and do not stop the monitor: a container must not lose its exit
    /// record over a full disk.
    pub fn run(mut self) -> Result<ExitRecord, MonitorError> {
        let mut buffer = vec![0u8; READ_BUFFER];
        let mut exit = None;
        let (status, exited_at) = loop {
            // The round goes on after the container is reaped, so a command
            // that came with its exit (a StopContainer racing it) is still
            // answered; `signal` then sends nothing and answers `ok`.
            for (source, revents) in self.wait()? {
                match source {
                    Source::Signals => {
                        self.signals.drain()?;
                        if let Some(status) = self.container.reap_exited()? {
                            exit = Some((status, Timestamp::now()));
                        }
                    }
                    Source::Output(index) => {
                        self.pump(index, &mut buffer);
                    }
                    Source::Listener => {
                        // Out of descriptors, say: the container must not
                        // lose its monitor over it.
                        if let Err(error) = self.control.accept() {
                            crate::report(&error);
                        }
                    }
                    Source::Client(index) => {
                        let mut requests = Requests {
                            log: &mut self.log,
                            io: &mut self.io,
                            container: &self.container,
                        };
                        self.control.serve(index, revents, &mut requests);
                    }
                    Source::Stdin => {
                        if let Err(error) = self.io.flush_stdin() {
                            crate::report(&error);
                        }
                    }
                }
            }
            self.control.prune();
            if let Some(exit) = exit {
                break exit;
            }
        };

        // What the container wrote before it exited is in the pipes or the
        // pty's buffer by now: log it before the exit is declared.
        let outputs: Vec<usize> = self.io.open_outputs().map(|(index, _)| index).collect();
        for index in outputs {
            for _ in 0..DRAIN_READS {
                if !self.pump(index, &mut buffer) {
                    break;
                }
            }
        }
        if let Err(error) = self.log.sync() {
            crate::report(&error);
        }
        let oom_killed = match &self.oom {
            Some((counter, before)) => match counter.read() {
                Ok(after) => after > *before,
                Err(error) => {
                    crate::report(&error);
                    false
                }
            },
            None => false,
        };
        let record = ExitRecord {
            status,
            oom_killed,
            exited_at,
        };
        // No more control requests: the socket goes before the exit file
        // appears, so a daemon that sees the exit file finds no socket.
        let attached = self.control.close();
        exit_file::write(&self.exit_file, &record)?;
        let exit = record.to_json();
        control::send_exit(attached, exit.trim_end().as_bytes(), EXIT_FLUSH);
        Ok(record)
    }

    /// Waits for the next events, returning their sources and what poll
    /// reported for each.
    fn wait(&self) -> Result<Vec<(Source, PollFlags)>, MonitorError> {
        let watched: Vec<(Source, BorrowedFd<'_>, PollFlags)> =
            std::iter::once((Source::Signals, self.signals.as_fd(), PollFlags::IN))
                .chain(
                    self.io
                        .open_outputs()
                        .map(|(index, fd)| (Source::Output(index), fd, PollFlags::IN)),
                )
                .chain(std::iter::once((
                    Source::Listener,
                    self.control.listener(),
                    PollFlags::IN,
                )))
                .chain(
                    self.control
                        .clients(self.io.stdin_room())
                        .map(|(index, fd, flags)| (Source::Client(index), fd, flags)),
                )
                .chain(
                    self.io
                        .stdin_waiting()
                        .map(|fd| (Source::Stdin, fd, PollFlags::OUT)),
                )
                .collect();
        let mut fds: Vec<PollFd<'_>> = watched
            .iter()
            .map(|(_, fd, flags)| PollFd::from_borrowed_fd(*fd, *flags))
            .collect();
        loop {
            match poll(&mut fds, None) {
                Ok(_) => break,
                Err(Errno::INTR) => {}
                Err(errno) => return Err(MonitorError::Poll(errno)),
            }
        }
        // Hang-ups and errors count as ready: the read that follows sees them.
        Ok(fds
            .iter()
            .zip(&watched)
            .filter(|(fd, _)| !fd.revents().is_empty())
            .map(|(fd, (source, _, _))| (*source, fd.revents()))
            .collect())
    }

    /// Logs one read of output `index` and hands it to the attach clients;
    /// false when there was nothing to read.
    fn pump(&mut self, index: usize, buffer: &mut [u8]) -> bool {
        match self.io.read(index, buffer) {
            Ok(ReadOutcome::Data(stream, count)) => {
                self.control
                    .broadcast(attach::output_kind(stream), &buffer[..count]);
                match self.log.write(stream, &buffer[..count], Timestamp::now()) {
                    Ok(()) => self.log_failing = false,
                    // Once per run of failures, not once per read.
                    Err(error) if !self.log_failing => {
                        crate::report(&error);
                        self.log_failing = true;
                    }
                    Err(_) => {}
                }
                true
            }
            Ok(ReadOutcome::Empty | ReadOutcome::Ended) => false,
            Err(error) => {
                crate::report(&error);
                false
            }
        }
    }
}

/// What control clients act on.
struct Requests<'a> {
    log: &'a mut CriLog,
    io: &'a mut ContainerIo,
    container: &'a ContainerProcess,
}

impl Handler for Requests<'_> {
    fn command(&mut self, command: Command) -> Result<(), String> {
        match command {
            Command::Reopen => self
                .log
                .reopen()
                .map_err(|error| crate::error_chain(&error)),
            Command::Resize { rows, columns } => self
                .io
                .resize(rows, columns)
                .map_err(|error| crate::error_chain(&error)),
            Command::Signal(number) => self
                .container
                .signal(number)
                .map_err(|error| crate::error_chain(&error)),
            // The control server switches the connection itself.
            Command::Attach => Ok(()),
        }
    }

    fn stdin_room(&self) -> Option<usize> {
        self.io.stdin_room()
    }

    fn write_stdin(&mut self, data: &[u8]) {
        if let Err(error) = self.io.write_stdin(data) {
            crate::report(&error);
        }
    }

    fn close_stdin(&mut self) {
        if let Err(error) = self.io.close_stdin() {
            crate::report(&error);
        }
    }
}
