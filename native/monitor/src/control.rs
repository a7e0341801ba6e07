//! The control socket, `<state-dir>/ctl`: a unix stream socket taking one
//! command per line and answering each with one line, `ok` or
//! `error <message>`, once the command has taken effect. So when
//! ReopenContainerLog gets `ok` back for `reopen`, the new log file exists,
//! as the kubelet checks right after the call.
//!
//! Commands:
//!   reopen                  open the log path anew (after the kubelet renamed it)
//!   resize <rows> <cols>    set the terminal's window size (terminal mode)
//!   attach                  turn this connection into the container's stdio
//!                           (framed; see attach.rs and the README)
//!   signal <number>         kill(2) the container's init with signal 1..=64;
//!                           `ok` too once it has exited (reaped or zombie),
//!                           since a late stop is no failure: its exit is in
//!                           the exit file. StopContainer uses it instead of
//!                           forking `runc kill` (~7-10 ms a call)
//!
//! A few command clients and up to MAX_ATTACHED attach clients may be
//! connected at once; each command client may send several commands. The
//! monitor never blocks on a client: one that sends an over-long line or
//! does not read its answers is disconnected, and an attach client that
//! does not read its output loses the oldest of it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{SendFlags, send};

use crate::attach::{self, ClientFrame, FrameDecoder, FrameQueue};
use crate::listener::{Listener, ListenerError};

/// The daemon needs one or two connections for commands; more means
/// something is wrong, and each costs a buffer.
const MAX_CLIENTS: usize = 4;
/// Attach sessions (kubectl attach, crictl attach) at once; each may hold
/// up to attach::OUTPUT_LIMIT of output it has not read yet.
pub const MAX_ATTACHED: usize = 16;
const MAX_LINE: usize = 256;
/// One read of an attach client's frames.
const ATTACH_READ: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Reopen,
    Resize {
        rows: u16,
        columns: u16,
    },
    Attach,
    /// A signal number, 1..=64 (the kernel's `_NSIG`).
    Signal(i32),
}

/// The highest signal number Linux has (SIGRTMAX); the real-time signals
/// are in range because an image's stop signal may be one (SIGRTMIN+3).
const MAX_SIGNAL: i32 = 64;

pub fn parse_command(line: &[u8]) -> Result<Command, String> {
    let text = std::str::from_utf8(line).map_err(|_| "the command is not UTF-8".to_owned())?;
    let mut words = text.split_ascii_whitespace();
    let command = match words.next() {
        Some("reopen") => Command::Reopen,
        Some("attach") => Command::Attach,
        Some("resize") => {
            let mut size = || -> Result<u16, String> {
                let word = words.next().ok_or("usage: resize <rows> <cols>")?;
                word.parse()
                    .map_err(|_| format!("{word:?} is not a terminal dimension"))
            };
            Command::Resize {
                rows: size()?,
                columns: size()?,
            }
        }
        Some("signal") => {
            let word = words.next().ok_or("usage: signal <number>")?;
            match word.parse() {
                Ok(number) if (1..=MAX_SIGNAL).contains(&number) => Command::Signal(number),
                _ => {
                    return Err(format!(
                        "{word:?} is not a signal number (1 to {MAX_SIGNAL})"
                    ));
                }
            }
        }
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("empty command".to_owned()),
    };
    match words.next() {
        Some(extra) => Err(format!("unexpected argument {extra:?}")),
        None => Ok(command),
    }
}

/// What the clients' requests act on: the monitor's log, the container's I/O
/// and its init.
pub trait Handler {
    /// `reopen`, `resize` (from a command line or a resize frame) or
    /// `signal`.
    fn command(&mut self, command: Command) -> Result<(), String>;
    /// How much stdin may be queued now; None when the container takes none.
    fn stdin_room(&self) -> Option<usize>;
    fn write_stdin(&mut self, data: &[u8]);
    fn close_stdin(&mut self);
}

struct Attached {
    decoder: FrameDecoder,
    output: FrameQueue,
    /// The peer hung up while its frames could not be read (no stdin room):
    /// it is not polled again until there is room, which avoids a busy loop
    /// on POLLHUP and still delivers the stdin it sent before leaving.
    hung_up: bool,
    /// Told once that its stdin is dropped.
    told_no_stdin: bool,
}

enum State {
    Commands { line: Vec<u8> },
    Attached(Box<Attached>),
}

