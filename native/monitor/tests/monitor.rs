//! crion-monitor against real runc: each test builds a busybox bundle, starts
//! the monitor as the daemon would, runs `runc start` itself, and checks
//! what the monitor leaves behind: the sync message, the CRI log, the exit
//! file, the control socket.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use common::{
    Container, MONITOR, Spec, json_field, log_records, proc_status_kib, process_alive, stat_field,
    stream_text, wait_for,
};

/// What a daemon reads back from the state directory: the monitor's PID and the container's.
fn assert_state_files(container: &Container, monitor_pid: i32) {
    let state = container.state_dir();
    assert_eq!(
        fs::read_to_string(state.join("monitor.pid"))
            .expect("monitor.pid")
            .trim(),
        monitor_pid.to_string()
    );
    assert!(state.join("container.pid").is_file());
}

#[test]
fn logs_both_streams_in_cri_format_and_records_the_exit_code() {
    let mut container = Container::new(&Spec::shell(
        "echo out one; echo err one >&2; echo; echo out two; exit 3",
    ));
    container.create(&[]);
    let monitor_pid = container
        .monitor_pid
        .expect("monitorPid in the sync message");
    assert_state_files(&container, monitor_pid);
    assert!(!container.exit_file().exists(), "no exit before start");

    container.start();
    let exit = container.wait_exit();
    assert_eq!(json_field(&exit, "exitCode"), Some("3"), "{exit}");
    assert_eq!(json_field(&exit, "signal"), Some("null"), "{exit}");
    assert_eq!(json_field(&exit, "oomKilled"), Some("false"), "{exit}");
    assert!(
        json_field(&exit, "exitedAt").is_some_and(|at| at.ends_with("Z\"")),
        "{exit}"
    );

    let records = log_records(&container.log_path());
    assert_eq!(stream_text(&records, "stdout"), "out one\n\nout two\n");
    assert_eq!(stream_text(&records, "stderr"), "err one\n");
    assert!(records.iter().all(|record| record.tag == "F"));
    let timestamps: Vec<_> = records.iter().map(|record| &record.timestamp).collect();
    assert!(timestamps.is_sorted(), "timestamps go back: {timestamps:?}");

    container.wait_monitor_gone();
    assert!(
        !container.state_dir().join("ctl").exists(),
        "the control socket outlived the monitor"
    );
}

#[test]
fn splits_long_lines_into_partial_records_and_keeps_a_final_fragment_partial() {
    let mut container = Container::new(&Spec::shell(
        "head -c 40000 /dev/zero | tr '\\0' a; echo; printf 'no newline'",
    ));
    container.create(&[]);
    container.start();
    let exit = container.wait_exit();
    assert_eq!(json_field(&exit, "exitCode"), Some("0"), "{exit}");

    let records = log_records(&container.log_path());
    // The line is P records up to the first F. Records follow the reads, so
    // the F may be empty when the newline came in a read of its own.
    let end = records
        .iter()
        .position(|record| record.tag == "F")
        .expect("an F record ends the long line");
    let line = &records[..=end];
    assert!(
        line.len() >= 3,
        "40000 bytes make at least three records: {}",
        line.len()
    );
    assert!(line.iter().all(|record| record.content.len() <= 16 * 1024));
    assert!(line[..end].iter().all(|record| record.tag == "P"));
    assert_eq!(
        stream_text(&records, "stdout"),
        format!("{}\nno newline", "a".repeat(40_000))
    );
    let last = records.last().expect("records");
    assert_eq!(
        (last.tag.as_str(), last.content.as_slice()),
        ("P", b"no newline".as_slice())
    );
}

