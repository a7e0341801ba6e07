//! Port-forward's connection: a TCP connection to localhost:PORT made inside
//! a pod's network namespace, as containerd's and CRI-O's port-forwarders
//! make it. A socket belongs for good to the namespace it was created in, so
//! a short-lived thread of our own joins the namespace (setns), creates and
//! connects the socket, and exits with its namespace; the descriptor works
//! from any thread afterwards. No other thread, and above all no Node
//! thread, changes namespace.
//!
//! localhost is 127.0.0.1 first and ::1 when that fails, since a server in
//! the pod may listen on either (containerd dials `tcp4` then `tcp6`).

use std::fmt;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType, connect, socket_with, sockopt};
use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

use crate::readiness::wait_until;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    /// A network namespace file (a pin under the pod's directory, or
    /// `/proc/PID/ns/net`); None to connect in the daemon's own namespace,
    /// as for a pod on the host network.
    pub netns: Option<PathBuf>,
    pub port: u16,
    /// For both attempts together.
    pub timeout: Duration,
}

/// Where the connection was attempted, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place(pub Option<PathBuf>);

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(path) => write!(f, "inside the network namespace {}", path.display()),
            None => f.write_str("in the host's network namespace"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetnsConnectError {
    #[error("port {port} is not a TCP port a server can listen on")]
    InvalidPort { port: u16 },
    #[error("opening the network namespace {path}")]
    OpenNetns {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("joining the network namespace {path}")]
    JoinNetns {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("connecting to localhost:{port} {place}: connection refused on 127.0.0.1 and ::1")]
    Refused { port: u16, place: Place },
    #[error("connecting to localhost:{port} {place}: no connection within {timeout:?}")]
    Timeout {
        port: u16,
        place: Place,
        timeout: Duration,
    },
    #[error("connecting to localhost:{port} {place}: {v4} on 127.0.0.1, {v6} on ::1")]
    Connect {
        port: u16,
        place: Place,
        v4: Errno,
        v6: Errno,
    },
    #[error("starting the namespace thread")]
    Thread {
        #[source]
        source: io::Error,
    },
    #[error("the namespace thread panicked")]
    Panic,
}

impl NetnsConnectError {
    /// Stable identifier for callers that branch on the kind of failure; the
    /// message may change, these may not.
    pub fn code(&self) -> &'static str {
        match self {
            NetnsConnectError::InvalidPort { .. } => "ERR_NETNS_CONNECT_INVALID_PORT",
            NetnsConnectError::OpenNetns { .. } | NetnsConnectError::JoinNetns { .. } => {
                "ERR_NETNS_CONNECT_NETNS"
            }
            NetnsConnectError::Refused { .. } => "ERR_NETNS_CONNECT_REFUSED",
            NetnsConnectError::Timeout { .. } => "ERR_NETNS_CONNECT_TIMEOUT",
            NetnsConnectError::Connect { .. } => "ERR_NETNS_CONNECT",
            NetnsConnectError::Thread { .. } | NetnsConnectError::Panic => {
                "ERR_NETNS_CONNECT_THREAD"
            }
        }
    }
}

/// Connects to localhost:`port` inside `request.netns` and returns the
/// connected socket: close-on-exec and non-blocking. Blocks the calling
/// thread until connected or `request.timeout` passes, but never moves it
/// into another namespace: with a namespace the work runs on a thread of
/// its own, so any thread may call this.
pub fn connect_in_netns(request: &ConnectRequest) -> Result<OwnedFd, NetnsConnectError> {
    if request.port == 0 {
        return Err(NetnsConnectError::InvalidPort { port: 0 });
    }
    let deadline = Instant::now()
        .checked_add(request.timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
    let Some(path) = request.netns.clone() else {
        return connect_localhost(request, deadline);
    };
    let for_thread = request.clone();
    thread::Builder::new()
        .name("crion-netns-dial".to_owned())
        .spawn(move || {
            join_netns(&path)?;
            connect_localhost(&for_thread, deadline)
        })
        .map_err(|source| NetnsConnectError::Thread { source })?
        .join()
        .map_err(|_| NetnsConnectError::Panic)?
}

/// Moves the calling thread into the network namespace at `path`; only
/// the thread `connect_in_netns` starts calls it.
fn join_netns(path: &Path) -> Result<(), NetnsConnectError> {
    let file = File::open(path).map_err(|source| NetnsConnectError::OpenNetns {
        path: path.to_owned(),
        source,
    })?;
    // Naming the type makes the kernel refuse any other kind of namespace
    // file (EINVAL) instead of joining, say, a mount namespace.
    move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network)).map_err(|source| {
        NetnsConnectError::JoinNetns {
            path: path.to_owned(),
            source,
        }
    })
}

fn connect_localhost(
    request: &ConnectRequest,
    deadline: Instant,
) -> Result<OwnedFd, NetnsConnectError> {
    let port = request.port;
    let place = || Place(request.netns.clone());
    let timeout = || NetnsConnectError::Timeout {
        port,
        place: place(),
        timeout: request.timeout,
    };
    let v4 = match connect_to(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), deadline) {
        Ok(socket) => return Ok(socket),
        Err(Errno::TIMEDOUT) => return Err(timeout()),
        Err(errno) => errno,
    };
    let v6 = match connect_to(SocketAddr::from((Ipv6Addr::LOCALHOST, port)), deadline) {
        Ok(socket) => return Ok(socket),
        Err(Errno::TIMEDOUT) => return Err(timeout()),
        Err(errno) => errno,
    };
    // ::1 missing (IPv6 disabled in the pod) says no more than a refusal.
    let refused_v6 = matches!(
        v6,
        Errno::CONNREFUSED | Errno::ADDRNOTAVAIL | Errno::AFNOSUPPORT | Errno::NETUNREACH
    );
    if v4 == Errno::CONNREFUSED && refused_v6 {
        return Err(NetnsConnectError::Refused {
            port,
            place: place(),
        });
    }
    Err(NetnsConnectError::Connect {
        port,
        place: place(),
        v4,
        v6,
    })
}

/// A non-blocking connect, waited for until `deadline`; TIMEDOUT when it
/// passes first.
fn connect_to(address: SocketAddr, deadline: Instant) -> Result<OwnedFd, Errno> {
    let family = match address {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let socket = socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    match connect(&socket, &address) {
        Ok(()) => return Ok(socket),
        Err(Errno::INPROGRESS | Errno::INTR) => {}
        Err(errno) => return Err(errno),
    }
    if !wait_until(&socket, PollFlags::OUT, deadline)? {
        return Err(Errno::TIMEDOUT);
    }
    sockopt::socket_error(&socket)?.map(|()| socket)
}

#[cfg(test)]
mod tests;
