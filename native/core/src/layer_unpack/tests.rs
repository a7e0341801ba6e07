//! End-to-end tests of `unpack_layer` on archives built here, byte by byte
//! where a tar tool would refuse to write the hostile case. They create
//! device nodes and chown, so they expect to run as root (as CI does).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::*;

/// One archive entry for [`layer`]; built with the helpers below.
#[derive(Clone)]
struct Spec {
    path: Vec<u8>,
    typeflag: u8,
    content: Vec<u8>,
    link: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    device: (u32, u32),
    pax: Vec<(String, Vec<u8>)>,
}

fn spec(path: &str, typeflag: u8, mode: u32) -> Spec {
    Spec {
        path: path.as_bytes().to_vec(),
        typeflag,
        content: Vec::new(),
        link: Vec::new(),
        mode,
        uid: 0,
        gid: 0,
        mtime: 1_600_000_000,
        device: (0, 0),
        pax: Vec::new(),
    }
}

fn file(path: &str, content: &[u8]) -> Spec {
    Spec {
        content: content.to_vec(),
        ..spec(path, b'0', 0o644)
    }
}

fn dir(path: &str) -> Spec {
    spec(path, b'5', 0o755)
}

fn symlink(path: &str, target: &str) -> Spec {
    Spec {
        link: target.as_bytes().to_vec(),
        ..spec(path, b'2', 0o777)
    }
}

fn hardlink(path: &str, target: &str) -> Spec {
    Spec {
        link: target.as_bytes().to_vec(),
        ..spec(path, b'1', 0o644)
    }
}

impl Spec {
    fn mode(self, mode: u32) -> Self {
        Spec { mode, ..self }
    }
    fn owner(self, uid: u32, gid: u32) -> Self {
        Spec { uid, gid, ..self }
    }
    fn mtime(self, mtime: i64) -> Self {
        Spec { mtime, ..self }
    }
    fn device(self, major: u32, minor: u32) -> Self {
        Spec {
            device: (major, minor),
            ..self
        }
    }
    fn pax(mut self, key: &str, value: &[u8]) -> Self {
        self.pax.push((key.to_owned(), value.to_vec()));
        self
    }
}

fn block_with(name: &[u8], typeflag: u8, size: u64, spec: &Spec) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    let name = &name[..name.len().min(100)];
    block[..name.len()].copy_from_slice(name);
    let octal = |block: &mut [u8; BLOCK], at: usize, width: usize, value: u64| {
        let text = format!("{value:0w$o}\0", w = width - 1);
        block[at..at + width].copy_from_slice(text.as_bytes());
    };
    octal(&mut block, 100, 8, u64::from(spec.mode));
    octal(&mut block, 108, 8, u64::from(spec.uid));
    octal(&mut block, 116, 8, u64::from(spec.gid));
    octal(&mut block, 124, 12, size);
    octal(&mut block, 136, 12, spec.mtime as u64);
    block[156] = typeflag;
    let link = &spec.link[..spec.link.len().min(100)];
    block[157..157 + link.len()].copy_from_slice(link);
    block[257..265].copy_from_slice(b"ustar\x0000");
    octal(&mut block, 329, 8, u64::from(spec.device.0));
    octal(&mut block, 337, 8, u64::from(spec.device.1));
    seal(&mut block);
    block
}

fn seal(block: &mut [u8; BLOCK]) {
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&byte| u32::from(byte)).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

fn pax_records(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let rest = key.len() + value.len() + 3;
        let mut length = rest + 1;
        while length.to_string().len() + rest != length {
            length += 1;
        }
        out.extend_from_slice(format!("{length} {key}=").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

fn push_padded(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(BLOCK), 0);
}

/// Appends one entry: a PAX header first when the path or link is longer
/// than its field or the spec has records.
fn append(out: &mut Vec<u8>, spec: &Spec) {
    let mut pax = spec.pax.clone();
    if spec.path.len() > 100 {
        pax.push(("path".to_owned(), spec.path.clone()));
    }
    if spec.link.len() > 100 {
        pax.push(("linkpath".to_owned(), spec.link.clone()));
    }
    if !pax.is_empty() {
        let records = pax_records(&pax);
        out.extend_from_slice(&block_with(b"PaxHeader", b'x', records.len() as u64, spec));
        push_padded(out, &records);
    }
    out.extend_from_slice(&block_with(
        &spec.path,
        spec.typeflag,
        spec.content.len() as u64,
        spec,
    ));
    push_padded(out, &spec.content);
}

fn layer(specs: &[Spec]) -> Vec<u8> {
    let mut out = Vec::new();
    for spec in specs {
        append(&mut out, spec);
    }
    out.extend_from_slice(&[0u8; 2 * BLOCK]);
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("in memory");
    encoder.finish().expect("in memory")
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 1).expect("in memory")
}

