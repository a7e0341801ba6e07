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

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::termios::{Winsize, tcsetwinsize};

use crate::cri_log::Stream;

/// The runtime's error output is kept to this much, so a runtime that floods
/// its stderr cannot grow the monitor; runc's messages are a line or two.
const RUNTIME_OUTPUT_LIMIT: usize = 16 * 1024;

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
}

impl ContainerIoError {
    pub fn code(&self) -> &'static str {
        match self {
            ContainerIoError::Pipe { .. } => "ERR_IO_PIPE",
            ContainerIoError::Duplicate(_) => "ERR_IO_DUPLICATE",
            ContainerIoError::Read { .. } => "ERR_IO_READ",
            ContainerIoError::NoTerminal => "ERR_IO_NO_TERMINAL",
            ContainerIoError::Resize(_) => "ERR_IO_RESIZE",
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
        let (read, write) =
            pipe_with(PipeFlags::CLOEXEC).map_err(|source| ContainerIoError::Pipe {
                stream: "stdin",
                source,
            })?;
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
            _stdin: self.stdin,
            terminal: None,
        }
    }

    /// Switches to the pty: the runtime's pipes are closed, since nothing but
    /// the runtime, which has exited, wrote to them.
    pub fn into_terminal(self, master: OwnedFd) -> Result<ContainerIo, ContainerIoError> {
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
            _stdin: None,
            terminal: Some(master),
        })
    }
}

struct Output {
    stream: Stream,
    /// None once the stream has ended.
    fd: Option<OwnedFd>,
}

pub struct ContainerIo {
    outputs: Vec<Output>,
    /// Held, never read or written here: an open write end is what keeps a
    /// `--stdin` container's reads blocking instead of seeing end-of-file.
    _stdin: Option<OwnedFd>,
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