struct Client {
    fd: OwnedFd,
    state: State,
    open: bool,
}

impl Client {
    fn attached(&self) -> Option<&Attached> {
        match &self.state {
            State::Attached(attached) => Some(attached),
            State::Commands { .. } => None,
        }
    }
}

pub struct ControlServer {
    listener: Listener,
    clients: Vec<Client>,
}

/// An attach client still connected when the container exited.
pub struct Departing {
    fd: OwnedFd,
    output: FrameQueue,
}

impl ControlServer {
    pub fn bind(path: &Path) -> Result<Self, ListenerError> {
        Ok(Self {
            listener: Listener::bind(path)?,
            clients: Vec::new(),
        })
    }

    pub fn listener(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// The clients to poll and for what. Attach clients are read only while
    /// their stdin has room (`stdin_room`, None meaning it is dropped anyway),
    /// and polled for writing while their output waits.
    pub fn clients(
        &self,
        stdin_room: Option<usize>,
    ) -> impl Iterator<Item = (usize, BorrowedFd<'_>, PollFlags)> {
        self.clients
            .iter()
            .enumerate()
            .filter_map(move |(index, client)| {
                let flags = match client.attached() {
                    None => PollFlags::IN,
                    Some(attached) => {
                        let mut flags = PollFlags::empty();
                        if stdin_room != Some(0) {
                            flags |= PollFlags::IN;
                        }
                        if !attached.output.is_empty() {
                            flags |= PollFlags::OUT;
                        }
                        if flags.is_empty() && attached.hung_up {
                            return None;
                        }
                        flags
                    }
                };
                Some((index, client.fd.as_fd(), flags))
            })
    }

    fn attached_count(&self) -> usize {
        self.clients
            .iter()
            .filter(|client| client.attached().is_some())
            .count()
    }

    /// Accepts every waiting connection; beyond the limit of command
    /// connections, a connection is told why and closed.
    pub fn accept(&mut self) -> Result<(), ListenerError> {
        while let Some(fd) = self.listener.accept()? {
            if self.clients.len() - self.attached_count() >= MAX_CLIENTS {
                reply(&fd, b"error too many control connections\n");
                continue;
            }
            if rustix::io::ioctl_fionbio(&fd, true).is_err() {
                continue;
            }
            self.clients.push(Client {
                fd,
                state: State::Commands {
                    line: Vec::with_capacity(MAX_LINE),
                },
                open: true,
            });
        }
        Ok(())
    }

    /// Serves client `index`, for which poll reported `revents`: sends its
    /// waiting output, reads what it sent and runs each complete command or
    /// frame through `handler`. Commands are answered `ok` or
    /// `error <message>`.
    pub fn serve(&mut self, index: usize, revents: PollFlags, handler: &mut impl Handler) {
        let attached_count = self.attached_count();
        let Some(client) = self.clients.get_mut(index) else {
            return;
        };
        if let State::Attached(attached) = &mut client.state
            && revents.contains(PollFlags::OUT)
            && attached.output.send_to(&client.fd).is_err()
        {
            client.open = false;
            return;
        }
        if !revents.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
            return;
        }
        let mut buffer = [0u8; ATTACH_READ];
        loop {
            let limit = match &mut client.state {
                State::Commands { .. } => MAX_LINE,
                State::Attached(attached) => match handler.stdin_room() {
                    Some(0) => {
                        if revents.intersects(PollFlags::HUP | PollFlags::ERR) {
                            attached.hung_up = true;
                        }
                        return;
                    }
                    Some(room) => room.min(ATTACH_READ),
                    None => ATTACH_READ,
                },
            };
            let count = match rustix::io::read(&client.fd, &mut buffer[..limit]) {
                // End-of-file: the client hung up, which detaches it.
                Ok(0) => {
                    client.open = false;
                    return;
                }
                Ok(count) => count,
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return,
                Err(_) => {
                    client.open = false;
                    return;
                }
            };
            let read = &buffer[..count];
            let frames = match &mut client.state {
                State::Attached(_) => read,
                State::Commands { line } => {
                    match read_commands(&client.fd, line, read, attached_count, handler) {
                        Lines::More => continue,
                        Lines::Failed => {
                            client.open = false;
                            return;
                        }
                        Lines::Attach(offset) => {
                            client.state = State::Attached(Box::new(Attached {
                                decoder: FrameDecoder::default(),
                                output: FrameQueue::new(attach::OUTPUT_LIMIT),
                                hung_up: false,
                                told_no_stdin: false,
                            }));
                            &read[offset..]
                        }
                    }
                }
            };
            if let State::Attached(attached) = &mut client.state {
                if !read_frames(attached, frames, handler) {
                    let _ = attached.output.send_to(&client.fd);
                    client.open = false;
                    return;
                }
                if attached.output.send_to(&client.fd).is_err() {
                    client.open = false;
                    return;
                }
            }
        }
    }

