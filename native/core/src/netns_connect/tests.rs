//! The tests that make a network namespace need root; without it each says
//! so and passes, since CI runs as root. The namespace is a pod's, made by
//! `namespaces` (so `lo` is up), and the servers listen inside it from a
//! test thread that joined it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use rustix::fs::OFlags;
use rustix::io::FdFlags;
use rustix::mount::{UnmountFlags, unmount};
use tempfile::TempDir;

use super::*;
use crate::namespaces::{
    PodNamespacesRequest, create_pod_namespaces, prepare_private_mount_dir, remove_pod_namespaces,
};

fn privileged() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("skipped: making a network namespace needs root");
    }
    root
}

/// A pod's pinned network namespace, unpinned on drop.
struct PodNetns {
    dir: TempDir,
    pin: PathBuf,
}

impl PodNetns {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("crion-netns-")
            .tempdir()
            .expect("scratch directory");
        prepare_private_mount_dir(dir.path()).expect("private mount");
        let made = create_pod_namespaces(&PodNamespacesRequest {
            dir: dir.path().to_owned(),
            net: true,
            ipc: false,
            uts: false,
            hostname: None,
            sysctls: vec![],
        })
        .expect("pod netns");
        let pin = made.net.expect("net pin");
        PodNetns { dir, pin }
    }

    /// A listener bound to `address` (port 0: any) inside the namespace.
    fn listen(&self, address: SocketAddr) -> io::Result<TcpListener> {
        let pin = self.pin.clone();
        thread::spawn(move || {
            join_netns(&pin).expect("join the pod's netns");
            TcpListener::bind(address)
        })
        .join()
        .expect("listener thread")
    }

    fn request(&self, port: u16) -> ConnectRequest {
        ConnectRequest {
            netns: Some(self.pin.clone()),
            port,
            timeout: Duration::from_secs(10),
        }
    }
}

impl Drop for PodNetns {
    fn drop(&mut self) {
        let _ = remove_pod_namespaces(self.dir.path());
        let _ = unmount(self.dir.path(), UnmountFlags::DETACH);
    }
}

fn port_of(listener: &TcpListener) -> u16 {
    listener.local_addr().expect("bound").port()
}

/// Sends a line through `socket` and checks that the server got it.
fn round_trip(socket: OwnedFd, listener: &TcpListener) {
    let mut client = TcpStream::from(socket);
    client
        .set_nonblocking(false)
        .expect("blocking for the test");
    client.write_all(b"ping\n").expect("write");
    let (mut server, _) = listener.accept().expect("accept");
    let mut got = [0u8; 5];
    server.read_exact(&mut got).expect("read");
    assert_eq!(&got, b"ping\n");
}

#[test]
fn connects_to_a_server_inside_the_pod() {
    if !privileged() {
        return;
    }
    let pod = PodNetns::new();
    let listener = pod
        .listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("listen");
    let socket = connect_in_netns(&pod.request(port_of(&listener))).expect("connected");
    let flags = rustix::fs::fcntl_getfl(&socket).expect("status flags");
    assert!(flags.contains(OFlags::NONBLOCK));
    let fd_flags = rustix::io::fcntl_getfd(&socket).expect("fd flags");
    assert!(fd_flags.contains(FdFlags::CLOEXEC));
    round_trip(socket, &listener);
}

#[test]
fn falls_back_to_ipv6_localhost() {
    if !privileged() {
        return;
    }
    let pod = PodNetns::new();
    let listener = match pod.listen(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("skipped: no ::1 in a new network namespace here: {error}");
            return;
        }
    };
    let socket = connect_in_netns(&pod.request(port_of(&listener))).expect("connected");
    round_trip(socket, &listener);
}

#[test]
fn nothing_listening_is_refused_naming_port_and_namespace() {
    if !privileged() {
        return;
    }
    let pod = PodNetns::new();
    // A port just used, so surely free in this new namespace.
    let port = port_of(
        &pod.listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .expect("listen"),
    );
    let error = connect_in_netns(&pod.request(port)).expect_err("refused");
    assert_eq!(error.code(), "ERR_NETNS_CONNECT_REFUSED");
    let message = error.to_string();
    assert!(message.contains(&format!("localhost:{port}")), "{message}");
    assert!(
        message.contains(&pod.pin.display().to_string()),
        "{message}"
    );
}

#[test]
fn a_server_on_the_host_is_not_reachable_from_the_pod() {
    if !privileged() {
        return;
    }
    let pod = PodNetns::new();
    let host = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("listen on the host");
    let error = connect_in_netns(&pod.request(port_of(&host))).expect_err("other namespace");
    assert_eq!(error.code(), "ERR_NETNS_CONNECT_REFUSED");
}

#[test]
fn many_connections_at_once() {
    if !privileged() {
        return;
    }
    let pod = Arc::new(PodNetns::new());
    let listener = pod
        .listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("listen");
    let port = port_of(&listener);
    let dialers: Vec<_> = (0..64)
        .map(|_| {
            let pod = Arc::clone(&pod);
            thread::spawn(move || connect_in_netns(&pod.request(port)))
        })
        .collect();
    let sockets: Vec<OwnedFd> = dialers
        .into_iter()
        .map(|dialer| dialer.join().expect("dialer").expect("connected"))
        .collect();
    for _ in &sockets {
        listener.accept().expect("accept");
    }
}

#[test]
fn a_connection_that_is_never_accepted_times_out() {
    if !privileged() {
        return;
    }
    let pod = PodNetns::new();
    let listener = pod
        .listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("listen");
    rustix::net::listen(&listener, 0).expect("shrink the backlog");
    let port = port_of(&listener);
    // Fill the accept queue: past it the kernel drops the handshake, and
    // the connect waits.
    let mut held = Vec::new();
    let timeout = Duration::from_millis(300);
    let error = loop {
        let request = ConnectRequest {
            timeout,
            ..pod.request(port)
        };
        match connect_in_netns(&request) {
            Ok(socket) if held.len() < 16 => held.push(socket),
            Ok(_) => panic!("the accept queue never filled"),
            Err(error) => break error,
        }
    };
    assert_eq!(error.code(), "ERR_NETNS_CONNECT_TIMEOUT", "{error}");
}

#[test]
fn the_host_namespace_needs_no_thread_and_no_root() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("listen");
    let request = ConnectRequest {
        netns: None,
        port: port_of(&listener),
        timeout: Duration::from_secs(10),
    };
    round_trip(connect_in_netns(&request).expect("connected"), &listener);
}

#[test]
fn a_file_that_is_no_network_namespace_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing");
    let regular = dir.path().join("regular");
    std::fs::write(&regular, b"").expect("file");
    for path in [missing, regular] {
        let error = connect_in_netns(&ConnectRequest {
            netns: Some(path.clone()),
            port: 80,
            timeout: Duration::from_secs(1),
        })
        .expect_err("not a netns");
        assert_eq!(error.code(), "ERR_NETNS_CONNECT_NETNS");
        assert!(error.to_string().contains(&path.display().to_string()));
    }
}

#[test]
fn port_zero_is_invalid() {
    let error = connect_in_netns(&ConnectRequest {
        netns: None,
        port: 0,
        timeout: Duration::from_secs(1),
    })
    .expect_err("port 0");
    assert_eq!(error.code(), "ERR_NETNS_CONNECT_INVALID_PORT");
}
