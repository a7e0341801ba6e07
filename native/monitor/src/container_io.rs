//! The container's stdio, owned by the monitor.
//!
//! Without a terminal the runtime is started with three pipes the monitor
//! made: stdin (the read end of a pipe whose write end the monitor keeps, with
//! `--stdin`; /dev/null otherwise), stdout and stderr (their read ends stay
//! here). `runc create` hands its own stdio to the container, so the same
//! pipes become the container's. Until the runtime exits, anything on them is
//! the runtime's own output, which is how its error message is caught.
//!
//! With a terminal the container's stdio is the pty the runtime sends over
//! the console socket; the master carries stdout and stderr combined (logged
//! as stdout, as the kubelet expects for tty containers) and stdin. The
//! runtime's pipes then only ever carry the runtime's own output.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::termios::{Winsize, tcsetwinsize};

use crate::cri_log::Stream;

/// The runtime's error output is kept to this much, so a runtime that floods
/// its stderr cannot grow the monitor; runc's messages are a line or two.
const RUNTIME_OUTPUT_LIMIT: usize = 16 * 1024;

/// Stdin from attach clients waiting for the container to read it. When it
/// is full the monitor stops reading the clients (backpressure) rather than
/// dropping keystrokes.
pub const STDIN_LIMIT: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ContainerIoError {
    #[error("creating a pipe for the container's {stream}")]
    Pipe {
        stream: &'static str,
        #[source]
        source: Errno,
    },
    #[error("duplicating the terminal master")]
    Duplicate(#[source] io::Error),
    #[error("reading the container's {stream}")]
    Read {
        stream: &'static str,
        #[source]
        source: Errno,
    },
    #[error("the container has no terminal")]
    NoTerminal,
    #[error("resizing the container's terminal")]
    Resize(#[source] Errno),
    #[error("writing the container's stdin")]
    Write(#[source] Errno),
}

impl ContainerIoError {
    pub fn code(&self) -> &'static str {
        match self {
            ContainerIoError::Pipe { .. } => "ERR_IO_PIPE",
            ContainerIoError::Duplicate(_) => "ERR_IO_DUPLICATE",
            ContainerIoError::Read { .. } => "ERR_IO_READ",
            ContainerIoError::NoTerminal => "ERR_IO_NO_TERMINAL",
            ContainerIoError::Resize(_) => "ERR_IO_RESIZE",
            ContainerIoError::Write(_) => "ERR_IO_WRITE",
        }
    }
}

/// The runtime's end of the pipes, to be given to `Command`.
pub struct RuntimeStdio {
    /// None: /dev/null.
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// The monitor's ends, while `runtime create` runs.
pub struct PendingIo {
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

/// Makes the pipes. `keep_stdin` gives the container a stdin pipe that stays
/// open for as long as the monitor runs (the terminal's master serves as
/// stdin in terminal mode, so it is not asked for then).
pub fn prepare(keep_stdin: bool) -> Result<(PendingIo, RuntimeStdio), ContainerIoError> {
    let (stdout, stdout_child) = output_pipe("stdout")?;
    let (stderr, stderr_child) = output_pipe("stderr")?;
    let (stdin, stdin_child) = if keep_stdin {
        let pipe_error = |source| ContainerIoError::Pipe {
            stream: "stdin",
            source,
        };
        let (read, write) = pipe_with(PipeFlags::CLOEXEC).map_err(pipe_error)?;
        // The monitor's end only: the container's reads still block.
        rustix::io::ioctl_fionbio(&write, true).map_err(pipe_error)?;
        (Some(write), Some(read))
    } else {
        (None, None)
    };
    Ok((
        PendingIo {
            stdin,
            stdout,
            stderr,
        },
        RuntimeStdio {
            stdin: stdin_child,
            stdout: stdout_child,
            stderr: stderr_child,
        },
    ))
}

/// A pipe whose read end (the monitor's) does not block and whose write end
/// (the container's) does: the container must wait for a slow log, not lose
/// output to EAGAIN. O_NONBLOCK is per open file, and each end is its own.
fn output_pipe(stream: &'static str) -> Result<(OwnedFd, OwnedFd), ContainerIoError> {
    let pipe_error = |source| ContainerIoError::Pipe { stream, source };
    let (read, write) = pipe_with(PipeFlags::CLOEXEC).map_err(pipe_error)?;
    rustix::io::ioctl_fionbio(&read, true).map_err(pipe_error)?;
    Ok((read, write))
}

impl PendingIo {
    /// What the runtime wrote before it exited, stderr then stdout: its
    /// explanation of a failed create. Only what is already in the pipes is
    /// read, so a container process still holding them cannot stall this.
    pub fn runtime_output(&self) -> String {
        let mut collected = Vec::new();
        for fd in [&self.stderr, &self.stdout] {
            let mut buffer = [0u8; 4096];
            while collected.len() < RUNTIME_OUTPUT_LIMIT {
                match rustix::io::read(fd, &mut buffer) {
                    Ok(0) => break,
                    Ok(count) => collected.extend_from_slice(&buffer[..count]),
                    Err(Errno::INTR) => {}
                    Err(_) => break,
                }
            }
        }
        collected.truncate(RUNTIME_OUTPUT_LIMIT);
        String::from_utf8_lossy(&collected).into_owned()
    }

    pub fn into_pipes(self) -> ContainerIo {
        ContainerIo {
            outputs: vec![
                Output {
                    stream: Stream::Stdout,
                    fd: Some(self.stdout),
                },
                Output {
                    stream: Stream::Stderr,
                    fd: Some(self.stderr),
                },
            ],
            stdin: self.stdin.map(StdinSink::Pipe),
            stdin_queue: VecDeque::new(),
            closing_stdin: false,
            terminal: None,
        }
    }

    /// Switches to the pty: the runtime's pipes are closed, since nothing but
    /// the runtime, which has exited, wrote to them. With `stdin`, attach
    /// clients' stdin is written to the master.
    pub fn into_terminal(
        self,
        master: OwnedFd,
        stdin: bool,
    ) -> Result<ContainerIo, ContainerIoError> {
        rustix::io::ioctl_fionbio(&master, true).map_err(|source| ContainerIoError::Read {
            stream: "terminal",
            source,
        })?;
        let output = master.try_clone().map_err(ContainerIoError::Duplicate)?;
        Ok(ContainerIo {
            outputs: vec![Output {
                stream: Stream::Stdout,
                fd: Some(output),
            }],
            stdin: stdin.then_some(StdinSink::Terminal),
            stdin_queue: VecDeque::new(),
            closing_stdin: false,
            terminal: Some(master),
        })
    }
}

struct Output {
    stream: Stream,
    /// None once the stream has ended.
    fd: Option<OwnedFd>,
}

/// Where attach clients' stdin goes.
enum StdinSink {
    /// The write end of the container's stdin pipe. Held open even when
    /// nobody is attached: that is what keeps a `--stdin` container's reads
    /// blocking instead of seeing end-of-file.
    Pipe(OwnedFd),
    /// The pty master (`ContainerIo::terminal`).
    Terminal,
}

pub struct ContainerIo {
    outputs: Vec<Output>,
    /// None without `--stdin`, and once stdin is closed.
    stdin: Option<StdinSink>,
    /// Accepted stdin the container has not taken yet, at most STDIN_LIMIT.
    stdin_queue: VecDeque<u8>,
    /// Close stdin once the queue is written.
    closing_stdin: bool,
    /// The pty master, kept for resizing (and as stdin) after its output
    /// duplicate has ended.
    terminal: Option<OwnedFd>,
}

pub enum ReadOutcome {
    Data(Stream, usize),
    /// Nothing to read now.
    Empty,
    /// The stream has ended; it is no longer polled.
    Ended,
}

impl ContainerIo {
    /// The outputs still open, by index, for `poll`.
    pub fn open_outputs(&self) -> impl Iterator<Item = (usize, BorrowedFd<'_>)> {
        self.outputs
            .iter()
            .enumerate()
            .filter_map(|(index, output)| Some((index, output.fd.as_ref()?.as_fd())))
    }

    pub fn read(
        &mut self,
        index: usize,
        buffer: &mut [u8],
    ) -> Result<ReadOutcome, ContainerIoError> {
        let Some(output) = self.outputs.get_mut(index) else {
            return Ok(ReadOutcome::Ended);
        };
        let Some(fd) = output.fd.as_ref() else {
            return Ok(ReadOutcome::Ended);
        };
        loop {
            return match rustix::io::read(fd, &mut *buffer) {
                Ok(0) | Err(Errno::IO) => {
                    // EOF on a pipe; EIO on a pty master once every slave
                    // descriptor is closed and the buffered output is read.
                    output.fd = None;
                    Ok(ReadOutcome::Ended)
                }
                Ok(count) => Ok(ReadOutcome::Data(output.stream, count)),
                Err(Errno::AGAIN) => Ok(ReadOutcome::Empty),
                Err(Errno::INTR) => continue,
                Err(source) => {
                    output.fd = None;
                    Err(ContainerIoError::Read {
                        stream: match output.stream {
                            Stream::Stdout => "stdout",
                            Stream::Stderr => "stderr",
                        },
                        source,
                    })
                }
            };
        }
    }

    /// How much more stdin may be queued; None when the container takes no
    /// stdin (no `--stdin`, or closed): what clients send is then dropped.
    pub fn stdin_room(&self) -> Option<usize> {
        if self.stdin.is_none() || self.closing_stdin {
            return None;
        }
        Some(STDIN_LIMIT.saturating_sub(self.stdin_queue.len()))
    }

    /// Queues stdin and writes what the container takes now. Callers stay
    /// within `stdin_room`; bytes sent while stdin is closed are dropped.
    pub fn write_stdin(&mut self, data: &[u8]) -> Result<(), ContainerIoError> {
        if self.stdin_room().is_none() {
            return Ok(());
        }
        self.stdin_queue.extend(data.iter().copied());
        self.flush_stdin()
    }

    /// Closes stdin once what is queued has been written: the container then
    /// reads end-of-file. In terminal mode the pty stays (it also carries the
    /// output); only further stdin is refused.
    pub fn close_stdin(&mut self) -> Result<(), ContainerIoError> {
        if self.stdin.is_some() {
            self.closing_stdin = true;
        }
        self.flush_stdin()
    }

    /// The descriptor to wait on for writability while stdin is queued.
    pub fn stdin_waiting(&self) -> Option<BorrowedFd<'_>> {
        if self.stdin_queue.is_empty() {
            return None;
        }
        match self.stdin.as_ref()? {
            StdinSink::Pipe(fd) => Some(fd.as_fd()),
            StdinSink::Terminal => self.terminal.as_ref().map(AsFd::as_fd),
        }
    }

    /// Writes queued stdin without waiting. A container that closed its
    /// stdin (EPIPE) loses what was queued, and stdin is closed.
    pub fn flush_stdin(&mut self) -> Result<(), ContainerIoError> {
        let result = loop {
            let fd = match self.stdin.as_ref() {
                None => break Ok(()),
                Some(StdinSink::Pipe(fd)) => fd.as_fd(),
                Some(StdinSink::Terminal) => match self.terminal.as_ref() {
                    Some(master) => master.as_fd(),
                    None => break Ok(()),
                },
            };
            let (front, _) = self.stdin_queue.as_slices();
            if front.is_empty() {
                break Ok(());
            }
            match rustix::io::write(fd, front) {
                Ok(written) => {
                    self.stdin_queue.drain(..written);
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => break Ok(()),
                Err(errno) => {
                    self.closing_stdin = true;
                    self.stdin_queue.clear();
                    break if errno == Errno::PIPE {
                        Ok(())
                    } else {
                        Err(ContainerIoError::Write(errno))
                    };
                }
            }
        };
        if self.stdin_queue.is_empty() {
            if self.stdin_queue.capacity() > 16 * 1024 {
                self.stdin_queue = VecDeque::new();
            }
            if self.closing_stdin {
                self.stdin = None;
            }
        }
        result
    }

    pub fn resize(&self, rows: u16, columns: u16) -> Result<(), ContainerIoError> {
        let master = self.terminal.as_ref().ok_or(ContainerIoError::NoTerminal)?;
        tcsetwinsize(
            master,
            Winsize {
                ws_row: rows,
                ws_col: columns,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )
        .map_err(ContainerIoError::Resize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;

    #[test]
    fn pipes_carry_each_stream_until_its_writer_closes() {
        let (pending, stdio) = prepare(false).expect("pipes");
        assert!(stdio.stdin.is_none());
        let mut io = pending.into_pipes();
        let mut buffer = [0u8; 64];
        assert!(matches!(
            io.read(0, &mut buffer).expect("read"),
            ReadOutcome::Empty
        ));

        File::from(stdio.stderr)
            .write_all(b"oops\n")
            .expect("write");
        match io.read(1, &mut buffer).expect("read") {
            ReadOutcome::Data(Stream::Stderr, 5) => assert_eq!(&buffer[..5], b"oops\n"),
            _ => panic!("expected 5 bytes of stderr"),
        }
        assert!(matches!(
            io.read(1, &mut buffer).expect("read"),
            ReadOutcome::Ended
        ));
        assert_eq!(
            io.open_outputs()
                .map(|(index, _)| index)
                .collect::<Vec<_>>(),
            vec![0]
        );

        drop(stdio.stdout);
        assert!(matches!(
            io.read(0, &mut buffer).expect("read"),
            ReadOutcome::Ended
        ));
        assert_eq!(io.open_outputs().count(), 0);
    }

    #[test]
    fn runtime_output_reads_what_is_there_without_blocking() {
        let (pending, stdio) = prepare(false).expect("pipes");
        // The runtime's ends stay open, yet nothing blocks.
        assert_eq!(pending.runtime_output(), "");
        File::from(stdio.stderr)
            .write_all(b"no such file\n")
            .expect("write");
        File::from(stdio.stdout)
            .write_all(b"warning\n")
            .expect("write");
        assert_eq!(pending.runtime_output(), "no such file\nwarning\n");
    }

    #[test]
    fn queued_stdin_reaches_the_pipe_and_close_follows_it() {
        let (pending, stdio) = prepare(true).expect("pipes");
        let mut io = pending.into_pipes();
        let reader = stdio.stdin.expect("stdin pipe");
        assert_eq!(io.stdin_room(), Some(STDIN_LIMIT));
        io.write_stdin(b"hello").expect("write");
        // More than the pipe holds: the rest waits in the queue.
        io.write_stdin(&vec![b'x'; STDIN_LIMIT * 3 / 4])
            .expect("write");
        io.write_stdin(&vec![b'x'; STDIN_LIMIT * 3 / 4])
            .expect("write");
        assert!(io.stdin_waiting().is_some());
        io.close_stdin().expect("close");
        assert_eq!(io.stdin_room(), None, "no stdin after close-stdin");
        let mut total = 0;
        let mut buffer = vec![0u8; 8192];
        loop {
            let count = rustix::io::read(&reader, &mut buffer).expect("read");
            if total == 0 {
                assert_eq!(&buffer[..5], b"hello");
            }
            if count == 0 {
                break;
            }
            total += count;
            io.flush_stdin().expect("flush");
        }
        assert_eq!(total, 5 + STDIN_LIMIT * 3 / 2);
        assert!(io.stdin_waiting().is_none());
    }

    #[test]
    fn stdin_to_a_container_without_one_is_dropped() {
        let (pending, _stdio) = prepare(false).expect("pipes");
        let mut io = pending.into_pipes();
        assert_eq!(io.stdin_room(), None);
        io.write_stdin(b"ignored").expect("dropped quietly");
        assert!(io.stdin_waiting().is_none());
    }

    #[test]
    fn stdin_is_a_pipe_only_when_asked_for() {
        let (pending, stdio) = prepare(true).expect("pipes");
        assert!(stdio.stdin.is_some());
        let io = pending.into_pipes();
        assert_eq!(
            io.resize(24, 80).expect_err("no pty").code(),
            "ERR_IO_NO_TERMINAL"
        );
    }
}
