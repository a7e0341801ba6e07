//! Writes entries under the destination without ever following a symlink.
//!
//! Every operation is relative to a directory fd reached from the
//! destination's fd without following symlinks: `openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` in one call where the kernel has
//! it (5.6+), else a walk of `O_NOFOLLOW | O_DIRECTORY` opens, which also
//! creates missing parents and names the component that is in the way. Only
//! the final component is created, always exclusively (`O_EXCL`, `mkdirat`,
//! `symlinkat`, `mknodat`, `linkat` all refuse an existing name), so an entry
//! that meets an earlier one removes it and retries instead of writing
//! through it.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{
    AtFlags, CWD, Dir, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid,
    XattrFlags, chmodat, chownat, fchmod, fchown, fsetxattr, futimens, linkat, lsetxattr, makedev,
    mkdirat, mknodat, openat, openat2, statat, symlinkat, unlinkat, utimensat,
};
use rustix::io::Errno;

use super::LayerUnpackError;
use super::tar::{Entry, Kind, Mtime, normalize};

const DIRECTORY_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Parents the layer does not list are made like this, as containerd does.
const IMPLICIT_DIRECTORY_MODE: u32 = 0o755;

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// overlayfs reads `trusted.overlay.*` as its own metadata (opaque, redirect,
/// metacopy); a layer may only set it through whiteout entries.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";

/// What a missing directory on the way means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// Create it (a layer need not list its directories).
    Create,
    /// A malformed layer (a hard link's target must exist).
    Existing,
}

/// Where one entry goes: a checked parent directory and a name in it.
pub(super) struct Slot {
    parent: Rc<OwnedFd>,
    name: Vec<u8>,
    /// The normalized path below the destination, for error messages and
    /// the deferred directory times.
    relative: Vec<u8>,
}

pub(super) struct Tree {
    root: Rc<OwnedFd>,
    root_path: PathBuf,
    /// The directory the last lookup reached: tar lists a directory's
    /// entries together, so most entries reuse it without a syscall. Any
    /// directory removal clears it.
    cached: Option<(Vec<u8>, Rc<OwnedFd>)>,
    /// Cleared when the kernel has no openat2, to walk from then on.
    openat2: bool,
    /// Directory mtimes, applied last: writing an entry into a directory
    /// changes its mtime.
    directory_times: Vec<(Vec<u8>, Mtime)>,
}

impl Tree {
    pub fn open(destination: &Path) -> Result<Self, LayerUnpackError> {
        // The caller chose the destination; only what the layer names is
        // kept from following symlinks.
        let root = openat(
            CWD,
            destination,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| LayerUnpackError::Io {
            action: "opening the destination",
            path: destination.to_owned(),
            source: errno.into(),
        })?;
        Ok(Tree {
            root: Rc::new(root),
            root_path: destination.to_owned(),
            cached: None,
            openat2: true,
            directory_times: Vec::new(),
        })
    }

    #[cfg(test)]
    pub fn without_openat2(mut self) -> Self {
        self.openat2 = false;
        self
    }

    /// Where an entry with these path components goes, creating missing
    /// parents. `entry_path` is the archive's spelling, for messages.
    pub fn slot(
        &mut self,
        parents: &[&[u8]],
        name: &[u8],
        entry_path: &[u8],
    ) -> Result<Slot, LayerUnpackError> {
        let parent = self.directory(parents, Lookup::Create, entry_path)?;
        let mut relative = parents.join(&b'/');
        if !relative.is_empty() {
            relative.push(b'/');
        }
        relative.extend_from_slice(name);
        Ok(Slot {
            parent,
            name: name.to_vec(),
            relative,
        })
    }