    /// Queues container output for every attach client and sends what each
    /// takes now. A client that lags loses its oldest output, never the log.
    pub fn broadcast(&mut self, kind: u8, data: &[u8]) {
        for client in &mut self.clients {
            if let State::Attached(attached) = &mut client.state {
                attached.output.push(kind, data);
                if attached.output.send_to(&client.fd).is_err() {
                    client.open = false;
                }
            }
        }
    }

    /// Forgets the clients that hung up or were disconnected.
    pub fn prune(&mut self) {
        self.clients.retain(|client| client.open);
    }

    /// Closes the socket (its file goes) and the command connections, and
    /// hands back the attach clients, which still have their output and the
    /// exit to receive.
    pub fn close(self) -> Vec<Departing> {
        self.clients
            .into_iter()
            .filter(|client| client.open)
            .filter_map(|client| match client.state {
                State::Attached(attached) => Some(Departing {
                    fd: client.fd,
                    output: attached.output,
                }),
                State::Commands { .. } => None,
            })
            .collect()
    }
}

enum Lines {
    /// All bytes taken; read on.
    More,
    /// The client is to be disconnected.
    Failed,
    /// `attach` was answered `ok`: the bytes from this offset are frames.
    Attach(usize),
}

/// Runs the complete command lines in `read`, answering each.
fn read_commands(
    fd: &OwnedFd,
    line: &mut Vec<u8>,
    read: &[u8],
    attached_count: usize,
    handler: &mut impl Handler,
) -> Lines {
    for (offset, &byte) in read.iter().enumerate() {
        if byte != b'\n' {
            if line.len() == MAX_LINE {
                reply(fd, b"error command too long\n");
                return Lines::Failed;
            }
            line.push(byte);
            continue;
        }
        let answer = parse_command(line);
        line.clear();
        let answer = match answer {
            Ok(Command::Attach) if attached_count >= MAX_ATTACHED => {
                Err(format!("too many attach clients (at most {MAX_ATTACHED})"))
            }
            Ok(Command::Attach) => {
                return if reply(fd, b"ok\n") {
                    Lines::Attach(offset + 1)
                } else {
                    Lines::Failed
                };
            }
            Ok(command) => handler.command(command),
            Err(message) => Err(message),
        };
        let sent = match answer {
            Ok(()) => reply(fd, b"ok\n"),
            Err(message) => {
                let line = format!("error {}\n", message.replace('\n', " "));
                reply(fd, line.as_bytes())
            }
        };
        if !sent {
            return Lines::Failed;
        }
    }
    Lines::More
}

/// Acts on the frames in `read`; false when the stream is broken (an error
/// frame saying why is queued).
fn read_frames(attached: &mut Attached, read: &[u8], handler: &mut impl Handler) -> bool {
    let Attached {
        decoder,
        output,
        told_no_stdin,
        ..
    } = attached;
    let decoded = decoder.feed(read, |frame| match frame {
        ClientFrame::Stdin(data) => {
            if handler.stdin_room().is_none() && !*told_no_stdin {
                *told_no_stdin = true;
                output.push(
                    attach::ERROR,
                    b"the container takes no stdin (no --stdin, or stdin is closed): stdin is dropped",
                );
            }
            handler.write_stdin(data);
        }
        ClientFrame::CloseStdin => handler.close_stdin(),
        ClientFrame::Resize { rows, columns } => {
            if let Err(message) = handler.command(Command::Resize { rows, columns }) {
                output.push(attach::ERROR, message.as_bytes());
            }
        }
    });
    match decoded {
        Ok(()) => true,
        Err(error) => {
            output.push(attach::ERROR, error.to_string().as_bytes());
            false
        }
    }
}