#[test]
fn honours_a_smaller_line_limit() {
    let mut container = Container::new(&Spec::shell("echo 0123456789"));
    container.create(&["--log-max-line", "4"]);
    container.start();
    container.wait_exit();
    let records = log_records(&container.log_path());
    let pieces: Vec<_> = records
        .iter()
        .map(|record| {
            (
                record.tag.as_str(),
                String::from_utf8_lossy(&record.content).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        pieces,
        [
            ("P", "0123".to_owned()),
            ("P", "4567".to_owned()),
            ("F", "89".to_owned())
        ]
    );
}

#[test]
fn a_killed_container_exits_with_137_and_signal_9() {
    let mut container = Container::new(&Spec::shell("echo started; exec sleep 1000"));
    container.create(&[]);
    container.start();
    container.wait_for_log("started");
    let kill = container.runc(&["kill", &container.id, "KILL"]);
    assert!(
        kill.status.success(),
        "{}",
        String::from_utf8_lossy(&kill.stderr)
    );
    let exit = container.wait_exit();
    assert_eq!(json_field(&exit, "exitCode"), Some("137"), "{exit}");
    assert_eq!(json_field(&exit, "signal"), Some("9"), "{exit}");
}

#[test]
fn a_container_deleted_before_start_still_gets_an_exit_file() {
    let mut container = Container::new(&Spec::shell("echo never"));
    container.create(&[]);
    let delete = container.runc(&["delete", "-f", &container.id]);
    assert!(
        delete.status.success(),
        "{}",
        String::from_utf8_lossy(&delete.stderr)
    );
    let exit = container.wait_exit();
    assert_eq!(json_field(&exit, "exitCode"), Some("137"), "{exit}");
    assert_eq!(
        stream_text(&log_records(&container.log_path()), "stdout"),
        ""
    );
}

#[test]
fn reopen_creates_the_new_log_before_answering() {
    // The container writes a line, then waits for /tmp/go to write another.
    let mut container = Container::new(&Spec::shell(
        "echo before; while ! test -e /tmp/go; do sleep 0.05; done; echo after; echo after-err >&2",
    ));
    container.create(&[]);
    container.start();
    let log = container.log_path();
    wait_for(Duration::from_secs(10), "the first line", || {
        fs::read_to_string(&log)
            .ok()
            .filter(|text| text.contains("before"))
    });

    let rotated = log.with_extension("log.1");
    fs::rename(&log, &rotated).expect("rotating the log");
    assert_eq!(container.control("reopen"), "ok\n");
    // The kubelet checks at once: the file must exist when the answer comes.
    assert!(log.is_file(), "no new log file when reopen answered");

    fs::write(container.rootfs().join("tmp/go"), "").expect("releasing the container");
    container.wait_exit();
    assert_eq!(stream_text(&log_records(&rotated), "stdout"), "before\n");
    let records = log_records(&log);
    assert_eq!(stream_text(&records, "stdout"), "after\n");
    assert_eq!(stream_text(&records, "stderr"), "after-err\n");
}

#[test]
fn the_control_socket_rejects_bad_commands_and_resize_without_a_terminal() {
    let mut container = Container::new(&Spec::shell("exec sleep 1000"));
    container.create(&[]);
    assert_eq!(
        container.control("bogus"),
        "error unknown command \"bogus\"\n"
    );
    assert_eq!(
        container.control("resize 24 80"),
        "error the container has no terminal\n"
    );
    assert_eq!(container.control("reopen"), "ok\n");
}

#[test]
fn signal_reaches_the_container_and_its_exit_is_recorded() {
    // The shell is PID 1 of its namespace, which the kernel shields from
    // signals it has no handler for: the trap is what makes USR1 arrive.
    let mut container = Container::new(&Spec::shell(
        "trap 'echo got > /tmp/got; exit 0' USR1; echo ready; while :; do sleep 0.05; done",
    ));
    container.create(&[]);
    container.start();
    container.wait_for_log("ready");

    for bad in ["0", "65", "x"] {
        assert_eq!(
            container.control(&format!("signal {bad}")),
            format!("error \"{bad}\" is not a signal number (1 to 64)\n")
        );
    }
    assert_eq!(
        container.control("signal"),
        "error usage: signal <number>\n"
    );
    assert!(
        !container.exit_file().exists(),
        "a refused signal reached the container"
    );

    assert_eq!(container.control("signal 10"), "ok\n");
    let exit = container.wait_exit();
    assert_eq!(json_field(&exit, "exitCode"), Some("0"), "{exit}");
    assert_eq!(json_field(&exit, "signal"), Some("null"), "{exit}");
    assert_eq!(
        fs::read_to_string(container.rootfs().join("tmp/got")).expect("the trap's file"),
        "got\n"
    );
}

#[test]
fn signal_answers_ok_once_the_container_has_exited() {
    let mut container = Container::new(&Spec::shell("echo ready; exec sleep 1000"));
    container.create(&[]);
    container.start();
    container.wait_for_log("ready");
    let pid = |raw: i32| Pid::from_raw(raw).expect("a positive pid");
    let monitor = pid(container.monitor_pid.expect("monitorPid"));
    let init = pid(
        fs::read_to_string(container.state_dir().join("container.pid"))
            .expect("container.pid")
            .trim()
            .parse()
            .expect("a pid in container.pid"),
    );
    let state = |process: Pid| {
        fs::read_to_string(format!("/proc/{}/stat", process.as_raw_nonzero()))
            .ok()
            .and_then(|stat| stat_field(&stat, 3))
    };

    // A connection the monitor has accepted: one answer proves it.
    let stream = UnixStream::connect(container.state_dir().join("ctl")).expect("connecting");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(&stream);
    let mut answer = String::new();
    (&stream).write_all(b"signal 0\n").expect("sending");
    reader.read_line(&mut answer).expect("reading the answer");
    assert_eq!(answer, "error \"0\" is not a signal number (1 to 64)\n");

    // With the monitor stopped, the container exits and the command waits:
    // the monitor wakes to both at once and reaps first (SIGCHLD comes
    // first in its loop), so this is the late stop of a StopContainer that
    // raced the exit, which the daemon must not see fail. It is stopped
    // asleep, which it only is in poll, with nothing left to serve: stopped
    // while still serving the first command, it would read the second in
    // the same pass and signal the zombie, which answers `ok` as well but
    // is not the case tested here.
    wait_for(
        Duration::from_secs(10),
        "the monitor to wait in poll",
        || (state(monitor).as_deref() == Some("S")).then_some(()),
    );
    kill_process(monitor, Signal::STOP).expect("stopping the monitor");
    wait_for(Duration::from_secs(10), "the monitor to stop", || {
        (state(monitor).as_deref() == Some("T")).then_some(())
    });
    (&stream).write_all(b"signal 15\n").expect("sending");
    kill_process(init, Signal::KILL).expect("killing the container");
    wait_for(Duration::from_secs(10), "the container to exit", || {
        (state(init).as_deref() == Some("Z")).then_some(())
    });
    kill_process(monitor, Signal::CONT).expect("resuming the monitor");

    answer.clear();
    reader.read_line(&mut answer).expect("reading the answer");
    assert_eq!(answer, "ok\n");
    let exit = container.wait_exit();
    assert_eq!(json_field(&exit, "signal"), Some("9"), "{exit}");
    container.wait_monitor_gone();
}

#[test]
fn the_monitor_outlives_the_daemon_that_started_it() {
    let mut container = Container::new(&Spec::shell(
        "while ! test -e /tmp/go; do sleep 0.05; done; echo survived",
    ));
    // A shell stands in for the daemon: it runs the monitor, then lingers as
    // a daemon would, until it is killed.
    let mut daemon = Command::new("/bin/sh");
    daemon
        .arg("-c")
        .arg("\"$0\" \"$@\"; exec sleep 1000")
        .arg(MONITOR)
        .args(container.monitor_args(&[]));
    let (mut daemon, launch) = container.launch_with(&mut daemon);
    assert_eq!(
        json_field(&launch.sync, "ok"),
        Some("true"),
        "{}",
        launch.sync
    );
    assert!(
        launch.launcher.is_none(),
        "the stand-in daemon should still run"
    );
    let monitor_pid = container.monitor_pid.expect("monitorPid");

    let stat = fs::read_to_string(format!("/proc/{monitor_pid}/stat")).expect("monitor stat");
    assert_ne!(
        stat_field(&stat, 4),
        Some(daemon.id().to_string()),
        "the monitor is still the daemon's child"
    );
    assert_eq!(
        stat_field(&stat, 6),
        Some(monitor_pid.to_string()),
        "the monitor leads a session of its own"
    );

    daemon.kill().expect("killing the daemon with SIGKILL");
    daemon.wait().expect("reaping the daemon");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        process_alive(monitor_pid),
        "the monitor died with the daemon"
    );

    // A restarted daemon finds everything in the state directory.
    assert_state_files(&container, monitor_pid);
    assert_eq!(container.control("reopen"), "ok\n");

    container.start();
    fs::write(container.rootfs().join("tmp/go"), "").expect("releasing the container");
    let exit = container.wait_exit();
    assert_eq!(json_field(&exit, "exitCode"), Some("0"), "{exit}");
    assert_eq!(
        stream_text(&log_records(&container.log_path()), "stdout"),
        "survived\n"
    );
    container.wait_monitor_gone();
}

#[test]
fn a_terminal_container_logs_its_output_as_stdout() {
    let mut container = Container::new(&Spec {
        terminal: true,
        ..Spec::shell("tty; stty size; echo to-stderr >&2")
    });
    container.create(&["--terminal"]);
    assert!(
        !container.state_dir().join("console.sock").exists(),
        "the console socket is gone once the pty is received"
    );
    assert_eq!(container.control("resize 30 100"), "ok\n");
    container.start();
    let exit = container.wait_exit();
    assert_eq!(json_field(&exit, "exitCode"), Some("0"), "{exit}");

    let records = log_records(&container.log_path());
    assert!(
        records.iter().all(|record| record.stream == "stdout"),
        "{records:?}"
    );
    // The pty turns "\n" into "\r\n".
    assert_eq!(
        stream_text(&records, "stdout"),
        "/dev/pts/0\r\n30 100\r\nto-stderr\r\n"
    );
}

#[test]
fn stdin_is_dev_null_unless_kept_open() {
    let script = "if read line; then echo got-line; else echo eof; fi";

    let mut closed = Container::new(&Spec::shell(script));
    closed.create(&[]);
    closed.start();
    closed.wait_exit();
    assert_eq!(
        stream_text(&log_records(&closed.log_path()), "stdout"),
        "eof\n"
    );

    let mut open = Container::new(&Spec::shell(script));
    open.create(&["--stdin"]);
    open.start();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !open.exit_file().exists(),
        "with --stdin the read should block, not see end-of-file"
    );
    let kill = open.runc(&["kill", &open.id, "KILL"]);
    assert!(
        kill.status.success(),
        "{}",
        String::from_utf8_lossy(&kill.stderr)
    );
    open.wait_exit();
}

