//! The console socket of an exec with a terminal (`runc exec --tty
//! --console-socket PATH`): runc connects, sends the pty master with
//! SCM_RIGHTS (the pty's name as the payload) and goes on. The daemon binds
//! the socket before it starts runc and takes the master with a timeout, so
//! a runc that dies before sending cannot hold the exec forever.
//!
//! crion-monitor has its own console socket for containers created with a
//! terminal; this one differs in waiting with a deadline and in being
//! closable from another thread while a receive waits.

use std::fs;
use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, Shutdown, SocketAddrUnix,
    SocketFlags, SocketType, accept_with, bind, listen, recvmsg, shutdown, socket_with,
};

use crate::readiness::wait_until;

/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;
/// runc sends the pty's name (`/dev/pts/N`); it is read and dropped.
const MAX_NAME_BYTES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleSocketError {
    #[error(
        "console socket path {path} is {length} bytes, longer than the {MAX_SOCKET_PATH} a unix \
         socket address holds"
    )]
    PathTooLong { path: PathBuf, length: usize },
    #[error("{action} the console socket {path}")]
    Socket {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no terminal arrived on the console socket {path} within {timeout:?}")]
    Timeout { path: PathBuf, timeout: Duration },
    #[error("a connection to the console socket {path} sent no file descriptor")]
    NoDescriptor { path: PathBuf },
    #[error("the console socket {path} was closed")]
    Closed { path: PathBuf },
}

impl ConsoleSocketError {
    /// Stable identifier for callers that branch on the kind of failure; the
    /// message may change, these may not.
    pub fn code(&self) -> &'static str {
        match self {
            ConsoleSocketError::PathTooLong { .. } => "ERR_CONSOLE_SOCKET_PATH_TOO_LONG",
            ConsoleSocketError::Socket { .. } => "ERR_CONSOLE_SOCKET",
            ConsoleSocketError::Timeout { .. } => "ERR_CONSOLE_SOCKET_TIMEOUT",
            ConsoleSocketError::NoDescriptor { .. } => "ERR_CONSOLE_SOCKET_NO_DESCRIPTOR",
            ConsoleSocketError::Closed { .. } => "ERR_CONSOLE_SOCKET_CLOSED",
        }
    }
}

/// A listening unix socket, owner-only, whose file is removed by `close`
/// or on drop. Shared between threads: one may wait in `receive` while
/// another closes it.
#[derive(Debug)]
pub struct ConsoleSocket {
    path: PathBuf,
    listener: OwnedFd,
    closed: AtomicBool,
}

impl ConsoleSocket {
    /// Binds at `path`, replacing a socket file left there by a killed
    /// daemon; any other kind of file there is an error.
    pub fn bind(path: &Path) -> Result<Self, ConsoleSocketError> {
        let length = path.as_os_str().as_bytes().len();
        if length > MAX_SOCKET_PATH {
            return Err(ConsoleSocketError::PathTooLong {
                path: path.to_owned(),
                length,
            });
        }
        let error = |action: &'static str| {
            move |source: io::Error| ConsoleSocketError::Socket {
                action,
                path: path.to_owned(),
                source,
            }
        };
        let errno = |action: &'static str| move |source: Errno| error(action)(source.into());

        if let Ok(metadata) = fs::symlink_metadata(path)
            && metadata.file_type().is_socket()
        {
            fs::remove_file(path).map_err(error("removing the stale file of"))?;
        }
        let listener = socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(errno("creating"))?;
        let address = SocketAddrUnix::new(path).map_err(errno("making an address of"))?;
        bind(&listener, &address).map_err(errno("binding"))?;
        // From here on the file exists: dropping the socket removes it.
        let socket = ConsoleSocket {
            path: path.to_owned(),
            listener,
            closed: AtomicBool::new(false),
        };
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(error("restricting the permissions of"))?;
        listen(&socket.listener, 4).map_err(errno("listening on"))?;
        Ok(socket)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts one connection and takes the descriptor it sends, close-on-exec,
    /// waiting at most `timeout` in all. A connection that closes without a
    /// descriptor is `NoDescriptor`; a `close` from another thread ends the
    /// wait with `Closed`.
    pub fn receive(&self, timeout: Duration) -> Result<OwnedFd, ConsoleSocketError> {
        // An overflowing deadline is as good as none: a century from now.
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
        let connection = self.accept(deadline, timeout)?;
        let mut name = [0u8; MAX_NAME_BYTES];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        loop {
            self.wait(&connection, deadline, timeout)?;
            let mut control = RecvAncillaryBuffer::new(&mut space);
            match recvmsg(
                &connection,
                &mut [IoSliceMut::new(&mut name)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
            ) {
                Ok(_) => {
                    // A second descriptor (none is expected) is closed as
                    // the iterator drops it.
                    return control
                        .drain()
                        .find_map(|message| match message {
                            RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
                            _ => None,
                        })
                        .ok_or_else(|| ConsoleSocketError::NoDescriptor {
                            path: self.path.clone(),
                        });
                }
                Err(Errno::INTR | Errno::AGAIN) => {}
                Err(source) => return Err(self.io_error("receiving the terminal on", source)),
            }
        }
    }

    /// Removes the socket file and wakes a `receive` waiting on another
    /// thread; later receives fail with `Closed`. Closing twice is fine.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        // Shutting a listening socket down wakes its pollers and makes
        // accept fail (EINVAL), which the waiting receive reads as closed.
        let _ = shutdown(&self.listener, Shutdown::Both);
        let _ = fs::remove_file(&self.path);
    }

    fn accept(&self, deadline: Instant, timeout: Duration) -> Result<OwnedFd, ConsoleSocketError> {
        loop {
            self.wait(&self.listener, deadline, timeout)?;
            match accept_with(&self.listener, SocketFlags::CLOEXEC) {
                Ok(connection) => return Ok(connection),
                // Another receive took it, or the peer gave up before it
                // was accepted: wait for the next.
                Err(Errno::AGAIN | Errno::CONNABORTED | Errno::INTR) => {}
                Err(_) if self.is_closed() => return Err(self.closed_error()),
                Err(source) => return Err(self.io_error("accepting a connection on", source)),
            }
        }
    }

    fn wait(
        &self,
        fd: &OwnedFd,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), ConsoleSocketError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        match wait_until(fd, PollFlags::IN, deadline) {
            Ok(true) if self.is_closed() => Err(self.closed_error()),
            Ok(true) => Ok(()),
            Ok(false) => Err(ConsoleSocketError::Timeout {
                path: self.path.clone(),
                timeout,
            }),
            Err(source) => Err(self.io_error("waiting on", source)),
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn closed_error(&self) -> ConsoleSocketError {
        ConsoleSocketError::Closed {
            path: self.path.clone(),
        }
    }

    fn io_error(&self, action: &'static str, source: Errno) -> ConsoleSocketError {
        ConsoleSocketError::Socket {
            action,
            path: self.path.clone(),
            source: source.into(),
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests;
