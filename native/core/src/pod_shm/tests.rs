//! These mount real tmpfs, which takes CAP_SYS_ADMIN: without it each test
//! says so and passes, since CI runs as root and would catch a skip.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use tempfile::TempDir;

use super::*;
use crate::mountinfo::{self, MountInfo};

fn privileged() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("skipped: mounting needs root");
    }
    root
}

fn mounted_at(target: &Path) -> Option<MountInfo> {
    let text = fs::read("/proc/self/mountinfo").expect("mountinfo");
    let target = fs::canonicalize(target).ok()?;
    mountinfo::parse(&text)
        .expect("parse mountinfo")
        .into_iter()
        .rev()
        .find(|mount| mount.mount_point == target)
}

/// Unmounts on drop, so a failed assertion leaves no mount behind.
struct Scratch(TempDir);

impl Scratch {
    fn new() -> Self {
        Scratch(
            tempfile::Builder::new()
                .prefix("crion-shm-")
                .tempdir()
                .expect("scratch directory"),
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = unmount(self.0.path(), UnmountFlags::DETACH);
    }
}

#[test]
fn mounts_a_sized_sticky_tmpfs_without_exec_suid_or_devices() {
    if !privileged() {
        return;
    }
    let scratch = Scratch::new();
    mount_pod_shm(scratch.0.path(), 64 * 1024 * 1024).expect("mount");
    let mount = mounted_at(scratch.0.path()).expect("a mount at the target");
    assert_eq!(mount.fs_type, "tmpfs");
    assert_eq!(mount.source, "shm");
    for option in ["nosuid", "nodev", "noexec"] {
        assert!(
            mount.mount_options.iter().any(|o| o == option),
            "{option} in {:?}",
            mount.mount_options
        );
    }
    assert!(
        mount.super_options.iter().any(|o| o == "size=65536k"),
        "{:?}",
        mount.super_options
    );
    let mode = fs::metadata(scratch.0.path())
        .expect("stat")
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o1777, "{mode:o}");
    fs::write(scratch.0.path().join("segment"), b"shared").expect("the tmpfs takes files");
}

#[test]
fn unmounting_is_idempotent_and_leaves_the_directory() {
    if !privileged() {
        return;
    }
    let scratch = Scratch::new();
    mount_pod_shm(scratch.0.path(), 1024 * 1024).expect("mount");
    unmount_pod_shm(scratch.0.path()).expect("first unmount");
    assert!(mounted_at(scratch.0.path()).is_none());
    unmount_pod_shm(scratch.0.path()).expect("nothing mounted is fine");
    assert!(scratch.0.path().is_dir());
    unmount_pod_shm(&scratch.0.path().join("missing")).expect("a missing target is fine");
}

#[test]
fn a_busy_shm_is_detached() {
    if !privileged() {
        return;
    }
    let scratch = Scratch::new();
    mount_pod_shm(scratch.0.path(), 1024 * 1024).expect("mount");
    let open = fs::File::create(scratch.0.path().join("held")).expect("a file held open");
    unmount_pod_shm(scratch.0.path()).expect("unmount while busy");
    assert!(mounted_at(scratch.0.path()).is_none());
    drop(open);
}

#[test]
fn a_missing_target_names_the_path() {
    if !privileged() {
        return;
    }
    let scratch = Scratch::new();
    let missing = scratch.0.path().join("missing");
    let error = mount_pod_shm(&missing, 1024).expect_err("no such directory");
    assert_eq!(error.code(), "ERR_POD_SHM_MOUNT");
    assert!(
        error.to_string().contains(&missing.display().to_string()),
        "{error}"
    );
}