    /// Opens the directory `components` below the root without following
    /// symlinks; no components is the root.
    fn directory(
        &mut self,
        components: &[&[u8]],
        lookup: Lookup,
        entry_path: &[u8],
    ) -> Result<Rc<OwnedFd>, LayerUnpackError> {
        if components.is_empty() {
            return Ok(Rc::clone(&self.root));
        }
        let key = components.join(&b'/');
        if let Some((cached_key, fd)) = &self.cached
            && *cached_key == key
        {
            return Ok(Rc::clone(fd));
        }
        let mut opened = None;
        if self.openat2 {
            match openat2(
                self.root.as_fd(),
                key.as_slice(),
                DIRECTORY_FLAGS,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
            ) {
                Ok(fd) => opened = Some(fd),
                Err(Errno::NOSYS) => self.openat2 = false,
                // The walk creates what is missing, or says what is wrong.
                Err(_) => {}
            }
        }
        let fd = Rc::new(match opened {
            Some(fd) => fd,
            None => self.walk(components, lookup, entry_path)?,
        });
        self.cached = Some((key, Rc::clone(&fd)));
        Ok(fd)
    }

    /// Opens `components` (at least one) one at a time with
    /// `O_NOFOLLOW | O_DIRECTORY`.
    fn walk(
        &self,
        components: &[&[u8]],
        lookup: Lookup,
        entry_path: &[u8],
    ) -> Result<OwnedFd, LayerUnpackError> {
        let mut current =
            self.open_component(self.root.as_fd(), components, 0, lookup, entry_path)?;
        for index in 1..components.len() {
            current =
                self.open_component(current.as_fd(), components, index, lookup, entry_path)?;
        }
        Ok(current)
    }

    fn open_component(
        &self,
        parent: BorrowedFd<'_>,
        components: &[&[u8]],
        index: usize,
        lookup: Lookup,
        entry_path: &[u8],
    ) -> Result<OwnedFd, LayerUnpackError> {
        let name = components[index];
        let reached = &components[..=index];
        match openat(parent, name, DIRECTORY_FLAGS, Mode::empty()) {
            Ok(fd) => Ok(fd),
            Err(Errno::NOENT) if lookup == Lookup::Create => {
                self.make_implicit_directory(parent, name, reached)
            }
            Err(Errno::NOENT) => Err(LayerUnpackError::Corrupt(format!(
                "entry {}: {} does not exist",
                show(entry_path),
                show(&reached.join(&b'/'))
            ))),
            Err(Errno::LOOP | Errno::NOTDIR) => {
                Err(self.in_the_way(parent, name, reached, entry_path))
            }
            Err(errno) => Err(self.io("opening", &reached.join(&b'/'), errno)),
        }
    }

    fn make_implicit_directory(
        &self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        reached: &[&[u8]],
    ) -> Result<OwnedFd, LayerUnpackError> {
        let relative = reached.join(&b'/');
        mkdirat(parent, name, Mode::from_raw_mode(0o700))
            .map_err(|errno| self.io("creating the directory", &relative, errno))?;
        let fd = openat(parent, name, DIRECTORY_FLAGS, Mode::empty())
            .map_err(|errno| self.io("opening", &relative, errno))?;
        fchown(&fd, Some(Uid::ROOT), Some(Gid::ROOT))
            .map_err(|errno| self.io("changing the owner of", &relative, errno))?;
        fchmod(&fd, Mode::from_raw_mode(IMPLICIT_DIRECTORY_MODE))
            .map_err(|errno| self.io("changing the mode of", &relative, errno))?;
        Ok(fd)
    }

