//! `crion-monitor pod-init` as the daemon runs it: net, ipc and uts
//! namespaces pinned with `unshare --net=FILE` and the like, an empty PID
//! pin. Root only.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use common::{MONITOR, process_alive, run, spawn, wait_for};
use rustix::mount::{UnmountFlags, unmount};

/// The failure tests count the inits on the host, so no two tests may run
/// one at the same time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Everything a test made, undone on drop whether or not it passed.
struct Pod {
    dir: tempfile::TempDir,
    namespaces: Vec<PathBuf>,
    init: Option<i32>,
}

impl Pod {
    fn new() -> Self {
        assert!(
            rustix::process::getuid().is_root(),
            "pod-init's tests make namespaces and must run as root"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("pid"), "").expect("pid pin file");
        Self {
            dir,
            namespaces: Vec::new(),
            init: None,
        }
    }

    fn pid_pin(&self) -> PathBuf {
        self.dir.path().join("pid")
    }

    /// `kind` is unshare's and /proc/PID/ns's name: net, ipc or uts.
    fn pin_namespace(&mut self, kind: &str) -> PathBuf {
        let pin = self.dir.path().join(kind);
        fs::write(&pin, "").expect("namespace pin file");
        self.namespaces.push(pin.clone());
        let output = run(Command::new("unshare")
            .arg(format!("--{kind}={}", pin.display()))
            .arg("true"));
        assert!(output.status.success(), "unshare --{kind}: {output:?}");
        pin
    }

    fn launch(&mut self, extra: &[String]) -> std::process::Output {
        let output = run(Command::new(MONITOR)
            .arg("pod-init")
            .arg("--pid-pin")
            .arg(self.pid_pin())
            .args(extra));
        if output.status.success() {
            let stdout = String::from_utf8_lossy(&output.stdout);
            let pid = stdout
                .trim()
                .strip_prefix("{\"pid\":")
                .and_then(|rest| rest.strip_suffix('}'))
                .and_then(|pid| pid.parse().ok())
                .unwrap_or_else(|| panic!("not {{\"pid\":N}}: {stdout:?}"));
            self.init = Some(pid);
        }
        output
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if let Some(pid) = self.init.take() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            for _ in 0..250 {
                if !process_alive(pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = unmount(self.pid_pin(), UnmountFlags::DETACH);
        for pin in &self.namespaces {
            let _ = unmount(pin, UnmountFlags::DETACH);
        }
    }
}

fn status_field(pid: i32, key: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .map(|value| value.trim().to_owned())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// Every process on the host, as its PID and its /proc directory.
fn processes() -> impl Iterator<Item = (i32, PathBuf)> {
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            Some((pid, entry.path()))
        })
}

fn children_of(parent: i32) -> Vec<(i32, String)> {
    let mut children = Vec::new();
    for (pid, dir) in processes() {
        let Ok(status) = fs::read_to_string(dir.join("status")) else {
            continue;
        };
        let field = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
                .map(|value| value.trim().to_owned())
        };
        if field("PPid").and_then(|ppid| ppid.parse().ok()) == Some(parent) {
            children.push((pid, field("State").unwrap_or_default()));
        }
    }
    children
}

/// Inits on the host. A crion daemon's pods on the same host have inits of
/// their own, so the failure tests count only those not in the list taken
/// before their launch.
fn running_inits() -> Vec<i32> {
    let mut inits = Vec::new();
    for (pid, dir) in processes() {
        let cmdline = fs::read(dir.join("cmdline")).unwrap_or_default();
        if cmdline.ends_with(b"\0pod-init-serve\0") && process_alive(pid) {
            inits.push(pid);
        }
    }
    inits
}

fn is_mount_point(path: &Path) -> bool {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let wanted = path.to_str().expect("UTF-8 temp path");
    mountinfo
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(wanted))
}

