//! The console socket of terminal mode: the runtime (`--console-socket`)
//! connects, sends the pty master with SCM_RIGHTS and exits. The connection
//! and its message wait in the socket's queue, so the monitor collects the
//! master after `runtime create` has returned, without a thread or a loop.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};

use crate::listener::{Listener, ListenerError};

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Listener(#[from] ListenerError),
    #[error("the runtime did not connect to the console socket {path}")]
    NoConnection { path: PathBuf },
    #[error("receiving the terminal on the console socket {path}")]
    Receive {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("the runtime sent no file descriptor on the console socket {path}")]
    NoDescriptor { path: PathBuf },
}

impl ConsoleError {
    pub fn code(&self) -> &'static str {
        match self {
            ConsoleError::Listener(error) => error.code(),
            ConsoleError::NoConnection { .. } => "ERR_CONSOLE_NO_CONNECTION",
            ConsoleError::Receive { .. } => "ERR_CONSOLE_RECEIVE",
            ConsoleError::NoDescriptor { .. } => "ERR_CONSOLE_NO_DESCRIPTOR",
        }
    }
}

pub struct ConsoleSocket {
    listener: Listener,
}

impl ConsoleSocket {
    pub fn bind(path: &Path) -> Result<Self, ConsoleError> {
        Ok(Self {
            listener: Listener::bind(path)?,
        })
    }

    pub fn path(&self) -> &Path {
        self.listener.path()
    }

    /// Takes the pty master the runtime sent; the socket file goes with self.
    pub fn receive_master(self) -> Result<OwnedFd, ConsoleError> {
        let path = || self.listener.path().to_owned();
        let connection = self
            .listener
            .accept()?
            .ok_or_else(|| ConsoleError::NoConnection { path: path() })?;
        // runc sends the name of the pty with it; it is not needed.
        let mut name = [0u8; 256];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        loop {
            match recvmsg(
                &connection,
                &mut [IoSliceMut::new(&mut name)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            ) {
                Ok(_) => break,
                Err(Errno::INTR) => {}
                Err(source) => {
                    return Err(ConsoleError::Receive {
                        path: path(),
                        source,
                    });
                }
            }
        }
        control
            .drain()
            .find_map(|message| match message {
                RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
                _ => None,
            })
            .ok_or_else(|| ConsoleError::NoDescriptor { path: path() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
    use std::io::IoSlice;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn receives_a_descriptor_sent_before_it_was_accepted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let console = ConsoleSocket::bind(&dir.path().join("console.sock")).expect("bind");
        let (read, write) = rustix::pipe::pipe().expect("pipe");

        let client = UnixStream::connect(console.path()).expect("connect");
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        let fds = [write.as_fd()];
        assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
        sendmsg(
            &client,
            &[IoSlice::new(b"/dev/pts/9")],
            &mut control,
            SendFlags::empty(),
        )
        .expect("send");
        drop(client);
        drop(write);

        let received = console.receive_master().expect("received");
        rustix::io::write(&received, b"x").expect("the received end writes into the pipe");
        let mut buffer = [0u8; 1];
        assert_eq!(rustix::io::read(&read, &mut buffer).expect("read"), 1);
        assert!(!dir.path().join("console.sock").exists());
    }

    #[test]
    fn a_runtime_that_never_connected_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let console = ConsoleSocket::bind(&dir.path().join("console.sock")).expect("bind");
        let error = console.receive_master().expect_err("nobody connected");
        assert_eq!(error.code(), "ERR_CONSOLE_NO_CONNECTION");
    }

    #[test]
    fn a_message_without_a_descriptor_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let console = ConsoleSocket::bind(&dir.path().join("console.sock")).expect("bind");
        let client = UnixStream::connect(console.path()).expect("connect");
        drop(client);
        let error = console.receive_master().expect_err("no descriptor");
        assert_eq!(error.code(), "ERR_CONSOLE_NO_DESCRIPTOR");
    }
}