fn sha256(data: &[u8]) -> String {
    digest_string(Sha256::digest(data))
}

/// A scratch directory with the blob, an empty destination and an
/// `outside` directory that no entry may reach.
struct Scratch {
    base: tempfile::TempDir,
}

impl Scratch {
    fn new(blob: &[u8]) -> Self {
        let base = tempfile::tempdir().expect("scratch directory");
        fs::write(base.path().join("blob"), blob).expect("blob");
        fs::create_dir(base.path().join("dest")).expect("destination");
        fs::create_dir(base.path().join("outside")).expect("outside");
        fs::write(base.path().join("outside/target"), b"untouched").expect("outside file");
        Scratch { base }
    }

    fn dest(&self) -> PathBuf {
        self.base.path().join("dest")
    }

    fn outside(&self) -> PathBuf {
        self.base.path().join("outside")
    }

    fn request(&self, compression: Compression, limit: u64) -> UnpackRequest {
        UnpackRequest {
            blob_path: self.base.path().join("blob"),
            destination: self.dest(),
            compression,
            max_uncompressed_bytes: limit,
        }
    }

    fn unpack(&self, compression: Compression) -> Result<UnpackSummary, LayerUnpackError> {
        unpack_layer(&self.request(compression, u64::MAX), &CancelToken::new())
    }

    /// The same, resolving parents by walking instead of with openat2.
    fn unpack_walking(&self, compression: Compression) -> Result<UnpackSummary, LayerUnpackError> {
        let tree = Tree::open(&self.dest())
            .expect("destination")
            .without_openat2();
        unpack_into(
            &self.request(compression, u64::MAX),
            &CancelToken::new(),
            tree,
        )
    }

    /// Asserts the outside directory still holds only its one file.
    fn assert_outside_untouched(&self) {
        let names: Vec<_> = fs::read_dir(self.outside())
            .expect("outside")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec!["target"]);
        assert_eq!(
            fs::read(self.outside().join("target")).expect("target"),
            b"untouched"
        );
    }
}

fn unpack_plain(specs: &[Spec]) -> (Scratch, UnpackSummary) {
    let scratch = Scratch::new(&layer(specs));
    let summary = scratch.unpack(Compression::None).expect("unpacks");
    (scratch, summary)
}