/// Gives the attach clients still connected at exit what is left of the
/// output and the exit frame (`exit` is the exit record's JSON), then closes
/// them, which they read as end-of-file. A client that does not read is
/// waited for no longer than `within`.
pub fn send_exit(mut clients: Vec<Departing>, exit: &[u8], within: Duration) {
    let deadline = Instant::now() + within;
    for client in &mut clients {
        client.output.push(attach::EXIT, exit);
    }
    loop {
        clients.retain_mut(|client| {
            client.output.send_to(&client.fd).is_ok() && !client.output.is_empty()
        });
        let left = deadline.saturating_duration_since(Instant::now());
        if clients.is_empty() || left.is_zero() {
            return;
        }
        let mut fds: Vec<PollFd<'_>> = clients
            .iter()
            .map(|client| PollFd::new(&client.fd, PollFlags::OUT))
            .collect();
        let timeout = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(_) => return,
        }
    }
}

/// Answers without waiting; false if the client cannot take the whole line.
fn reply(fd: &OwnedFd, line: &[u8]) -> bool {
    matches!(
        send(fd, line, SendFlags::DONTWAIT | SendFlags::NOSIGNAL),
        Ok(sent) if sent == line.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn parses_the_commands() {
        assert_eq!(parse_command(b"reopen"), Ok(Command::Reopen));
        assert_eq!(
            parse_command(b"resize 24 80"),
            Ok(Command::Resize {
                rows: 24,
                columns: 80
            })
        );
        assert_eq!(parse_command(b" reopen \r"), Ok(Command::Reopen));
        assert_eq!(parse_command(b"attach"), Ok(Command::Attach));
        assert!(parse_command(b"attach now").is_err());
        assert!(parse_command(b"resize 24").is_err());
        assert!(parse_command(b"resize 24 x").is_err());
        assert!(parse_command(b"reopen now").is_err());
        assert!(parse_command(b"stop").is_err());
        assert_eq!(parse_command(b"signal 15"), Ok(Command::Signal(15)));
        assert_eq!(parse_command(b"signal 1"), Ok(Command::Signal(1)));
        assert_eq!(parse_command(b"signal 64"), Ok(Command::Signal(64)));
        assert_eq!(
            parse_command(b"signal 0"),
            Err("\"0\" is not a signal number (1 to 64)".to_owned())
        );
        assert_eq!(
            parse_command(b"signal 65"),
            Err("\"65\" is not a signal number (1 to 64)".to_owned())
        );
        assert_eq!(
            parse_command(b"signal -9"),
            Err("\"-9\" is not a signal number (1 to 64)".to_owned())
        );
        assert_eq!(
            parse_command(b"signal TERM"),
            Err("\"TERM\" is not a signal number (1 to 64)".to_owned())
        );
        assert_eq!(
            parse_command(b"signal"),
            Err("usage: signal <number>".to_owned())
        );
        assert!(parse_command(b"signal 15 9").is_err());
        assert!(parse_command(b"signal 99999999999").is_err());
        assert!(parse_command(b"").is_err());
    }

    /// Records what the server asked of the container.
    #[derive(Default)]
    struct Recorder {
        executed: Vec<Command>,
        stdin: Vec<u8>,
        stdin_closed: bool,
        /// None: the container takes no stdin.
        room: Option<usize>,
    }

    impl Handler for Recorder {
        fn command(&mut self, command: Command) -> Result<(), String> {
            self.executed.push(command);
            match command {
                Command::Resize { .. } => Err("the container has no\nterminal".to_owned()),
                _ => Ok(()),
            }
        }
        fn stdin_room(&self) -> Option<usize> {
            self.room.map(|room| room.saturating_sub(self.stdin.len()))
        }
        fn write_stdin(&mut self, data: &[u8]) {
            if self.room.is_some() {
                self.stdin.extend_from_slice(data);
            }
        }
        fn close_stdin(&mut self) {
            self.stdin_closed = true;
        }
    }

    /// One round of the monitor's loop, polling nothing: every client is
    /// served as if readable and writable.
    fn round(server: &mut ControlServer, recorder: &mut Recorder) {
        server.accept().expect("accept");
        for index in 0..server.clients.len() {
            server.serve(index, PollFlags::IN | PollFlags::OUT, recorder);
        }
        server.prune();
    }

    /// Polls the server until `client` has its answer line.
    fn answer(
        server: &mut ControlServer,
        reader: &mut BufReader<UnixStream>,
        recorder: &mut Recorder,
    ) -> String {
        for _ in 0..100 {
            round(server, recorder);
            let mut line = String::new();
            if reader.read_line(&mut line).is_ok() && !line.is_empty() {
                return line;
            }
        }
        panic!("no answer");
    }

    /// A server on a socket in a temp dir (kept alive by the returned guard) and one client connected to it.
    fn connected() -> (
        tempfile::TempDir,
        ControlServer,
        UnixStream,
        BufReader<UnixStream>,
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ctl");
        let server = ControlServer::bind(&path).expect("bind");
        let client = UnixStream::connect(&path).expect("connect");
        client
            .set_read_timeout(Some(std::time::Duration::from_millis(20)))
            .expect("timeout");
        let writer = client.try_clone().expect("clone");
        (dir, server, writer, BufReader::new(client))
    }

    #[test]
    fn answers_each_command_on_its_connection() {
        let (_dir, mut server, mut writer, mut reader) = connected();
        let mut recorder = Recorder::default();

        writer.write_all(b"reopen\nsignal 10\n").expect("send");
        assert_eq!(answer(&mut server, &mut reader, &mut recorder), "ok\n");
        assert_eq!(answer(&mut server, &mut reader, &mut recorder), "ok\n");
        writer.write_all(b"signal 0\n").expect("send");
        assert_eq!(
            answer(&mut server, &mut reader, &mut recorder),
            "error \"0\" is not a signal number (1 to 64)\n"
        );
        writer.write_all(b"resize 10 20\nbogus\n").expect("send");
        assert_eq!(
            answer(&mut server, &mut reader, &mut recorder),
            "error the container has no terminal\n"
        );
        assert_eq!(
            answer(&mut server, &mut reader, &mut recorder),
            "error unknown command \"bogus\"\n"
        );
        assert_eq!(
            recorder.executed,
            vec![
                Command::Reopen,
                Command::Signal(10),
                Command::Resize {
                    rows: 10,
                    columns: 20
                }
            ]
        );
    }

    #[test]
    fn disconnects_a_client_that_never_ends_its_line() {
        let (_dir, mut server, mut writer, mut reader) = connected();
        writer.write_all(&[b'x'; MAX_LINE + 1]).expect("send");
        assert_eq!(
            answer(&mut server, &mut reader, &mut Recorder::default()),
            "error command too long\n"
        );
        assert_eq!(server.clients.len(), 0);
    }

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    /// Reads one frame, waiting for it through the server's rounds.
    fn next_frame(
        server: &mut ControlServer,
        reader: &mut BufReader<UnixStream>,
        recorder: &mut Recorder,
    ) -> (u8, Vec<u8>) {
        let mut header = [0u8; 5];
        for _ in 0..100 {
            round(server, recorder);
            if reader.read_exact(&mut header).is_ok() {
                let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
                let mut payload = vec![0u8; length as usize];
                reader.read_exact(&mut payload).expect("payload");
                return (header[0], payload);
            }
        }
        panic!("no frame");
    }

    #[test]
    fn attach_turns_the_connection_into_frames() {
        let (_dir, mut server, mut writer, mut reader) = connected();
        let mut recorder = Recorder {
            room: Some(1024),
            ..Recorder::default()
        };
        // The first frame may come in the same write as the command.
        let mut sent = b"attach\n".to_vec();
        sent.extend(frame(attach::STDIN, b"typed"));
        writer.write_all(&sent).expect("send");
        assert_eq!(answer(&mut server, &mut reader, &mut recorder), "ok\n");
        assert_eq!(server.attached_count(), 1);

        server.broadcast(attach::STDOUT, b"out");
        server.broadcast(attach::STDERR, b"err");
        assert_eq!(
            next_frame(&mut server, &mut reader, &mut recorder),
            (attach::STDOUT, b"out".to_vec())
        );
        assert_eq!(
            next_frame(&mut server, &mut reader, &mut recorder),
            (attach::STDERR, b"err".to_vec())
        );

        writer
            .write_all(
                &[
                    frame(attach::RESIZE, &[0, 1, 0, 2]),
                    frame(attach::CLOSE_STDIN, b""),
                ]
                .concat(),
            )
            .expect("send");
        // Resize fails in the recorder: the client hears why.
        assert_eq!(
            next_frame(&mut server, &mut reader, &mut recorder),
            (attach::ERROR, b"the container has no\nterminal".to_vec())
        );
        assert_eq!(recorder.stdin, b"typed");
        assert!(recorder.stdin_closed);
        assert_eq!(
            recorder.executed,
            vec![Command::Resize {
                rows: 1,
                columns: 2
            }]
        );

        // Detaching: the client goes, nothing else happens.
        drop(writer);
        drop(reader);
        round(&mut server, &mut recorder);
        assert_eq!(server.clients.len(), 0);
    }

    #[test]
    fn stdin_without_room_waits_in_the_socket() {
        let (_dir, mut server, mut writer, mut reader) = connected();
        let mut recorder = Recorder {
            room: Some(4),
            ..Recorder::default()
        };
        writer.write_all(b"attach\n").expect("send");
        assert_eq!(answer(&mut server, &mut reader, &mut recorder), "ok\n");
        writer
            .write_all(&frame(attach::STDIN, b"0123456789"))
            .expect("send");
        for _ in 0..10 {
            round(&mut server, &mut recorder);
        }
        // The header and 4 bytes of room: the rest stays unread.
        assert_eq!(recorder.stdin, b"0123");
        assert!(
            server
                .clients(recorder.stdin_room())
                .all(|(_, _, flags)| !flags.contains(PollFlags::IN))
        );
        recorder.room = Some(100);
        round(&mut server, &mut recorder);
        assert_eq!(recorder.stdin, b"0123456789");
    }

    #[test]
    fn stdin_to_a_container_without_stdin_is_answered_once() {
        let (_dir, mut server, mut writer, mut reader) = connected();
        let mut recorder = Recorder::default();
        writer.write_all(b"attach\n").expect("send");
        assert_eq!(answer(&mut server, &mut reader, &mut recorder), "ok\n");
        writer
            .write_all(&[frame(attach::STDIN, b"a"), frame(attach::STDIN, b"b")].concat())
            .expect("send");
        let (kind, _) = next_frame(&mut server, &mut reader, &mut recorder);
        assert_eq!(kind, attach::ERROR);
        server.broadcast(attach::STDOUT, b"after");
        assert_eq!(
            next_frame(&mut server, &mut reader, &mut recorder),
            (attach::STDOUT, b"after".to_vec())
        );
    }

    #[test]
    fn a_bad_frame_ends_the_attachment() {
        let (_dir, mut server, mut writer, mut reader) = connected();
        let mut recorder = Recorder::default();
        writer.write_all(b"attach\n").expect("send");
        assert_eq!(answer(&mut server, &mut reader, &mut recorder), "ok\n");
        writer.write_all(&frame(99, b"")).expect("send");
        let (kind, message) = next_frame(&mut server, &mut reader, &mut recorder);
        assert_eq!(
            (kind, message.as_slice()),
            (attach::ERROR, b"unknown frame kind 99".as_slice())
        );
        assert_eq!(server.clients.len(), 0);
    }

    #[test]
    fn attach_clients_do_not_count_against_the_command_limit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ctl");
        let mut server = ControlServer::bind(&path).expect("bind");
        let mut recorder = Recorder::default();
        let mut attached = Vec::new();
        for _ in 0..MAX_ATTACHED + 1 {
            let client = UnixStream::connect(&path).expect("connect");
            client
                .set_read_timeout(Some(std::time::Duration::from_millis(20)))
                .expect("timeout");
            (&client).write_all(b"attach\n").expect("send");
            let mut reader = BufReader::new(client.try_clone().expect("clone"));
            let answer = answer(&mut server, &mut reader, &mut recorder);
            attached.push((client, answer));
        }
        let answers: Vec<&str> = attached.iter().map(|(_, answer)| answer.as_str()).collect();
        assert!(
            answers[..MAX_ATTACHED]
                .iter()
                .all(|answer| *answer == "ok\n")
        );
        assert_eq!(
            answers[MAX_ATTACHED],
            "error too many attach clients (at most 16)\n"
        );
        // Commands still get through.
        let (_, mut writer, mut reader) = {
            let client = UnixStream::connect(&path).expect("connect");
            client
                .set_read_timeout(Some(std::time::Duration::from_millis(20)))
                .expect("timeout");
            let writer = client.try_clone().expect("clone");
            ((), writer, BufReader::new(client))
        };
        writer.write_all(b"reopen\n").expect("send");
        assert_eq!(answer(&mut server, &mut reader, &mut recorder), "ok\n");
    }
}