#[test]
fn a_failed_create_reports_the_runtimes_error() {
    let mut container = Container::new(&Spec {
        args: vec!["/no/such/binary".into()],
        ..Spec::default()
    });
    let launch = container.launch(&[]);
    assert!(
        launch.launcher.is_some_and(|status| status.success()),
        "the launcher itself succeeds: {:?}",
        launch.launcher
    );
    let sync = &launch.sync;
    assert_eq!(json_field(sync, "ok"), Some("false"), "{sync}");
    assert_eq!(
        json_field(sync, "code"),
        Some("\"ERR_RUNTIME_CREATE\""),
        "{sync}"
    );
    assert_eq!(json_field(sync, "runtimeExitCode"), Some("1"), "{sync}");
    let stderr = json_field(sync, "runtimeStderr").expect("runtimeStderr");
    assert!(stderr.contains("/no/such/binary"), "{sync}");
    let message = json_field(sync, "message").expect("message");
    assert!(message.contains("/no/such/binary"), "{sync}");

    wait_for(
        Duration::from_secs(10),
        "the monitor's message on stderr",
        || {
            fs::read_to_string(container.monitor_stderr())
                .ok()
                .filter(|text| text.contains("/no/such/binary"))
        },
    );
    assert!(!container.exit_file().exists());
    assert!(!container.state_dir().join("ctl").exists());
}