fn meta(path: &Path) -> fs::Metadata {
    fs::symlink_metadata(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut value = vec![0u8; 256];
    match rustix::fs::lgetxattr(path, name, &mut value[..]) {
        Ok(len) => {
            value.truncate(len);
            Some(value)
        }
        Err(_) => None,
    }
}

fn expect_code(result: Result<UnpackSummary, LayerUnpackError>, code: &str) -> LayerUnpackError {
    match result {
        Ok(summary) => panic!("expected {code}, unpacked {summary:?}"),
        Err(error) => {
            assert_eq!(error.code(), code, "{error}");
            error
        }
    }
}

#[test]
fn creates_every_entry_type_with_its_attributes() {
    let (scratch, summary) = unpack_plain(&[
        dir("etc").mode(0o750).owner(1, 2).mtime(1_000),
        file("etc/hosts", b"127.0.0.1 localhost\n")
            .mode(0o640)
            .owner(1000, 1001)
            .mtime(1_234_567),
        symlink("etc/link", "/nonexistent/target")
            .owner(5, 6)
            .mtime(2_000),
        hardlink("etc/hosts.hard", "etc/hosts"),
        spec("dev/null", b'3', 0o666).device(1, 3).owner(0, 5),
        spec("dev/loop0", b'4', 0o660).device(7, 0).owner(0, 6),
        spec("run/fifo", b'6', 0o620).mtime(3_000),
        file("empty", b""),
    ]);
    let dest = scratch.dest();
    assert_eq!(summary.entries, 8);

    let etc = meta(&dest.join("etc"));
    assert!(etc.is_dir());
    assert_eq!((etc.mode() & 0o7777, etc.uid(), etc.gid()), (0o750, 1, 2));
    assert_eq!(etc.mtime(), 1_000, "set after the entries inside it");

    let hosts = meta(&dest.join("etc/hosts"));
    assert_eq!(
        fs::read(dest.join("etc/hosts")).expect("hosts"),
        b"127.0.0.1 localhost\n"
    );
    assert_eq!(
        (hosts.mode() & 0o7777, hosts.uid(), hosts.gid()),
        (0o640, 1000, 1001)
    );
    assert_eq!((hosts.mtime(), hosts.mtime_nsec()), (1_234_567, 0));
    assert_eq!(hosts.nlink(), 2);
    assert_eq!(meta(&dest.join("etc/hosts.hard")).ino(), hosts.ino());

    let link = meta(&dest.join("etc/link"));
    assert!(link.file_type().is_symlink());
    assert_eq!(
        fs::read_link(dest.join("etc/link")).expect("link"),
        Path::new("/nonexistent/target")
    );
    assert_eq!((link.uid(), link.gid(), link.mtime()), (5, 6, 2_000));

    let null = meta(&dest.join("dev/null"));
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!((null.mode() & 0o7777, null.gid()), (0o666, 5));
    let loop0 = meta(&dest.join("dev/loop0"));
    assert!(loop0.file_type().is_block_device());
    assert_eq!(loop0.rdev(), rustix::fs::makedev(7, 0));
    let fifo = meta(&dest.join("run/fifo"));
    assert!(fifo.file_type().is_fifo());
    assert_eq!((fifo.mode() & 0o7777, fifo.mtime()), (0o620, 3_000));

    assert_eq!(meta(&dest.join("empty")).len(), 0);
}

#[test]
fn setuid_setgid_and_sticky_survive_chown() {
    let (scratch, _) = unpack_plain(&[
        file("usr/bin/su", b"#!").mode(0o4755).owner(0, 0),
        file("usr/bin/wall", b"#!").mode(0o2755).owner(0, 5),
        file("usr/bin/own", b"#!").mode(0o6750).owner(1000, 1000),
        dir("tmp").mode(0o1777),
    ]);
    let mode = |path: &str| meta(&scratch.dest().join(path)).mode() & 0o7777;
    assert_eq!(mode("usr/bin/su"), 0o4755);
    assert_eq!(mode("usr/bin/wall"), 0o2755);
    assert_eq!(mode("usr/bin/own"), 0o6750);
    assert_eq!(mode("tmp"), 0o1777);
}

#[test]
fn missing_parents_are_made_0755_root_and_late_directory_entries_apply() {
    let (scratch, _) = unpack_plain(&[
        file("a/b/c/file", b"x"),
        dir("a/b").mode(0o700).owner(3, 4).mtime(42),
        file("./a/b/other", b"y"),
        dir("./").mode(0o700),
    ]);
    let dest = scratch.dest();
    let a = meta(&dest.join("a"));
    assert_eq!((a.mode() & 0o7777, a.uid(), a.gid()), (0o755, 0, 0));
    assert_eq!(meta(&dest.join("a/b/c")).mode() & 0o7777, 0o755);
    let b = meta(&dest.join("a/b"));
    assert_eq!(
        (b.mode() & 0o7777, b.uid(), b.gid(), b.mtime()),
        (0o700, 3, 4, 42)
    );
    assert_eq!(fs::read(dest.join("a/b/other")).expect("other"), b"y");
    // The layer root keeps the snapshot's mode.
    assert_ne!(meta(&dest).mode() & 0o7777, 0o700);
}

#[test]
fn pax_headers_give_long_paths_nanosecond_mtimes_ownership_and_xattrs() {
    let long_dir = "d".repeat(120);
    let long_path = format!("{long_dir}/{}", "f".repeat(150));
    let long_target = format!("/{}", "t".repeat(200));
    let capability = [
        1u8, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let (scratch, _) = unpack_plain(&[
        file(&long_path, b"long")
            .pax("mtime", b"1700000000.123456789")
            .pax("uid", b"3000000")
            .pax("gid", b"3000001")
            .pax("SCHILY.xattr.user.comment", b"hello")
            .pax("SCHILY.xattr.security.capability", &capability)
            .pax("SCHILY.xattr.trusted.overlay.redirect", b"/elsewhere"),
        symlink(&format!("{long_dir}/link"), &long_target),
        dir("x").pax("SCHILY.xattr.trusted.crion", b"dir-value"),
        symlink("x/link", "/target").pax("SCHILY.xattr.trusted.crion", b"link-value"),
        spec("x/fifo", b'6', 0o600).pax("SCHILY.xattr.trusted.crion", b"fifo-value"),
        // The kernel refuses user.* on symlinks: skipped, as in containerd.
        symlink("x/user", "/target").pax("SCHILY.xattr.user.refused", b"v"),
    ]);
    let dest = scratch.dest();
    let path = dest.join(&long_path);
    assert_eq!(fs::read(&path).expect("long file"), b"long");
    let file_meta = meta(&path);
    assert_eq!(
        (file_meta.mtime(), file_meta.mtime_nsec()),
        (1_700_000_000, 123_456_789)
    );
    assert_eq!((file_meta.uid(), file_meta.gid()), (3_000_000, 3_000_001));
    assert_eq!(xattr(&path, "user.comment").as_deref(), Some(&b"hello"[..]));
    assert_eq!(
        xattr(&path, "security.capability").as_deref(),
        Some(&capability[..])
    );
    assert_eq!(xattr(&path, "trusted.overlay.redirect"), None);
    assert_eq!(
        fs::read_link(dest.join(&long_dir).join("link")).expect("link"),
        Path::new(&long_target)
    );
    assert_eq!(
        xattr(&dest.join("x"), "trusted.crion").as_deref(),
        Some(&b"dir-value"[..])
    );
}

#[test]
fn a_global_pax_header_applies_to_every_later_entry() {
    let mut archive = Vec::new();
    let records = pax_records(&[("uid".to_owned(), b"77".to_vec())]);
    archive.extend_from_slice(&block_with(
        b"global",
        b'g',
        records.len() as u64,
        &dir("g"),
    ));
    push_padded(&mut archive, &records);
    append(&mut archive, &file("one", b"1"));
    append(&mut archive, &file("two", b"2").pax("uid", b"78"));
    archive.extend_from_slice(&[0u8; 2 * BLOCK]);
    let scratch = Scratch::new(&archive);
    let summary = scratch.unpack(Compression::None).expect("unpacks");
    assert_eq!(summary.entries, 2);
    assert_eq!(meta(&scratch.dest().join("one")).uid(), 77);
    assert_eq!(meta(&scratch.dest().join("two")).uid(), 78);
}

#[test]
fn gnu_long_names_and_links_as_the_tar_crate_writes_them() {
    let long_name = format!("{}/name", "n".repeat(130));
    let long_target = format!("{}/target", "t".repeat(130));
    let mut builder = ::tar::Builder::new(Vec::new());
    let mut header = ::tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o600);
    header.set_entry_type(::tar::EntryType::Regular);
    builder
        .append_data(&mut header, &long_name, &b"hello"[..])
        .expect("long name");
    let mut header = ::tar::Header::new_gnu();
    header.set_size(0);
    header.set_entry_type(::tar::EntryType::Symlink);
    builder
        .append_link(&mut header, "link", &long_target)
        .expect("long link");
    let archive = builder.into_inner().expect("archive");

    let scratch = Scratch::new(&archive);
    scratch.unpack(Compression::None).expect("unpacks");
    assert_eq!(
        fs::read(scratch.dest().join(&long_name)).expect("file"),
        b"hello"
    );
    assert_eq!(meta(&scratch.dest().join(&long_name)).mode() & 0o777, 0o600);
    assert_eq!(
        fs::read_link(scratch.dest().join("link")).expect("link"),
        Path::new(&long_target)
    );
}

#[test]
fn whiteouts_become_overlay_char_devices_and_opaque_markers_an_xattr() {
    let (scratch, summary) = unpack_plain(&[
        dir("etc"),
        file("etc/.wh.removed", b"").owner(10, 20),
        file("var/lib/.wh..wh..opq", b""),
        file(".wh..wh.plnk", b""),
        file("opt/keep/.wh..wh..opq", b""),
        file("opt/keep/new", b"n"),
    ]);
    let dest = scratch.dest();
    assert_eq!(summary.entries, 6);
    let whiteout = meta(&dest.join("etc/removed"));
    assert!(whiteout.file_type().is_char_device());
    assert_eq!(whiteout.rdev(), 0);
    assert_eq!((whiteout.uid(), whiteout.gid()), (10, 20));
    assert!(!dest.join("etc/.wh.removed").exists());
    assert_eq!(
        xattr(&dest.join("var/lib"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!dest.join("var/lib/.wh..wh..opq").exists());
    assert!(!dest.join(".wh..wh.plnk").exists());
    assert!(!dest.join("plnk").exists());
    assert_eq!(
        xattr(&dest.join("opt/keep"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(fs::read(dest.join("opt/keep/new")).expect("new"), b"n");
}

#[test]
fn hard_links_must_name_an_earlier_regular_entry() {
    let (scratch, _) = unpack_plain(&[
        symlink("s", "/etc/passwd"),
        hardlink("s2", "s"),
        file("f", b"data"),
        hardlink("dir/f2", "./f"),
    ]);
    let dest = scratch.dest();
    assert_eq!(
        meta(&dest.join("s2")).ino(),
        meta(&dest.join("s")).ino(),
        "links the symlink itself"
    );
    assert_eq!(fs::read(dest.join("dir/f2")).expect("f2"), b"data");

    for specs in [
        vec![hardlink("l", "missing")],
        vec![dir("d"), hardlink("l", "d")],
        vec![file("f", b"x"), hardlink("f", "f")],
    ] {
        let scratch = Scratch::new(&layer(&specs));
        expect_code(scratch.unpack(Compression::None), "ERR_UNPACK_CORRUPT");
    }
}

#[test]
fn later_entries_replace_earlier_ones_without_writing_through_them() {
    let scratch_outside = tempfile::tempdir().expect("outside");
    let target = scratch_outside.path().join("victim");
    fs::write(&target, b"original").expect("victim");
    let target_text = target.to_str().expect("utf-8 path");
    let (scratch, _) = unpack_plain(&[
        symlink("f", target_text),
        file("f", b"replaced"),
        file("g", b"file"),
        symlink("g", "elsewhere"),
        dir("h"),
        file("h/child", b"c"),
        file("h", b"now a file"),
        file("i", b"file"),
        dir("i").mode(0o711),
        dir("j").mode(0o700),
        file("j/kept", b"k"),
        dir("j").mode(0o755),
    ]);
    let dest = scratch.dest();
    assert_eq!(fs::read(&target).expect("victim"), b"original");
    assert_eq!(fs::read(dest.join("f")).expect("f"), b"replaced");
    assert!(meta(&dest.join("f")).file_type().is_file());
    assert_eq!(
        fs::read_link(dest.join("g")).expect("g"),
        Path::new("elsewhere")
    );
    assert_eq!(fs::read(dest.join("h")).expect("h"), b"now a file");
    assert_eq!(meta(&dest.join("i")).mode() & 0o7777, 0o711);
    assert_eq!(fs::read(dest.join("j/kept")).expect("kept"), b"k");
    assert_eq!(meta(&dest.join("j")).mode() & 0o7777, 0o755);
}

/// Runs a hostile layer through both ways of resolving parents.
fn assert_escape(specs: &[Spec], outside_link: Option<&str>) {
    for walking in [false, true] {
        let scratch = Scratch::new(b"");
        let mut specs = specs.to_vec();
        // Hostile symlinks point at this test's `outside` directory rather
        // than at /etc.
        if let Some(name) = outside_link {
            let outside = scratch.outside();
            specs.insert(0, symlink(name, outside.to_str().expect("utf-8 path")));
        }
        fs::write(scratch.base.path().join("blob"), layer(&specs)).expect("blob");
        let result = if walking {
            scratch.unpack_walking(Compression::None)
        } else {
            scratch.unpack(Compression::None)
        };
        let error = expect_code(result, "ERR_UNPACK_PATH_ESCAPE");
        assert!(
            error.to_string().contains("escapes the destination"),
            "{error}"
        );
        scratch.assert_outside_untouched();
    }
}

#[test]
fn dot_dot_and_absolute_paths_escape() {
    assert_escape(&[file("../outside/evil", b"x")], None);
    assert_escape(&[file("a/../../outside/evil", b"x")], None);
    assert_escape(&[file("/outside/evil", b"x")], None);
    assert_escape(&[dir("..")], None);
}

#[test]
fn writes_through_a_symlinked_parent_escape() {
    assert_escape(&[file("a/evil", b"x")], Some("a"));
    assert_escape(&[dir("a/evil")], Some("a"));
    assert_escape(&[symlink("a/evil", "/x")], Some("a"));
    assert_escape(&[file("a/.wh.target", b"")], Some("a"));
    assert_escape(&[file("a/.wh..wh..opq", b"")], Some("a"));
    assert_escape(&[file("a/sub/deeper/evil", b"x")], Some("a"));
    // A relative symlink that climbs out is refused the same way.
    assert_escape(&[symlink("up", "../outside"), file("up/evil", b"x")], None);
}

#[test]
fn hard_links_out_of_the_destination_escape() {
    assert_escape(&[hardlink("l", "../outside/target")], None);
    assert_escape(&[hardlink("l", "/outside/target")], None);
    assert_escape(&[hardlink("l", "a/target")], Some("a"));
}

#[test]
fn a_whiteout_of_dot_dot_escapes() {
    assert_escape(&[file("x/.wh...", b"")], None);
}

#[test]
fn symlink_targets_are_data_even_when_they_point_outside() {
    let (scratch, _) = unpack_plain(&[symlink("etc", "/etc"), symlink("up", "../../..")]);
    assert_eq!(
        fs::read_link(scratch.dest().join("etc")).expect("etc"),
        Path::new("/etc")
    );
    assert_eq!(
        fs::read_link(scratch.dest().join("up")).expect("up"),
        Path::new("../../..")
    );
}

#[test]
fn digests_and_sizes_cover_the_whole_streams_including_trailing_bytes() {
    let mut archive = layer(&[file("a", b"alpha"), dir("b")]);
    // Some writers pad the archive to a record size after the end marker.
    archive.extend_from_slice(&[0u8; 7 * BLOCK]);
    archive.extend_from_slice(b"trailing garbage after the end");
    for (compression, blob) in [
        (Compression::Gzip, gzip(&archive)),
        (Compression::Zstd, zstd(&archive)),
        (Compression::None, archive.clone()),
    ] {
        let scratch = Scratch::new(&blob);
        let summary = scratch.unpack(compression).expect("unpacks");
        assert_eq!(summary.diff_id, sha256(&archive), "{compression:?}");
        assert_eq!(summary.compressed_digest, sha256(&blob), "{compression:?}");
        assert_eq!(summary.uncompressed_size, archive.len() as u64);
        assert_eq!(summary.compressed_size, blob.len() as u64);
        assert_eq!(summary.entries, 2);
        assert_eq!(fs::read(scratch.dest().join("a")).expect("a"), b"alpha");
    }
}

#[test]
fn multi_member_gzip_and_multi_frame_zstd_are_one_stream() {
    let archive = layer(&[
        file("big", &vec![7u8; 3 * super::decode::CHUNK_SIZE + 5]),
        file("small", b"s"),
    ]);
    let (head, tail) = archive.split_at(archive.len() / 3);
    for (compression, blob) in [
        (Compression::Gzip, [gzip(head), gzip(tail)].concat()),
        (Compression::Zstd, [zstd(head), zstd(tail)].concat()),
    ] {
        let scratch = Scratch::new(&blob);
        let summary = scratch.unpack(compression).expect("unpacks");
        assert_eq!(summary.diff_id, sha256(&archive));
        assert_eq!(summary.compressed_digest, sha256(&blob));
        assert_eq!(
            meta(&scratch.dest().join("big")).len(),
            3 * super::decode::CHUNK_SIZE as u64 + 5
        );
        assert_eq!(fs::read(scratch.dest().join("small")).expect("small"), b"s");
    }
}

#[test]
fn more_bytes_than_the_limit_are_too_large() {
    let archive = layer(&[file("f", &[1u8; 10_000])]);
    let scratch = Scratch::new(&gzip(&archive));
    let limit = archive.len() as u64 - 1;
    let error = expect_code(
        unpack_layer(
            &scratch.request(Compression::Gzip, limit),
            &CancelToken::new(),
        ),
        "ERR_UNPACK_TOO_LARGE",
    );
    assert_eq!(
        error.to_string(),
        format!("the layer inflates to more than {limit} bytes")
    );
    // Exactly the limit is fine.
    let scratch = Scratch::new(&gzip(&archive));
    unpack_layer(
        &scratch.request(Compression::Gzip, archive.len() as u64),
        &CancelToken::new(),
    )
    .expect("at the limit");
}

/// 4 GiB of zeros in 4096 gzip members of 1 MiB each: about 4 MB, made once.
fn zero_bomb() -> &'static [u8] {
    static BOMB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BOMB.get_or_init(|| gzip(&vec![0u8; 1 << 20]).repeat(4096))
}

#[test]
fn a_bomb_is_stopped_without_inflating_it() {
    let scratch = Scratch::new(zero_bomb());
    let started = Instant::now();
    expect_code(
        unpack_layer(
            &scratch.request(Compression::Gzip, 1 << 20),
            &CancelToken::new(),
        ),
        "ERR_UNPACK_TOO_LARGE",
    );
    // Inflating 4 GiB takes several seconds even with a fast inflater.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn truncated_and_malformed_streams_are_corrupt() {
    let archive = layer(&[file("f", &[3u8; 5000]), file("g", b"g")]);
    let gzipped = gzip(&archive);
    let zstded = zstd(&archive);
    let mut bad_checksum = archive.clone();
    bad_checksum[0] = b'x';
    let mut zero_then_data = vec![0u8; BLOCK];
    zero_then_data.extend_from_slice(&layer(&[file("late", b"")]));
    let cases: Vec<(&str, Compression, Vec<u8>)> = vec![
        (
            "truncated gzip",
            Compression::Gzip,
            gzipped[..gzipped.len() - 10].to_vec(),
        ),
        (
            "truncated zstd",
            Compression::Zstd,
            zstded[..zstded.len() - 10].to_vec(),
        ),
        ("not gzip", Compression::Gzip, archive.clone()),
        ("not zstd", Compression::Zstd, archive.clone()),
        (
            "garbage after gzip",
            Compression::Gzip,
            [gzipped.clone(), b"junk".to_vec()].concat(),
        ),
        (
            "garbage after zstd",
            Compression::Zstd,
            [zstded.clone(), b"junk".to_vec()].concat(),
        ),
        ("empty gzip", Compression::Gzip, Vec::new()),
        ("empty zstd", Compression::Zstd, Vec::new()),
        (
            "tar cut in a file",
            Compression::None,
            archive[..BLOCK + 100].to_vec(),
        ),
        (
            "tar cut in a header",
            Compression::None,
            archive[..BLOCK * 11 + 100].to_vec(),
        ),
        ("bad checksum", Compression::None, bad_checksum),
        ("zero block then data", Compression::None, zero_then_data),
        ("PAX header at the end", Compression::None, {
            let mut out = Vec::new();
            let records = pax_records(&[("path".to_owned(), b"x".to_vec())]);
            out.extend_from_slice(&block_with(
                b"pax",
                b'x',
                records.len() as u64,
                &file("p", b""),
            ));
            push_padded(&mut out, &records);
            out
        }),
        (
            "a file as a parent",
            Compression::None,
            layer(&[file("a", b""), file("a/b", b"")]),
        ),
    ];
    for (name, compression, blob) in cases {
        let scratch = Scratch::new(&blob);
        let error = expect_code(scratch.unpack(compression), "ERR_UNPACK_CORRUPT");
        assert!(
            error.to_string().starts_with("corrupt layer: "),
            "{name}: {error}"
        );
    }
}

#[test]
fn an_archive_without_its_end_marker_ends_at_a_header_boundary() {
    let archive = layer(&[file("f", b"f")]);
    let scratch = Scratch::new(&archive[..archive.len() - 2 * BLOCK]);
    scratch.unpack(Compression::None).expect("unpacks");
    let scratch = Scratch::new(&archive[..archive.len() - BLOCK]);
    scratch.unpack(Compression::None).expect("unpacks");
    let scratch = Scratch::new(b"");
    assert_eq!(
        scratch
            .unpack(Compression::None)
            .expect("empty layer")
            .entries,
        0
    );
}

#[test]
fn sparse_volume_and_unknown_entries_are_unsupported() {
    for typeflag in [b'S', b'V', b'M', b'Z'] {
        let scratch = Scratch::new(&layer(&[spec("x", typeflag, 0o644)]));
        let error = expect_code(
            scratch.unpack(Compression::None),
            "ERR_UNPACK_UNSUPPORTED_ENTRY",
        );
        assert!(
            error.to_string().starts_with("entry \"x\" has tar type"),
            "{error}"
        );
    }
    let scratch = Scratch::new(&layer(&[file("s", b"").pax("GNU.sparse.major", b"1")]));
    expect_code(
        scratch.unpack(Compression::None),
        "ERR_UNPACK_UNSUPPORTED_ENTRY",
    );
}

#[test]
fn io_errors_name_the_path() {
    let scratch = Scratch::new(&layer(&[]));
    let mut request = scratch.request(Compression::None, u64::MAX);
    request.blob_path = scratch.base.path().join("no-such-blob");
    let error = expect_code(unpack_layer(&request, &CancelToken::new()), "ERR_UNPACK_IO");
    assert_eq!(
        error.to_string(),
        format!("opening {}", request.blob_path.display())
    );

    let mut request = scratch.request(Compression::None, u64::MAX);
    request.destination = scratch.base.path().join("no-such-dir");
    let error = expect_code(unpack_layer(&request, &CancelToken::new()), "ERR_UNPACK_IO");
    assert_eq!(
        error.to_string(),
        format!("opening the destination {}", request.destination.display())
    );
}

#[test]
fn a_large_layer_streams_through_many_chunks() {
    // Files that straddle chunk boundaries, and many small ones.
    let mut specs = vec![file(
        "big",
        &(0..=255u8).cycle().take(2 << 20).collect::<Vec<_>>(),
    )];
    for index in 0..2000 {
        specs.push(file(
            &format!("many/{}/{index}", index % 37),
            format!("{index}").as_bytes(),
        ));
    }
    let archive = layer(&specs);
    let scratch = Scratch::new(&zstd(&archive));
    let summary = scratch.unpack(Compression::Zstd).expect("unpacks");
    assert_eq!(summary.entries, 2001);
    assert_eq!(summary.diff_id, sha256(&archive));
    let big = fs::read(scratch.dest().join("big")).expect("big");
    assert!(big.iter().copied().eq((0..=255u8).cycle().take(2 << 20)));
    assert_eq!(
        fs::read(scratch.dest().join(format!("many/{}/1998", 1998 % 37))).expect("small"),
        b"1998"
    );
    assert_eq!(
        meta(&scratch.dest().join("many")).permissions().mode() & 0o777,
        0o755
    );
}

#[test]
fn a_cancelled_unpack_stops() {
    let scratch = Scratch::new(&gzip(&layer(&[file("f", b"x")])));
    let cancel = CancelToken::new();
    cancel.cancel();
    let error = expect_code(
        unpack_layer(&scratch.request(Compression::Gzip, u64::MAX), &cancel),
        "ERR_UNPACK_CANCELLED",
    );
    assert_eq!(error.to_string(), "the layer unpack was cancelled");
    assert!(!scratch.dest().join("f").exists());
}

#[test]
fn cancelling_from_another_thread_stops_a_long_unpack() {
    // A 4 GiB file of zeros, with no limit this time.
    let header = block_with(b"zeros", b'0', 4 << 30, &file("zeros", b""));
    let scratch = Scratch::new(&[&gzip(&header)[..], zero_bomb()].concat());
    let cancel = CancelToken::new();
    let started = Instant::now();
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            cancel.cancel();
        });
        unpack_layer(&scratch.request(Compression::Gzip, u64::MAX), &cancel)
    });
    expect_code(result, "ERR_UNPACK_CANCELLED");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
