//! Attach against real runc: clients on the control socket get the
//! container's output (which is logged as well), feed its stdin, resize its
//! terminal, and can come and go without the container noticing.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{
    Container, Spec, Transcript, frame, json_field, log_records, proc_status_kib, process_alive,
    stream_text, wait_for,
};

fn kill(container: &Container) {
    let kill = container.runc(&["kill", &container.id, "KILL"]);
    assert!(
        kill.status.success(),
        "{}",
        String::from_utf8_lossy(&kill.stderr)
    );
}

#[test]
fn two_clients_get_the_output_that_is_logged_and_then_the_exit() {
    let mut container = Container::new(&Spec::shell(
        "echo out one; echo err one >&2; echo out two; exit 3",
    ));
    container.create(&[]);
    let first = container.attach();
    let second = container.attach();
    container.start();

    let exit = container.wait_exit();
    for client in [first, second] {
        let transcript = client.read_to_end();
        assert_eq!(transcript.stdout, b"out one\nout two\n", "{transcript:?}");
        assert_eq!(transcript.stderr, b"err one\n", "{transcript:?}");
        assert!(transcript.errors.is_empty(), "{transcript:?}");
        // The exit frame is the exit file's record.
        assert_eq!(transcript.exit.as_deref(), Some(exit.trim_end()));
        assert_eq!(
            json_field(transcript.exit.as_deref().unwrap_or(""), "exitCode"),
            Some("3")
        );
    }
    let records = log_records(&container.log_path());
    assert_eq!(stream_text(&records, "stdout"), "out one\nout two\n");
    assert_eq!(stream_text(&records, "stderr"), "err one\n");
    container.wait_monitor_gone();
}

#[test]
fn stdin_reaches_the_container_and_close_stdin_ends_it() {
    let mut container = Container::new(&Spec::shell("cat; echo cat-done"));
    container.create(&["--stdin"]);
    container.start();
    let client = container.attach();
    let mut transcript = Transcript::default();

    client.send(frame::STDIN, b"hello ");
    client.send(frame::STDIN, b"world\n");
    client.wait_stdout("hello world\n", &mut transcript);
    // More than the pipe and the monitor's queue hold at once: backpressure,
    // not loss.
    let big: Vec<u8> = (0..300_000u32)
        .map(|index| b"abcdefghijklmnopqrstuvwxyz\n"[(index % 27) as usize])
        .collect();
    let writer = client.stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let client = common::Attachment { stream: writer };
        for chunk in big.chunks(10_000) {
            client.send(frame::STDIN, chunk);
        }
        client.send(frame::CLOSE_STDIN, b"");
        big
    });
    client.read_rest(&mut transcript);
    let big = sender.join().expect("sender");
    assert!(transcript.errors.is_empty(), "{:?}", transcript.errors);
    let mut expected = b"hello world\n".to_vec();
    expected.extend_from_slice(&big);
    expected.extend_from_slice(b"cat-done\n");
    assert!(
        transcript.stdout == expected,
        "stdout differs: {} bytes, expected {}",
        transcript.stdout.len(),
        expected.len()
    );
    let exit = transcript.exit.expect("exit frame");
    assert_eq!(json_field(&exit, "exitCode"), Some("0"), "{exit}");
    assert_eq!(
        stream_text(&log_records(&container.log_path()), "stdout").as_bytes(),
        expected.as_slice()
    );
}

#[test]
fn stdin_without_the_stdin_flag_is_dropped_with_an_error_frame() {
    let mut container = Container::new(&Spec::shell(
        "if read line; then echo got-line; else echo eof; fi; exec sleep 1000",
    ));
    container.create(&[]);
    let client = container.attach();
    container.start();
    client.send(frame::STDIN, b"ignored\n");
    let mut transcript = Transcript::default();
    client.wait_stdout("eof\n", &mut transcript);
    while transcript.errors.is_empty() {
        transcript.add(client.next_frame(Duration::from_secs(10)).expect("a frame"));
    }
    assert!(
        transcript.errors[0].contains("no stdin"),
        "{:?}",
        transcript.errors
    );
    kill(&container);
    client.read_rest(&mut transcript);
    assert_eq!(
        json_field(transcript.exit.as_deref().unwrap_or(""), "exitCode"),
        Some("137")
    );
}