    /// A parent component that exists but is not a directory: a symlink is
    /// an escape attempt, anything else a malformed layer.
    fn in_the_way(
        &self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        reached: &[&[u8]],
        entry_path: &[u8],
    ) -> LayerUnpackError {
        let relative = reached.join(&b'/');
        match statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink => {
                LayerUnpackError::PathEscape {
                    path: lossy(entry_path),
                    reason: format!("{} is a symlink", show(&relative)),
                }
            }
            Ok(_) => LayerUnpackError::Corrupt(format!(
                "entry {}: {} is not a directory",
                show(entry_path),
                show(&relative)
            )),
            Err(errno) => self.io("inspecting", &relative, errno),
        }
    }

    /// Runs `create` for `slot`; if the name is taken, removes what is there
    /// (a directory with its contents, as docker and containerd do) and runs
    /// it once more.
    fn create_exclusive<T>(
        &mut self,
        slot: &Slot,
        action: &'static str,
        create: impl Fn(BorrowedFd<'_>, &[u8]) -> Result<T, Errno>,
    ) -> Result<T, LayerUnpackError> {
        match create(slot.parent.as_fd(), &slot.name) {
            Err(Errno::EXIST) => {
                self.clear(slot)?;
                create(slot.parent.as_fd(), &slot.name)
            }
            result => result,
        }
        .map_err(|errno| self.io(action, &slot.relative, errno))
    }

    fn clear(&mut self, slot: &Slot) -> Result<(), LayerUnpackError> {
        let parent = slot.parent.as_fd();
        match statat(parent, slot.name.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
                self.cached = None;
                self.remove_tree(parent, &slot.name, &slot.relative)
            }
            Ok(_) => unlinkat(parent, slot.name.as_slice(), AtFlags::empty())
                .map_err(|errno| self.io("removing", &slot.relative, errno)),
            Err(Errno::NOENT) => Ok(()),
            Err(errno) => Err(self.io("inspecting", &slot.relative, errno)),
        }
    }

    /// Removes a directory and everything below it, never leaving it through
    /// a symlink. Recursion depth is bounded by the entry path length limit.
    fn remove_tree(
        &self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        relative: &[u8],
    ) -> Result<(), LayerUnpackError> {
        let directory = openat(parent, name, DIRECTORY_FLAGS, Mode::empty())
            .map_err(|errno| self.io("opening", relative, errno))?;
        // Names first, removals after: a directory changing while it is
        // being read may skip entries.
        let mut children = Vec::new();
        let mut reader = Dir::read_from(&directory)
            .map_err(|errno| self.io("reading the directory", relative, errno))?;
        while let Some(child) = reader.read() {
            let child = child.map_err(|errno| self.io("reading the directory", relative, errno))?;
            let child_name = child.file_name().to_bytes();
            if child_name != b"." && child_name != b".." {
                children.push((child_name.to_vec(), child.file_type()));
            }
        }
        for (child_name, file_type) in children {
            let mut child_relative = relative.to_vec();
            child_relative.push(b'/');
            child_relative.extend_from_slice(&child_name);
            let is_directory = match file_type {
                FileType::Directory => true,
                FileType::Unknown => {
                    statat(&directory, child_name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
                        .map(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Directory)
                        .map_err(|errno| self.io("inspecting", &child_relative, errno))?
                }
                _ => false,
            };
            if is_directory {
                self.remove_tree(directory.as_fd(), &child_name, &child_relative)?;
            } else {
                unlinkat(&directory, child_name.as_slice(), AtFlags::empty())
                    .map_err(|errno| self.io("removing", &child_relative, errno))?;
            }
        }
        unlinkat(parent, name, AtFlags::REMOVEDIR)
            .map_err(|errno| self.io("removing", relative, errno))
    }

    /// Creates an empty regular file for the entry's content.
    pub fn create_file(&mut self, slot: &Slot) -> Result<File, LayerUnpackError> {
        self.create_exclusive(slot, "creating", |parent, name| {
            openat(
                parent,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        })
        .map(File::from)
    }

    pub fn write_all(
        &self,
        slot: &Slot,
        mut file: &File,
        data: &[u8],
    ) -> Result<(), LayerUnpackError> {
        file.write_all(data).map_err(|source| LayerUnpackError::Io {
            action: "writing",
            path: self.full_path(&slot.relative),
            source,
        })
    }

    /// Ownership, mode, xattrs and mtime of a file whose content is written.
    pub fn finish_file(
        &self,
        slot: &Slot,
        file: &File,
        entry: &Entry,
    ) -> Result<(), LayerUnpackError> {
        self.set_owner_mode_xattrs(slot, file, entry)?;
        futimens(file, &timestamps(entry.mtime))
            .map_err(|errno| self.io("setting the times of", &slot.relative, errno))
    }

    pub fn create_directory(&mut self, slot: &Slot, entry: &Entry) -> Result<(), LayerUnpackError> {
        let parent = slot.parent.as_fd();
        match mkdirat(parent, slot.name.as_slice(), Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            // A directory that is already there (made as a parent, or listed
            // twice) keeps its contents and takes this entry's attributes.
            Err(Errno::EXIST) if self.is_directory(slot)? => {}
            Err(Errno::EXIST) => {
                self.clear(slot)?;
                mkdirat(parent, slot.name.as_slice(), Mode::from_raw_mode(0o700))
                    .map_err(|errno| self.io("creating the directory", &slot.relative, errno))?;
            }
            Err(errno) => return Err(self.io("creating the directory", &slot.relative, errno)),
        }
        let directory = openat(parent, slot.name.as_slice(), DIRECTORY_FLAGS, Mode::empty())
            .map_err(|errno| self.io("opening", &slot.relative, errno))?;
        self.set_owner_mode_xattrs(slot, &directory, entry)?;
        self.directory_times
            .push((slot.relative.clone(), entry.mtime));
        Ok(())
    }

    fn is_directory(&self, slot: &Slot) -> Result<bool, LayerUnpackError> {
        statat(
            slot.parent.as_fd(),
            slot.name.as_slice(),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Directory)
        .map_err(|errno| self.io("inspecting", &slot.relative, errno))
    }

    pub fn create_symlink(
        &mut self,
        slot: &Slot,
        target: &[u8],
        entry: &Entry,
    ) -> Result<(), LayerUnpackError> {
        if target.is_empty() {
            return Err(LayerUnpackError::Corrupt(format!(
                "entry {}: symlink with an empty target",
                show(&entry.path)
            )));
        }
        // The target is stored, never resolved.
        self.create_exclusive(slot, "creating the symlink", |parent, name| {
            symlinkat(target, parent, name)
        })?;
        // Linux has no mode for symlinks.
        self.set_owner_at(slot, entry)?;
        self.set_xattrs_at(slot, entry)?;
        self.set_times_at(slot, entry.mtime)
    }

    /// Character and block devices and FIFOs.
    pub fn create_node(&mut self, slot: &Slot, entry: &Entry) -> Result<(), LayerUnpackError> {
        let (file_type, device) = match entry.kind {
            Kind::CharDevice { major, minor } => (FileType::CharacterDevice, makedev(major, minor)),
            Kind::BlockDevice { major, minor } => (FileType::BlockDevice, makedev(major, minor)),
            _ => (FileType::Fifo, 0),
        };
        self.create_exclusive(slot, "creating the device node", |parent, name| {
            mknodat(parent, name, file_type, Mode::from_raw_mode(0o600), device)
        })?;
        self.set_owner_at(slot, entry)?;
        // After chown, which clears setuid and setgid. chmodat follows a
        // symlink, but the name was just made as a node inside a directory
        // reached without symlinks.
        chmodat(
            slot.parent.as_fd(),
            slot.name.as_slice(),
            Mode::from_raw_mode(entry.mode),
            AtFlags::empty(),
        )
        .map_err(|errno| self.io("changing the mode of", &slot.relative, errno))?;
        self.set_xattrs_at(slot, entry)?;
        self.set_times_at(slot, entry.mtime)
    }

    /// A hard link to an earlier entry of this layer. Being inside the
    /// destination, which starts empty, is what makes it an earlier entry.
    pub fn create_hard_link(
        &mut self,
        slot: &Slot,
        target: &[u8],
        entry: &Entry,
    ) -> Result<(), LayerUnpackError> {
        let corrupt = |problem: &str| {
            LayerUnpackError::Corrupt(format!(
                "entry {}: hard link to {}: {problem}",
                show(&entry.path),
                show(target)
            ))
        };
        let components = normalize(target).map_err(|escape| LayerUnpackError::PathEscape {
            path: lossy(&entry.path),
            reason: format!("its hard link target {}: {}", show(target), escape.reason()),
        })?;
        let Some((target_name, target_parents)) = components.split_last() else {
            return Err(corrupt("the layer root cannot be linked"));
        };
        let target_parent = self.directory(target_parents, Lookup::Existing, &entry.path)?;
        let target_relative = components.join(&b'/');
        if target_relative == slot.relative {
            return Err(corrupt("a link to itself"));
        }
        match statat(
            target_parent.as_fd(),
            *target_name,
            AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
                return Err(corrupt("it is a directory"));
            }
            Ok(_) => {}
            Err(Errno::NOENT) => return Err(corrupt("no earlier entry has that path")),
            Err(errno) => return Err(self.io("inspecting", &target_relative, errno)),
        }
        // Without AT_SYMLINK_FOLLOW a symlink target is linked itself,
        // never followed. The inode keeps the target entry's attributes.
        self.create_exclusive(slot, "creating the hard link", |parent, name| {
            linkat(
                target_parent.as_fd(),
                *target_name,
                parent,
                name,
                AtFlags::empty(),
            )
        })
    }

    /// `.wh.<name>`: overlayfs hides `<name>` of lower layers behind a 0:0
    /// character device.
    pub fn create_whiteout(&mut self, slot: &Slot, entry: &Entry) -> Result<(), LayerUnpackError> {
        self.create_exclusive(slot, "creating the whiteout", |parent, name| {
            mknodat(
                parent,
                name,
                FileType::CharacterDevice,
                Mode::empty(),
                makedev(0, 0),
            )
        })?;
        self.set_owner_at(slot, entry)
    }

    /// `.wh..wh..opq`: overlayfs hides all of a directory's lower contents
    /// when the directory has `trusted.overlay.opaque=y`.
    pub fn make_opaque(
        &mut self,
        directory: &[&[u8]],
        entry_path: &[u8],
    ) -> Result<(), LayerUnpackError> {
        let fd = self.directory(directory, Lookup::Create, entry_path)?;
        fsetxattr(&*fd, OPAQUE_XATTR, b"y", XattrFlags::empty())
            .map_err(|errno| self.io("marking as opaque", &directory.join(&b'/'), errno))
    }

    /// Applies the directory mtimes recorded while unpacking. A directory
    /// that a later entry replaced, or put behind a symlink, keeps the
    /// replacement's attributes.
    pub fn finish(mut self) -> Result<(), LayerUnpackError> {
        for (relative, mtime) in std::mem::take(&mut self.directory_times) {
            let components: Vec<&[u8]> = relative.split(|&byte| byte == b'/').collect();
            let Some((name, parents)) = components.split_last() else {
                continue;
            };
            let parent = match self.directory(parents, Lookup::Existing, &relative) {
                Ok(parent) => parent,
                Err(LayerUnpackError::PathEscape { .. } | LayerUnpackError::Corrupt(_)) => continue,
                Err(error) => return Err(error),
            };
            let directory = match openat(&*parent, *name, DIRECTORY_FLAGS, Mode::empty()) {
                Ok(directory) => directory,
                Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => continue,
                Err(errno) => return Err(self.io("opening", &relative, errno)),
            };
            futimens(&directory, &timestamps(mtime))
                .map_err(|errno| self.io("setting the times of", &relative, errno))?;
        }
        Ok(())
    }

    /// chown before chmod, which would otherwise lose setuid and setgid;
    /// xattrs after chown, which drops `security.capability`.
    fn set_owner_mode_xattrs(
        &self,
        slot: &Slot,
        fd: impl AsFd,
        entry: &Entry,
    ) -> Result<(), LayerUnpackError> {
        let fd = fd.as_fd();
        fchown(
            fd,
            Some(Uid::from_raw(entry.uid)),
            Some(Gid::from_raw(entry.gid)),
        )
        .map_err(|errno| self.io("changing the owner of", &slot.relative, errno))?;
        fchmod(fd, Mode::from_raw_mode(entry.mode))
            .map_err(|errno| self.io("changing the mode of", &slot.relative, errno))?;
        for (name, value) in &entry.xattrs {
            if name.starts_with(OVERLAY_XATTR_PREFIX) {
                continue;
            }
            tolerate_unsupported(fsetxattr(fd, name.as_slice(), value, XattrFlags::empty()))
                .map_err(|errno| self.xattr_error(slot, name, errno))?;
        }
        Ok(())
    }

    fn set_owner_at(&self, slot: &Slot, entry: &Entry) -> Result<(), LayerUnpackError> {
        chownat(
            slot.parent.as_fd(),
            slot.name.as_slice(),
            Some(Uid::from_raw(entry.uid)),
            Some(Gid::from_raw(entry.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|errno| self.io("changing the owner of", &slot.relative, errno))
    }

    /// For nodes that cannot be opened safely (a symlink would be followed,
    /// a FIFO blocks, a device is a device): `lsetxattr` on the name inside
    /// the parent fd's `/proc/self/fd` link, which reaches the checked
    /// directory and does not follow the last component.
    fn set_xattrs_at(&self, slot: &Slot, entry: &Entry) -> Result<(), LayerUnpackError> {
        if entry.xattrs.is_empty() {
            return Ok(());
        }
        let mut path = format!("/proc/self/fd/{}/", slot.parent.as_raw_fd()).into_bytes();
        path.extend_from_slice(&slot.name);
        for (name, value) in &entry.xattrs {
            if name.starts_with(OVERLAY_XATTR_PREFIX) {
                continue;
            }
            tolerate_unsupported(lsetxattr(
                path.as_slice(),
                name.as_slice(),
                value,
                XattrFlags::empty(),
            ))
            .map_err(|errno| self.xattr_error(slot, name, errno))?;
        }
        Ok(())
    }

    fn set_times_at(&self, slot: &Slot, mtime: Mtime) -> Result<(), LayerUnpackError> {
        utimensat(
            slot.parent.as_fd(),
            slot.name.as_slice(),
            &timestamps(mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|errno| self.io("setting the times of", &slot.relative, errno))
    }

    fn xattr_error(&self, slot: &Slot, name: &[u8], errno: Errno) -> LayerUnpackError {
        LayerUnpackError::Io {
            action: "setting an xattr on",
            path: self.full_path(&slot.relative),
            source: std::io::Error::other(format!("{}: {errno}", show(name))),
        }
    }

    fn io(&self, action: &'static str, relative: &[u8], errno: Errno) -> LayerUnpackError {
        LayerUnpackError::Io {
            action,
            path: self.full_path(relative),
            source: errno.into(),
        }
    }

    fn full_path(&self, relative: &[u8]) -> PathBuf {
        self.root_path.join(OsStr::from_bytes(relative))
    }
}

/// A filesystem that does not support an xattr namespace (ENOTSUP), or
/// refuses it on this file type (EPERM, e.g. `user.*` on a symlink), skips
/// it, as containerd does.
fn tolerate_unsupported(result: Result<(), Errno>) -> Result<(), Errno> {
    match result {
        Err(Errno::NOTSUP | Errno::PERM) => Ok(()),
        other => other,
    }
}

/// Access time is set to the mtime: layers do not carry a meaningful one.
fn timestamps(mtime: Mtime) -> Timestamps {
    let time = Timespec {
        tv_sec: mtime.seconds,
        tv_nsec: i64::from(mtime.nanoseconds),
    };
    Timestamps {
        last_access: time,
        last_modification: time,
    }
}

/// A path for a message, quoted.
pub(super) fn show(path: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(path))
}

pub(super) fn lossy(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}
