//! The control socket, `<state-dir>/ctl`: a unix stream socket taking one
//! command per line and answering each with one line, `ok` or
//! `error <message>`, once the command has taken effect. So when
//! ReopenContainerLog gets `ok` back for `reopen`, the new log file exists,
//! as the kubelet checks right after the call.
//!
//! Commands:
//!   reopen                  open the log path anew (after the kubelet renamed it)
//!   resize <rows> <cols>    set the terminal's window size (terminal mode)
//!
//! A few clients may be connected at once; each may send several commands.
//! The monitor never blocks on a client: one that sends an over-long line or
//! does not read its answers is disconnected.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::io::Errno;
use rustix::net::{SendFlags, send};

use crate::listener::{Listener, ListenerError};

/// The daemon needs one or two connections; more means something is wrong,
/// and each costs a buffer.
const MAX_CLIENTS: usize = 4;
const MAX_LINE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Reopen,
    Resize { rows: u16, columns: u16 },
}

pub fn parse_command(line: &[u8]) -> Result<Command, String> {
    let text = std::str::from_utf8(line).map_err(|_| "the command is not UTF-8".to_owned())?;
    let mut words = text.split_ascii_whitespace();
    let command = match words.next() {
        Some("reopen") => Command::Reopen,
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
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("empty command".to_owned()),
    };
    match words.next() {
        Some(extra) => Err(format!("unexpected argument {extra:?}")),
        None => Ok(command),
    }
}

struct Client {
    fd: OwnedFd,
    line: Vec<u8>,
    open: bool,
}

pub struct ControlServer {
    listener: Listener,
    clients: Vec<Client>,
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

    pub fn clients(&self) -> impl Iterator<Item = (usize, BorrowedFd<'_>)> {
        self.clients
            .iter()
            .enumerate()
            .map(|(index, client)| (index, client.fd.as_fd()))
    }

    /// Accepts every waiting connection; beyond the limit, a connection is
    /// told why and closed.
    pub fn accept(&mut self) -> Result<(), ListenerError> {
        while let Some(fd) = self.listener.accept()? {
            if self.clients.len() >= MAX_CLIENTS {
                reply(&fd, b"error too many control connections\n");
                continue;
            }
            if rustix::io::ioctl_fionbio(&fd, true).is_err() {
                continue;
            }
            self.clients.push(Client {
                fd,
                line: Vec::with_capacity(MAX_LINE),
                open: true,
            });
        }
        Ok(())
    }

    /// Reads what client `index` sent and runs each complete command through
    /// `execute`, answering `ok` or `error <message>`.
    pub fn serve(&mut self, index: usize, mut execute: impl FnMut(Command) -> Result<(), String>) {
        let Some(client) = self.clients.get_mut(index) else {
            return;
        };
        let mut buffer = [0u8; MAX_LINE];
        loop {
            let count = match rustix::io::read(&client.fd, &mut buffer) {
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
            for &byte in &buffer[..count] {
                if byte != b'\n' {
                    if client.line.len() == MAX_LINE {
                        reply(&client.fd, b"error command too long\n");
                        client.open = false;
                        return;
                    }
                    client.line.push(byte);
                    continue;
                }
                let answer = parse_command(&client.line).and_then(&mut execute);
                client.line.clear();
                let sent = match answer {
                    Ok(()) => reply(&client.fd, b"ok\n"),
                    Err(message) => {
                        let line = format!("error {}\n", message.replace('\n', " "));
                        reply(&client.fd, line.as_bytes())
                    }
                };
                if !sent {
                    client.open = false;
                    return;
                }
            }
        }
    }

    /// Forgets the clients that hung up or were disconnected.
    pub fn prune(&mut self) {
        self.clients.retain(|client| client.open);
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
    use std::io::{BufRead, BufReader, Write};
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
        assert!(parse_command(b"resize 24").is_err());
        assert!(parse_command(b"resize 24 x").is_err());
        assert!(parse_command(b"reopen now").is_err());
        assert!(parse_command(b"stop").is_err());
        assert!(parse_command(b"").is_err());
    }

    /// Polls the server until `client` has its answer line.
    fn answer(
        server: &mut ControlServer,
        reader: &mut BufReader<UnixStream>,
        executed: &mut Vec<Command>,
    ) -> String {
        for _ in 0..100 {
            server.accept().expect("accept");
            for index in 0..server.clients.len() {
                server.serve(index, |command| {
                    executed.push(command);
                    match command {
                        Command::Reopen => Ok(()),
                        Command::Resize { .. } => Err("the container has no\nterminal".to_owned()),
                    }
                });
            }
            server.prune();
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
        let mut executed = Vec::new();

        writer.write_all(b"reopen\n").expect("send");
        assert_eq!(answer(&mut server, &mut reader, &mut executed), "ok\n");
        writer.write_all(b"resize 10 20\nbogus\n").expect("send");
        assert_eq!(
            answer(&mut server, &mut reader, &mut executed),
            "error the container has no terminal\n"
        );
        assert_eq!(
            answer(&mut server, &mut reader, &mut executed),
            "error unknown command \"bogus\"\n"
        );
        assert_eq!(
            executed,
            vec![
                Command::Reopen,
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
            answer(&mut server, &mut reader, &mut Vec::new()),
            "error command too long\n"
        );
        assert_eq!(server.clients.len(), 0);
    }
}