#[test]
fn a_bad_command_line_fails_fast_on_stderr_and_the_sync_channel() {
    let mut container = Container::new(&Spec::shell("true"));
    let mut command = Command::new(MONITOR);
    command.args(["--id", "x", "--bogus"]);
    let (_, launch) = container.launch_with(&mut command);
    assert_eq!(launch.launcher.and_then(|status| status.code()), Some(2));
    assert_eq!(
        json_field(&launch.sync, "code"),
        Some("\"ERR_CLI_UNKNOWN_ARGUMENT\"")
    );
    let stderr = fs::read_to_string(container.monitor_stderr()).expect("stderr");
    assert!(stderr.contains("--bogus"), "{stderr}");
}

#[test]
fn an_oom_kill_is_reported() {
    let mut container = Container::new(&Spec {
        memory_limit: Some(32 * 1024 * 1024),
        ..Spec::shell("echo allocating; dd if=/dev/zero of=/dev/null bs=256M count=1")
    });
    let cgroup = container.memory_cgroup();
    let cgroup_arg = cgroup.to_string_lossy().into_owned();
    container.create(&["--cgroup-memory", &cgroup_arg]);
    assert!(cgroup.is_dir(), "runc did not create {}", cgroup.display());
    container.start();
    let exit = container.wait_exit();
    assert_eq!(json_field(&exit, "exitCode"), Some("137"), "{exit}");
    assert_eq!(json_field(&exit, "oomKilled"), Some("true"), "{exit}");
}

#[test]
fn a_monitor_stays_under_512_kib_of_anonymous_memory() {
    let mut container = Container::new(&Spec::shell(
        "i=0; while [ $i -lt 5000 ]; do echo line $i; echo err $i >&2; i=$((i+1)); done; \
         head -c 200000 /dev/zero | tr '\\0' x; echo; echo done; exec sleep 1000",
    ));
    container.create(&[]);
    container.start();
    wait_for(Duration::from_secs(30), "the container's output", || {
        fs::read_to_string(container.log_path())
            .ok()
            .filter(|log| log.contains(" F done\n"))
    });
    let pid = container.monitor_pid.expect("monitorPid");
    let rss_anon = proc_status_kib(pid, "RssAnon");
    eprintln!("monitor RssAnon after 10000 lines and a 200 KB line: {rss_anon} KiB");
    assert!(rss_anon < 512, "RssAnon is {rss_anon} KiB");
    let started = Instant::now();
    let kill = container.runc(&["kill", &container.id, "KILL"]);
    assert!(kill.status.success());
    container.wait_exit();
    assert!(started.elapsed() < Duration::from_secs(10));
}