#[test]
fn a_client_that_never_reads_does_not_hold_up_the_container() {
    let mut container = Container::new(&Spec::shell(
        "i=0; while [ $i -lt 20000 ]; do echo line $i of output that nobody attached reads; \
         i=$((i+1)); done; echo done; exec sleep 1000",
    ));
    container.create(&[]);
    let lazy = container.attach();
    container.start();
    wait_for(Duration::from_secs(60), "the last line in the log", || {
        fs::read_to_string(container.log_path())
            .ok()
            .filter(|log| log.contains(" F done\n"))
    });
    let pid = container.monitor_pid.expect("monitorPid");
    let rss_anon = proc_status_kib(pid, "RssAnon");
    eprintln!("monitor RssAnon with a client 1 MB behind: {rss_anon} KiB");
    // The monitor's own 512 KiB bound, plus the lagging client's 256 KiB
    // queue and the frame it is being sent.
    assert!(rss_anon < 512 + 256 + 17, "RssAnon is {rss_anon} KiB");
    assert_eq!(
        stream_text(&log_records(&container.log_path()), "stdout")
            .lines()
            .count(),
        20_001,
        "the log lost lines"
    );

    // The client is still attached: it gets the newest output, with the
    // oldest dropped, as whole frames, then the exit.
    kill(&container);
    let transcript = lazy.read_to_end();
    let stdout = String::from_utf8_lossy(&transcript.stdout);
    assert!(
        stdout.ends_with("done\n"),
        "{}",
        &stdout[stdout.len().saturating_sub(200)..]
    );
    assert!(
        transcript.stdout.len() < 1_000_000,
        "nothing was dropped: {} bytes",
        transcript.stdout.len()
    );
    assert!(transcript.exit.is_some());
}

#[test]
fn detaching_leaves_the_container_running() {
    let mut container = Container::new(&Spec::shell(
        "while ! test -e /tmp/go; do echo tick; sleep 0.05; done; echo released",
    ));
    container.create(&["--stdin"]);
    container.start();
    for _ in 0..3 {
        let client = container.attach();
        let mut transcript = Transcript::default();
        client.wait_stdout("tick\n", &mut transcript);
        drop(client);
    }
    // A client that leaves with stdin still queued changes nothing either.
    let client = container.attach();
    client.send(frame::STDIN, b"never read\n");
    drop(client);

    std::thread::sleep(Duration::from_millis(300));
    assert!(!container.exit_file().exists(), "the container stopped");
    assert!(process_alive(container.monitor_pid.expect("monitorPid")));
    assert_eq!(container.control("reopen"), "ok\n");

    let last = container.attach();
    fs::write(container.rootfs().join("tmp/go"), "").expect("releasing the container");
    let transcript = last.read_to_end();
    assert!(
        String::from_utf8_lossy(&transcript.stdout).ends_with("released\n"),
        "{transcript:?}"
    );
    let exit = container.wait_exit();
    assert_eq!(json_field(&exit, "exitCode"), Some("0"), "{exit}");
}

#[test]
fn a_terminal_gets_stdin_and_resize_frames() {
    let mut container = Container::new(&Spec {
        terminal: true,
        ..Spec::shell("read line; stty size; echo \"got $line\"")
    });
    container.create(&["--terminal", "--stdin"]);
    let client = container.attach();
    container.start();
    client.send(frame::RESIZE, &[0, 33, 0, 120]);
    client.send(frame::STDIN, b"typed\n");
    let transcript = client.read_to_end();
    let stdout = String::from_utf8_lossy(&transcript.stdout);
    // The pty echoes what was typed, then the container answers.
    assert!(
        stdout.ends_with("typed\r\n33 120\r\ngot typed\r\n"),
        "{stdout:?}"
    );
    assert!(transcript.stderr.is_empty());
    assert!(transcript.errors.is_empty(), "{:?}", transcript.errors);
}

#[test]
fn a_bad_frame_disconnects_only_its_client() {
    let mut container = Container::new(&Spec::shell("exec sleep 1000"));
    container.create(&[]);
    container.start();
    let bad = container.attach();
    bad.send(frame::RESIZE, &[0, 1]);
    let transcript = bad.read_to_end();
    assert_eq!(transcript.errors.len(), 1, "{transcript:?}");
    assert!(transcript.exit.is_none());
    // A resize without a terminal is refused with an error frame.
    let good = container.attach();
    good.send(frame::RESIZE, &[0, 24, 0, 80]);
    let reply = good
        .next_frame(Duration::from_secs(10))
        .expect("an error frame");
    assert_eq!(
        (reply.0, String::from_utf8_lossy(&reply.1).into_owned()),
        (frame::ERROR, "the container has no terminal".to_owned())
    );
    let started = Instant::now();
    kill(&container);
    let rest = good.read_to_end();
    assert!(rest.exit.is_some());
    assert!(started.elapsed() < Duration::from_secs(10));
}
