use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

use super::*;

fn pty() -> (OwnedFd, fs::File) {
    let pair = open_pty(WindowSize { rows: 24, cols: 80 }).expect("open a pty");
    (pair.master, fs::File::from(pair.slave))
}

#[test]
fn a_new_pty_has_the_size_asked_for_and_carries_bytes_both_ways() {
    let size = WindowSize {
        rows: 33,
        cols: 120,
    };
    let pair = open_pty(size).expect("open a pty");
    assert_eq!(window_size(&pair.slave).expect("get"), size);
    let mut master = fs::File::from(pair.master);
    let mut slave = fs::File::from(pair.slave);
    slave.write_all(b"out").expect("write the slave");
    let mut buffer = [0u8; 3];
    master.read_exact(&mut buffer).expect("read the master");
    assert_eq!(&buffer, b"out");
    master.write_all(b"in\n").expect("write the master");
    let mut line = [0u8; 3];
    slave.read_exact(&mut line).expect("read the slave");
    assert_eq!(&line, b"in\n");
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
