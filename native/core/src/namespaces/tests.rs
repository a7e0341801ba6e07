//! The tests that make namespaces need root and check the result from the
//! outside, with nsenter, the way a container runtime would join them.
//! Without root each says so and passes, since CI runs as root.

use std::process::Command;

use tempfile::TempDir;

use super::*;

fn privileged() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("skipped: namespaces and mounts need root");
    }
    root
}

/// A private mount of a temporary directory, as the daemon's state dir
/// would be, unmounted on drop.
struct NsDir {
    dir: TempDir,
}

impl NsDir {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("crion-ns-")
            .tempdir()
            .expect("scratch directory");
        prepare_private_mount_dir(dir.path()).expect("private mount");
        NsDir { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn request(&self) -> PodNamespacesRequest {
        PodNamespacesRequest {
            dir: self.path().to_owned(),
            net: true,
            ipc: true,
            uts: true,
            hostname: None,
            sysctls: vec![],
        }
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path())
            .expect("readable")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// Mounts below the directory, the private mount of the directory itself
    /// aside.
    fn mounts_inside(&self) -> Vec<PathBuf> {
        let mounts =
            mountinfo::parse(&fs::read(PROC_SELF_MOUNTINFO).expect("mountinfo")).expect("parses");
        mounts
            .into_iter()
            .map(|mount| mount.mount_point)
            .filter(|point| point.starts_with(self.path()) && point != self.path())
            .collect()
    }
}

impl Drop for NsDir {
    fn drop(&mut self) {
        let _ = remove_pod_namespaces(self.path());
        let _ = unmount(self.path(), UnmountFlags::DETACH);
    }
}

fn nsenter(namespace: &str, pin: &Path, command: &[&str]) -> String {
    let output = Command::new("nsenter")
        .arg(format!("--{namespace}={}", pin.display()))
        .args(command)
        .output()
        .expect("nsenter runs");
    assert!(
        output.status.success(),
        "nsenter {command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn makes_configures_and_pins_all_three_namespaces() {
    if !privileged() {
        return;
    }
    let host_shmmax = fs::read_to_string("/proc/sys/kernel/shmmax").expect("shmmax");
    let host_port_start =
        fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").expect("sysctl");
    let host_name = rustix::system::uname().nodename().to_owned();

    let ns = NsDir::new();
    let request = PodNamespacesRequest {
        hostname: Some("pod-under-test".to_owned()),
        sysctls: vec![
            ("kernel.shmmax".to_owned(), "123456789".to_owned()),
            (
                "net/ipv4/ip_unprivileged_port_start".to_owned(),
                "80".to_owned(),
            ),
        ],
        ..ns.request()
    };
    let made = create_pod_namespaces(&request).expect("namespaces made");
    let pin = |kind: &str| ns.path().join(kind);
    assert_eq!(
        made,
        PodNamespaces {
            net: Some(pin("net")),
            ipc: Some(pin("ipc")),
            uts: Some(pin("uts")),
        }
    );
    assert_eq!(ns.mounts_inside(), [pin("net"), pin("ipc"), pin("uts")]);

    let links = nsenter("net", &pin("net"), &["ip", "-o", "link"]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(
        links.starts_with("1: lo: <LOOPBACK,UP,LOWER_UP>"),
        "{links}"
    );
    assert_eq!(nsenter("uts", &pin("uts"), &["hostname"]), "pod-under-test");
    assert_eq!(
        nsenter("ipc", &pin("ipc"), &["cat", "/proc/sys/kernel/shmmax"]),
        "123456789"
    );
    assert_eq!(
        nsenter(
            "net",
            &pin("net"),
            &["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]
        ),
        "80"
    );

    // The host kept its own.
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmax").expect("shmmax"),
        host_shmmax
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").expect("sysctl"),
        host_port_start
    );
    assert_eq!(rustix::system::uname().nodename(), host_name.as_c_str());

    remove_pod_namespaces(ns.path()).expect("removed");
    assert_eq!(ns.mounts_inside(), Vec::<PathBuf>::new());
    assert_eq!(ns.entries(), Vec::<String>::new());
    remove_pod_namespaces(ns.path()).expect("removing again is fine");
}

#[test]
fn makes_only_the_kinds_asked_for() {
    if !privileged() {
        return;
    }
    let ns = NsDir::new();
    let made = create_pod_namespaces(&PodNamespacesRequest {
        ipc: false,
        uts: false,
        ..ns.request()
    })
    .expect("made");
    assert_eq!(
        made,
        PodNamespaces {
            net: Some(ns.path().join("net")),
            ipc: None,
            uts: None,
        }
    );
    assert_eq!(ns.entries(), ["net"]);

    let none = create_pod_namespaces(&PodNamespacesRequest {
        dir: ns.path().join("unused"),
        net: false,
        ipc: false,
        uts: false,
        hostname: None,
        sysctls: vec![],
    })
    .expect("nothing to make");
    assert_eq!(
        none,
        PodNamespaces {
            net: None,
            ipc: None,
            uts: None
        }
    );
}

#[test]
fn a_sysctl_the_kernel_lacks_fails_and_leaves_nothing() {
    if !privileged() {
        return;
    }
    let ns = NsDir::new();
    let error = create_pod_namespaces(&PodNamespacesRequest {
        sysctls: vec![("net.ipv4.crion_no_such_knob".to_owned(), "1".to_owned())],
        ..ns.request()
    })
    .expect_err("no such sysctl");
    assert_eq!(error.code(), "ERR_POD_NS_SYSCTL");
    assert_eq!(
        error.to_string(),
        "setting sysctl net.ipv4.crion_no_such_knob through /proc/sys/net/ipv4/crion_no_such_knob"
    );
    assert_eq!(ns.entries(), Vec::<String>::new());
    assert_eq!(ns.mounts_inside(), Vec::<PathBuf>::new());
}

#[test]
fn a_pin_that_cannot_be_made_undoes_those_made_before_it() {
    if !privileged() {
        return;
    }
    let ns = NsDir::new();
    fs::write(ns.path().join("uts"), "left over").expect("stale pin file");
    let error = create_pod_namespaces(&ns.request()).expect_err("uts pin exists");
    assert_eq!(error.code(), "ERR_POD_NS_PIN");
    assert_eq!(
        error.to_string(),
        format!("creating the pin file {}", ns.path().join("uts").display())
    );
    assert_eq!(ns.entries(), ["uts"], "the file that was there stays");
    assert_eq!(ns.mounts_inside(), Vec::<PathBuf>::new());

    remove_pod_namespaces(ns.path()).expect("an unmounted pin file is removed");
    assert_eq!(ns.entries(), Vec::<String>::new());
}

#[test]
fn refuses_what_would_change_the_host() {
    let dir = PathBuf::from("/run/crion/ns/pod");
    let base = PodNamespacesRequest {
        dir: dir.clone(),
        net: true,
        ipc: true,
        uts: true,
        hostname: None,
        sysctls: vec![],
    };
    let sysctl = |name: &str| vec![(name.to_owned(), "1".to_owned())];
    let cases = [
        (
            PodNamespacesRequest {
                uts: false,
                hostname: Some("pod".to_owned()),
                ..base.clone()
            },
            "a hostname needs the pod's own uts namespace",
        ),
        (
            PodNamespacesRequest {
                net: false,
                sysctls: sysctl("net.ipv4.ip_forward"),
                ..base.clone()
            },
            "sysctl net.ipv4.ip_forward needs the pod's own net namespace",
        ),
        (
            PodNamespacesRequest {
                ipc: false,
                sysctls: sysctl("kernel.shmmax"),
                ..base.clone()
            },
            "sysctl kernel.shmmax needs the pod's own ipc namespace",
        ),
        (
            PodNamespacesRequest {
                sysctls: sysctl("kernel.panic"),
                ..base.clone()
            },
            "sysctl kernel.panic is not namespaced",
        ),
        (
            PodNamespacesRequest {
                sysctls: sysctl("net/ipv4/../../kernel/panic"),
                ..base.clone()
            },
            "is not a sysctl name",
        ),
        (
            PodNamespacesRequest {
                hostname: Some("h".repeat(65)),
                ..base.clone()
            },
            "must be 1 to 64 bytes",
        ),
        (
            PodNamespacesRequest {
                dir: "relative".into(),
                ..base.clone()
            },
            "must be an absolute path",
        ),
    ];
    for (request, expected) in cases {
        let error = create_pod_namespaces(&request).expect_err(expected);
        assert_eq!(error.code(), "ERR_POD_NS_INVALID");
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[test]
fn sysctl_names_map_to_proc_sys_and_their_namespace() {
    assert_eq!(
        sysctl_path("net.ipv4.ip_forward"),
        Ok(PathBuf::from("/proc/sys/net/ipv4/ip_forward"))
    );
    assert_eq!(
        sysctl_path("net/ipv4/conf/eth0.100/forwarding"),
        Ok(PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/forwarding"))
    );
    assert!(sysctl_path("net..ipv4").is_err());
    assert_eq!(sysctl_namespace("net.core.somaxconn"), Some(Kind::Net));
    assert_eq!(sysctl_namespace("kernel.shm_rmid_forced"), Some(Kind::Ipc));
    assert_eq!(sysctl_namespace("kernel.msgmax"), Some(Kind::Ipc));
    assert_eq!(sysctl_namespace("kernel.sem"), Some(Kind::Ipc));
    assert_eq!(sysctl_namespace("fs.mqueue.msg_max"), Some(Kind::Ipc));
    assert_eq!(sysctl_namespace("kernel.semx"), None);
    assert_eq!(sysctl_namespace("kernel.hostname"), None);
    assert_eq!(sysctl_namespace("fs.file-max"), None);
    assert_eq!(sysctl_namespace("net"), None);
}

#[test]
fn preparing_a_private_mount_dir_is_idempotent() {
    if !privileged() {
        return;
    }
    let scratch = tempfile::Builder::new()
        .prefix("crion-ns-dir-")
        .tempdir()
        .expect("scratch directory");
    let dir = scratch.path().join("ns");
    let mounts_at = |dir: &Path| {
        mountinfo::parse(&fs::read(PROC_SELF_MOUNTINFO).expect("mountinfo"))
            .expect("parses")
            .into_iter()
            .filter(|mount| mount.mount_point == dir)
            .collect::<Vec<_>>()
    };

    prepare_private_mount_dir(&dir).expect("prepared");
    let mounts = mounts_at(&dir);
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].optional_fields, Vec::<String>::new());

    prepare_private_mount_dir(&dir).expect("prepared again");
    assert_eq!(mounts_at(&dir).len(), 1, "no second bind mount");

    mount_change(&dir, MountPropagationFlags::SHARED).expect("made shared");
    prepare_private_mount_dir(&dir).expect("made private again");
    let mounts = mounts_at(&dir);
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].optional_fields, Vec::<String>::new());

    unmount(&dir, UnmountFlags::DETACH).expect("unmounted");
}

#[test]
fn a_pinned_pid_namespace_goes_with_the_others() {
    if !privileged() {
        return;
    }
    let ns = NsDir::new();
    create_pod_namespaces(&ns.request()).expect("created");
    // What crion-monitor pod-init leaves: its PID namespace bound onto <dir>/pid.
    let pid_pin = ns.path().join(PID_PIN);
    fs::write(&pid_pin, "").expect("pid pin file");
    let status = Command::new("mount")
        .args(["--bind", "/proc/self/ns/pid"])
        .arg(&pid_pin)
        .status()
        .expect("mount runs");
    assert!(status.success(), "bind-mounting a PID namespace");
    assert!(ns.mounts_inside().contains(&pid_pin));

    remove_pod_namespaces(ns.path()).expect("removed");
    assert_eq!(ns.mounts_inside(), Vec::<PathBuf>::new());
    assert_eq!(ns.entries(), Vec::<String>::new());
}
