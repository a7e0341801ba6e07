//! Unix stream sockets the monitor listens on in the state directory (the
//! control socket, the console socket). Each is removed when dropped, so a
//! socket file in the state directory means a monitor is, or was killed
//! while, listening on it.

use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::net::{
    AddressFamily, SocketAddrUnix, SocketFlags, SocketType, bind, listen, socket_with,
};

/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error(
        "socket path {path} is {length} bytes, longer than the {MAX_SOCKET_PATH} a unix socket \
         address holds: use a shorter state directory"
    )]
    PathTooLong { path: PathBuf, length: usize },
    #[error("{action} {path}")]
    Socket {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl ListenerError {
    pub fn code(&self) -> &'static str {
        match self {
            ListenerError::PathTooLong { .. } => "ERR_SOCKET_PATH_TOO_LONG",
            ListenerError::Socket { .. } => "ERR_SOCKET",
        }
    }
}

pub struct Listener {
    path: PathBuf,
    fd: OwnedFd,
}

impl Listener {
    /// Binds a non-blocking, owner-only socket at `path`, replacing a socket
    /// file a killed monitor may have left there.
    pub fn bind(path: &Path) -> Result<Self, ListenerError> {
        let length = path.as_os_str().as_bytes().len();
        if length > MAX_SOCKET_PATH {
            return Err(ListenerError::PathTooLong {
                path: path.to_owned(),
                length,
            });
        }
        let error = |action: &'static str| {
            move |source: io::Error| ListenerError::Socket {
                action,
                path: path.to_owned(),
                source,
            }
        };
        let errno = |action: &'static str| move |source: Errno| error(action)(source.into());

        match fs::remove_file(path) {
            Ok(()) => {}
            Err(source) if source.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(error("removing the old socket")(source)),
        }
        let fd = socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(errno("creating a socket for"))?;
        let address = SocketAddrUnix::new(path).map_err(errno("making an address of"))?;
        bind(&fd, &address).map_err(errno("binding"))?;
        // From here on the file exists: dropping the listener removes it.
        let listener = Self {
            path: path.to_owned(),
            fd,
        };
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(error("restricting the permissions of"))?;
        listen(&listener.fd, 16).map_err(errno("listening on"))?;
        Ok(listener)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A connection waiting to be accepted, if any. Accepted sockets block;
    /// callers that must not wait set them non-blocking.
    pub fn accept(&self) -> Result<Option<OwnedFd>, ListenerError> {
        loop {
            return match rustix::net::accept_with(&self.fd, SocketFlags::CLOEXEC) {
                Ok(connection) => Ok(Some(connection)),
                Err(Errno::AGAIN) => Ok(None),
                // The peer gave up before it was accepted: try the next one.
                Err(Errno::CONNABORTED | Errno::INTR) => continue,
                Err(source) => Err(ListenerError::Socket {
                    action: "accepting a connection on",
                    path: self.path.clone(),
                    source: source.into(),
                }),
            };
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn accepts_connections_and_removes_its_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ctl");
        fs::write(&path, "stale").expect("stale file");
        let listener = Listener::bind(&path).expect("bind over a stale file");
        assert_eq!(
            fs::metadata(&path).expect("socket").permissions().mode() & 0o777,
            0o600
        );
        assert!(listener.accept().expect("accept").is_none());
        let _client = UnixStream::connect(&path).expect("connect");
        assert!(listener.accept().expect("accept").is_some());
        drop(listener);
        assert!(!path.exists());
    }

    #[test]
    fn refuses_paths_a_socket_address_cannot_hold() {
        let path = PathBuf::from(format!("/tmp/{}", "x".repeat(110)));
        let error = Listener::bind(&path).err().expect("too long");
        assert_eq!(error.code(), "ERR_SOCKET_PATH_TOO_LONG");
        assert!(error.to_string().contains(&path.display().to_string()));
    }
}
