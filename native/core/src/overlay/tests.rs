//! These mount real overlays, which takes CAP_SYS_ADMIN: without it each
//! test says so and passes, since CI runs as root and would catch a skip.

use std::fs;
use std::io::ErrorKind;

use rustix::fs::{FileType, Mode, XattrFlags, makedev, mknodat, setxattr};
use tempfile::TempDir;

use super::*;

fn privileged() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("skipped: mounting needs root");
    }
    root
}

fn new_api_has_lowerdir_append() -> bool {
    let probe = crate::host_probe::probe().expect("host probe");
    probe.mount_api.lowerdir_append.is_available()
}

/// Unmounts on drop, so a failed assertion leaves no mount behind.
struct MountGuard(PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = unmount(&self.0, UnmountFlags::DETACH);
    }
}

struct Scratch {
    dir: TempDir,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            dir: tempfile::Builder::new()
                .prefix("crion-overlay-")
                .tempdir()
                .expect("scratch directory"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn mkdir(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        fs::create_dir_all(&path).expect("mkdir");
        path
    }

    fn write(&self, name: &str, content: &str) {
        let path = self.path(name);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        fs::write(path, content).expect("write");
    }

    /// Three layers, topmost first, exercising each way a layer hides what
    /// is below it; an upper and a work directory; an empty target.
    fn three_layers(&self) -> OverlayRequest {
        self.write("bottom/base.txt", "bottom");
        self.write("bottom/gone.txt", "bottom");
        self.write("bottom/shadowed.txt", "bottom");
        self.write("bottom/opaque/old.txt", "bottom");

        self.write("middle/shadowed.txt", "middle");
        mknodat(
            CWD,
            self.path("middle/gone.txt"),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o600),
            makedev(0, 0),
        )
        .expect("whiteout");
        self.write("middle/opaque/new.txt", "middle");
        setxattr(
            self.path("middle/opaque"),
            "trusted.overlay.opaque",
            b"y",
            XattrFlags::empty(),
        )
        .expect("opaque xattr");

        self.write("top/top.txt", "top");
        OverlayRequest {
            target: self.mkdir("merged"),
            lower_dirs: vec![self.path("top"), self.path("middle"), self.path("bottom")],
            upper_dir: Some(self.mkdir("upper")),
            work_dir: Some(self.mkdir("work")),
            cwd: None,
            readonly: false,
        }
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
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

fn check_merged_view(scratch: &Scratch, merged: &Path) {
    assert_eq!(
        names(merged),
        ["base.txt", "opaque", "shadowed.txt", "top.txt"],
        "the whiteout hides gone.txt"
    );
    assert_eq!(
        fs::read_to_string(merged.join("shadowed.txt")).expect("read"),
        "middle"
    );
    assert_eq!(names(&merged.join("opaque")), ["new.txt"]);

    fs::write(merged.join("written.txt"), "new").expect("write through the overlay");
    assert_eq!(
        fs::read_to_string(scratch.path("upper/written.txt")).expect("in upper"),
        "new"
    );
    for layer in ["top", "middle", "bottom"] {
        assert!(!scratch.path(layer).join("written.txt").exists());
    }
}

#[test]
fn merges_layers_with_whiteouts_and_opaque_dirs_through_the_new_api() {
    if !privileged() || !new_api_has_lowerdir_append() {
        return;
    }
    let scratch = Scratch::new();
    let request = scratch.three_layers();
    let method = mount_overlay(&request).expect("mounts");
    let _guard = MountGuard(request.target.clone());
    assert_eq!(method, MountMethod::NewMountApi);
    check_merged_view(&scratch, &request.target);
}

#[test]
fn merges_layers_through_mount_options_when_forced() {
    if !privileged() {
        return;
    }
    let scratch = Scratch::new();
    let request = scratch.three_layers();
    let method = mount_with(&request, Api::MountOptionsOnly).expect("mounts");
    let _guard = MountGuard(request.target.clone());
    assert_eq!(method, MountMethod::MountOptions);
    check_merged_view(&scratch, &request.target);
}

fn deep_image(scratch: &Scratch, layers: usize) -> OverlayRequest {
    let lower_dirs = (0..layers)
        .map(|index| {
            let name = format!("layers/{index:03}-{}", "x".repeat(40));
            scratch.write(&format!("{name}/layer-{index}"), "");
            scratch.write(&format!("{name}/which"), &index.to_string());
            scratch.path(&name)
        })
        .collect();
    OverlayRequest {
        target: scratch.mkdir("merged"),
        lower_dirs,
        upper_dir: Some(scratch.mkdir("upper")),
        work_dir: Some(scratch.mkdir("work")),
        cwd: None,
        readonly: false,
    }
}

#[test]
fn mounts_two_hundred_layers_with_lowerdir_append() {
    if !privileged() || !new_api_has_lowerdir_append() {
        return;
    }
    let scratch = Scratch::new();
    let request = deep_image(&scratch, 200);
    assert_eq!(
        mount_overlay(&request).expect("mounts"),
        MountMethod::NewMountApi
    );
    let _guard = MountGuard(request.target.clone());
    assert_eq!(names(&request.target).len(), 201);
    assert_eq!(
        fs::read_to_string(request.target.join("which")).expect("read"),
        "0",
        "the first lower directory is the topmost"
    );
}

#[test]
fn mount_options_past_a_page_fail_naming_the_layer_count() {
    if !privileged() {
        return;
    }
    let scratch = Scratch::new();
    let request = deep_image(&scratch, 200);
    let error = mount_with(&request, Api::MountOptionsOnly).expect_err("too long");
    assert_eq!(error.code(), "ERR_OVERLAY_OPTIONS_TOO_LONG");
    assert!(
        error
            .to_string()
            .starts_with("overlay options for 200 layers are "),
        "{error}"
    );
    assert_eq!(
        unmount_overlay(&request.target).expect("nothing to unmount"),
        Unmounted::NotMounted
    );
}

#[test]
fn relative_lower_dirs_are_taken_from_cwd() {
    if !privileged() {
        return;
    }
    let scratch = Scratch::new();
    scratch.write("l/A/a.txt", "a");
    scratch.write("l/B/b.txt", "b");
    let request = OverlayRequest {
        target: scratch.mkdir("merged"),
        lower_dirs: vec!["l/A".into(), "l/B".into()],
        upper_dir: None,
        work_dir: None,
        cwd: Some(scratch.dir.path().to_owned()),
        readonly: true,
    };
    for api in [Api::Auto, Api::MountOptionsOnly] {
        mount_with(&request, api).expect("mounts");
        let guard = MountGuard(request.target.clone());
        assert_eq!(names(&request.target), ["a.txt", "b.txt"]);
        let error = fs::write(request.target.join("c.txt"), "").expect_err("read-only");
        assert_eq!(error.raw_os_error(), Some(Errno::ROFS.raw_os_error()));
        drop(guard);
    }
}

#[test]
fn one_read_only_layer_is_a_read_only_bind_mount() {
    if !privileged() {
        return;
    }
    let scratch = Scratch::new();
    scratch.write("layer/file", "content");
    let request = OverlayRequest {
        target: scratch.mkdir("merged"),
        lower_dirs: vec![scratch.path("layer")],
        upper_dir: None,
        work_dir: None,
        cwd: None,
        readonly: true,
    };
    assert_eq!(
        mount_overlay(&request).expect("mounts"),
        MountMethod::ReadOnlyBind
    );
    let _guard = MountGuard(request.target.clone());
    assert_eq!(
        fs::read_to_string(request.target.join("file")).expect("read"),
        "content"
    );
    let error = fs::write(request.target.join("file"), "x").expect_err("read-only");
    assert_eq!(error.raw_os_error(), Some(Errno::ROFS.raw_os_error()));
}

#[test]
fn a_missing_lower_dir_is_named_with_its_errno() {
    if !privileged() {
        return;
    }
    let scratch = Scratch::new();
    let mut request = scratch.three_layers();
    request.lower_dirs[1] = scratch.path("no-such-layer");
    let error = mount_overlay(&request).expect_err("missing layer");
    assert_eq!(error.code(), "ERR_OVERLAY_MOUNT");
    let missing = scratch.path("no-such-layer").display().to_string();
    assert!(error.to_string().contains(&missing), "{error}");
    let cause = std::error::Error::source(&error).expect("the errno");
    assert_eq!(cause.to_string(), Errno::NOENT.to_string());
    assert_eq!(
        unmount_overlay(&request.target).expect("nothing mounted"),
        Unmounted::NotMounted
    );
}

#[test]
fn unmounting_is_idempotent_and_detaches_a_busy_mount() {
    if !privileged() {
        return;
    }
    let scratch = Scratch::new();
    let request = scratch.three_layers();
    mount_overlay(&request).expect("mounts");
    let _guard = MountGuard(request.target.clone());
    assert_eq!(
        unmount_overlay(&request.target).expect("unmounts"),
        Unmounted::Unmounted
    );
    assert_eq!(
        unmount_overlay(&request.target).expect("again"),
        Unmounted::NotMounted
    );
    assert_eq!(
        unmount_overlay(&scratch.path("missing")).expect("missing target"),
        Unmounted::NotMounted
    );

    mount_overlay(&request).expect("mounts again");
    let open = fs::File::open(request.target.join("base.txt")).expect("open");
    assert_eq!(
        unmount_overlay(&request.target).expect("unmounts"),
        Unmounted::Detached
    );
    drop(open);
    assert_eq!(
        fs::metadata(request.target.join("base.txt"))
            .expect_err("gone from the tree")
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn invalid_requests_are_refused_before_any_syscall() {
    let base = OverlayRequest {
        target: "/merged".into(),
        lower_dirs: vec!["/a".into(), "/b".into()],
        upper_dir: Some("/upper".into()),
        work_dir: Some("/work".into()),
        cwd: None,
        readonly: false,
    };
    let cases: Vec<(OverlayRequest, &str)> = vec![
        (
            OverlayRequest {
                lower_dirs: vec![],
                ..base.clone()
            },
            "no lower directories",
        ),
        (
            OverlayRequest {
                lower_dirs: vec!["/l".into(); MAX_LAYERS + 1],
                ..base.clone()
            },
            "501 lower directories",
        ),
        (
            OverlayRequest {
                work_dir: None,
                ..base.clone()
            },
            "give both or neither",
        ),
        (
            OverlayRequest {
                lower_dirs: vec!["l/A".into()],
                ..base.clone()
            },
            "l/A is relative and no cwd was given",
        ),
        (
            OverlayRequest {
                upper_dir: None,
                work_dir: None,
                ..base.clone()
            },
            "can only be read-only",
        ),
        (
            OverlayRequest {
                target: "merged".into(),
                ..base.clone()
            },
            "the target must be an absolute path",
        ),
    ];
    for (request, expected) in cases {
        let error = mount_overlay(&request).expect_err(expected);
        assert_eq!(error.code(), "ERR_OVERLAY_INVALID");
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[test]
fn mount_options_refuse_paths_they_cannot_carry() {
    let request = OverlayRequest {
        target: "/merged".into(),
        lower_dirs: vec!["/a:b".into(), "/c".into()],
        upper_dir: None,
        work_dir: None,
        cwd: None,
        readonly: true,
    };
    let error = mount_with(&request, Api::MountOptionsOnly).expect_err("colon");
    assert_eq!(error.code(), "ERR_OVERLAY_INVALID");
    assert!(error.to_string().contains("/a:b contains"), "{error}");
}
