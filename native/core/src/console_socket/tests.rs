use std::io::IoSlice;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread;

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use tempfile::TempDir;

use super::*;

/// A pty as runc makes one for `exec --tty`: the master to send, the slave
/// the process would get.
fn pty() -> (OwnedFd, fs::File) {
    let master =
        openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let slave = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(std::ffi::OsStr::from_bytes(name.as_bytes()))
        .expect("open the slave");
    (master, slave)
}

/// What runc does with the console socket: connect, send the master with
/// the pty's name, hang up.
fn send_like_runc(path: &Path, fd: &OwnedFd) {
    let client = UnixStream::connect(path).expect("connect");
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd.as_fd()];
    assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
    sendmsg(
        &client,
        &[IoSlice::new(b"/dev/pts/9")],
        &mut control,
        SendFlags::empty(),
    )
    .expect("send");
}

fn socket_in(dir: &TempDir) -> ConsoleSocket {
    ConsoleSocket::bind(&dir.path().join("console.sock")).expect("bind")
}

#[test]
fn takes_the_pty_master_a_sender_passes_later() {
    let dir = tempfile::tempdir().expect("temp dir");
    let console = socket_in(&dir);
    let mode = fs::metadata(console.path())
        .expect("socket file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let (master, mut slave) = pty();
    let path = console.path().to_owned();
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        send_like_runc(&path, &master);
    });
    let received = console.receive(Duration::from_secs(10)).expect("received");
    sender.join().expect("sender");

    let flags = rustix::io::fcntl_getfd(&received).expect("fd flags");
    assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
    rustix::io::write(&received, b"hi\n").expect("write to the master");
    let mut line = [0u8; 3];
    io::Read::read_exact(&mut slave, &mut line).expect("the slave reads it");
    assert_eq!(&line, b"hi\n");

    drop(console);
    assert!(!dir.path().join("console.sock").exists());
}

#[test]
fn nothing_sent_within_the_timeout_is_a_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let console = socket_in(&dir);
    let started = Instant::now();
    let error = console
        .receive(Duration::from_millis(100))
        .expect_err("nobody connected");
    assert_eq!(error.code(), "ERR_CONSOLE_SOCKET_TIMEOUT");
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(error.to_string().contains("console.sock"), "{error}");
}

#[test]
fn a_connection_that_sends_nothing_is_no_descriptor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let console = socket_in(&dir);
    drop(UnixStream::connect(console.path()).expect("connect"));
    let error = console
        .receive(Duration::from_secs(10))
        .expect_err("no descriptor");
    assert_eq!(error.code(), "ERR_CONSOLE_SOCKET_NO_DESCRIPTOR");
}

#[test]
fn closing_wakes_a_waiting_receive_and_removes_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let console = Arc::new(socket_in(&dir));
    let waiting = {
        let console = Arc::clone(&console);
        thread::spawn(move || console.receive(Duration::from_secs(60)))
    };
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    console.close();
    let error = waiting
        .join()
        .expect("receiver")
        .expect_err("closed while waiting");
    assert_eq!(error.code(), "ERR_CONSOLE_SOCKET_CLOSED");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!dir.path().join("console.sock").exists());
    console.close();
    let again = console.receive(Duration::from_secs(1)).expect_err("closed");
    assert_eq!(again.code(), "ERR_CONSOLE_SOCKET_CLOSED");
}

#[test]
fn replaces_a_stale_socket_but_no_other_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("console.sock");
    let stale = std::os::unix::net::UnixListener::bind(&path).expect("stale socket");
    drop(stale);
    let console = ConsoleSocket::bind(&path).expect("bind over a stale socket");
    drop(console);

    fs::write(&path, b"not a socket").expect("regular file");
    let error = ConsoleSocket::bind(&path).expect_err("a regular file stays");
    assert_eq!(error.code(), "ERR_CONSOLE_SOCKET");
    assert!(error.to_string().contains("console.sock"), "{error}");
    assert_eq!(fs::read(&path).expect("still there"), b"not a socket");
}

#[test]
fn a_path_too_long_for_a_socket_address_is_refused() {
    let path = PathBuf::from(format!("/tmp/{}", "x".repeat(120)));
    let error = ConsoleSocket::bind(&path).expect_err("too long");
    assert_eq!(error.code(), "ERR_CONSOLE_SOCKET_PATH_TOO_LONG");
}
