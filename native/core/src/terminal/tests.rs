use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

use super::*;

fn pty() -> (OwnedFd, fs::File) {
    let master =
        openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let slave = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().expect("a pts path is ASCII"))
        .expect("open the slave");
    (master, slave)
}

#[test]
fn a_size_set_on_the_master_is_what_the_slave_sees() {
    let (master, slave) = pty();
    let size = WindowSize {
        rows: 40,
        cols: 132,
    };
    set_window_size(&master, size).expect("set");
    assert_eq!(window_size(&slave).expect("get"), size);

    let wide = WindowSize {
        rows: 1,
        cols: u16::MAX,
    };
    set_window_size_of_raw(master.as_raw_fd(), wide).expect("set by number");
    assert_eq!(window_size(&slave).expect("get"), wide);
}

#[test]
fn a_pipe_is_not_a_terminal() {
    let (read, _write) = std::io::pipe().expect("pipe");
    let size = WindowSize { rows: 24, cols: 80 };
    let error = set_window_size(&read, size).expect_err("not a tty");
    assert_eq!(error.code(), "ERR_TERMINAL_NOT_A_TTY");
    let error = set_window_size_of_raw(read.as_raw_fd(), size).expect_err("not a tty");
    assert_eq!(error.code(), "ERR_TERMINAL_NOT_A_TTY");
    assert!(error.to_string().contains(&read.as_raw_fd().to_string()));
}

#[test]
fn a_number_naming_no_descriptor_is_a_bad_descriptor() {
    let size = WindowSize { rows: 24, cols: 80 };
    for fd in [-1, i32::MAX] {
        let error = set_window_size_of_raw(fd, size).expect_err("no such fd");
        assert_eq!(error.code(), "ERR_TERMINAL_BAD_FD", "{fd}");
    }
}