#[test]
fn starts_a_locked_down_pid_1_that_reaps_orphans_and_stops_on_sigterm() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut pod = Pod::new();
    let netns = pod.pin_namespace("net");
    let ipcns = pod.pin_namespace("ipc");
    let utsns = pod.pin_namespace("uts");
    let extra = vec![
        format!("--netns={}", netns.display()),
        "--ipcns".to_owned(),
        ipcns.display().to_string(),
        format!("--utsns={}", utsns.display()),
    ];

    let output = pod.launch(&extra);
    assert!(output.status.success(), "launcher failed: {output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");
    let pid = pod.init.expect("the init's pid");
    assert!(process_alive(pid), "the init is not running");

    // PID 1 of its own namespace, with nothing to its name.
    assert!(
        status_field(pid, "NSpid").ends_with("\t1"),
        "{}",
        status_field(pid, "NSpid")
    );
    assert_eq!(status_field(pid, "Uid"), "65535\t65535\t65535\t65535");
    assert_eq!(status_field(pid, "Gid"), "65535\t65535\t65535\t65535");
    assert_eq!(status_field(pid, "Groups"), "");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status_field(pid, set), "0000000000000000", "{set}");
    }
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    assert_eq!(status_field(pid, "Threads"), "1");

    // The pinned namespaces are the ones it runs in.
    let net_inode = fs::metadata(&netns).expect("stat net pin").ino();
    let its_net = fs::metadata(format!("/proc/{pid}/ns/net"))
        .expect("stat ns/net")
        .ino();
    assert_eq!(its_net, net_inode, "not in the pinned network namespace");
    let pin = pod.pid_pin();
    assert!(is_mount_point(&pin), "the pid pin is not a mount");
    let pinned = fs::metadata(&pin).expect("stat pid pin").ino();
    let its_pid_ns = fs::metadata(format!("/proc/{pid}/ns/pid"))
        .expect("stat ns/pid")
        .ino();
    assert_eq!(pinned, its_pid_ns, "the pin holds another PID namespace");

    // Its root and working directory are an empty tmpfs, not the host's.
    for link in ["root", "cwd"] {
        let entries: Vec<_> = fs::read_dir(format!("/proc/{pid}/{link}"))
            .expect("list the init's root")
            .collect();
        assert!(
            entries.is_empty(),
            "/proc/{pid}/{link} is not empty: {entries:?}"
        );
    }
    let fds: Vec<_> = fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the init's fds")
        .flatten()
        .map(|entry| fs::read_link(entry.path()).expect("fd link"))
        .collect();
    assert_eq!(fds.len(), 4, "stdio and the signalfd only: {fds:?}");

    // An orphan in its namespace becomes its child, and is reaped on exit.
    let output = run(Command::new("nsenter")
        .arg(format!("--pid={}", pin.display()))
        .arg(format!("--net={}", netns.display()))
        .args(["sh", "-c", "sleep 0.5 >/dev/null 2>&1 & exec true"]));
    assert!(output.status.success(), "nsenter: {output:?}");
    let children = children_of(pid);
    assert_eq!(
        children.len(),
        1,
        "the orphan was not reparented: {children:?}"
    );
    wait_for(Duration::from_secs(5), "the orphan to be reaped", || {
        children_of(pid).is_empty().then_some(())
    });

    run(Command::new("kill").args(["-TERM", &pid.to_string()]));
    wait_for(
        Duration::from_secs(2),
        "the init to exit on SIGTERM",
        || (!process_alive(pid)).then_some(()),
    );
}

#[test]
fn a_netns_pin_that_is_no_namespace_fails_and_leaves_nothing_behind() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut pod = Pod::new();
    let not_a_namespace = pod.dir.path().join("not-a-netns");
    fs::write(&not_a_namespace, "").expect("regular file");
    let before = running_inits();

    let output = pod.launch(&[format!("--netns={}", not_a_namespace.display())]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "crion-monitor: ERR_POD_INIT_SETNS: joining the namespace pinned at --netns "
        ) && stderr.contains(&not_a_namespace.display().to_string()),
        "{stderr}"
    );
    assert_nothing_left(&pod, &before);
}

/// The last step that can fail, after the init runs and the pin is mounted:
/// everything must still be undone.
#[test]
fn a_launcher_that_cannot_print_the_pid_kills_the_init_and_unmounts_the_pin() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let pod = Pod::new();
    let (reader, writer) = rustix::pipe::pipe().expect("pipe");
    drop(reader);
    let before = running_inits();

    let output = spawn(
        Command::new(MONITOR)
            .arg("pod-init")
            .arg(format!("--pid-pin={}", pod.pid_pin().display()))
            .stdout(writer)
            .stderr(Stdio::piped()),
    )
    .wait_with_output()
    .expect("waiting for the launcher");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("crion-monitor: ERR_POD_INIT_OUTPUT: "),
        "{stderr}"
    );
    assert_nothing_left(&pod, &before);
}

/// A failed launch leaves neither a pin mount nor an init: `before` lists the
/// inits that ran before it (other tests' and daemons').
fn assert_nothing_left(pod: &Pod, before: &[i32]) {
    assert!(
        !is_mount_point(&pod.pid_pin()),
        "the pid pin was left mounted"
    );
    let left: Vec<i32> = running_inits()
        .into_iter()
        .filter(|pid| !before.contains(pid))
        .collect();
    assert_eq!(left, Vec::<i32>::new(), "an init was left running");
}

#[test]
fn relative_paths_are_a_usage_error() {
    let output = run(Command::new(MONITOR).args(["pod-init", "--pid-pin", "pid"]));
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("crion-monitor: ERR_CLI_INVALID: --pid-pin "),
        "{stderr}"
    );
}
