//! Mounting a container's root filesystem: an overlay of image layers with a
//! writable upper directory, or a read-only view of the layers alone.
//!
//! The new mount API is preferred: overlay's `lowerdir+` (Linux 6.8) takes
//! one layer per `fsconfig` call, up to the kernel's 500, where mount(2)
//! squeezes every path into one page of options. mount(2) remains the
//! fallback for older kernels, with the page limit checked up front so that
//! a deep image fails with the layer count rather than a bare EINVAL.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::CWD;
use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, mount, mount_bind, mount_remount,
    move_mount, unmount,
};

/// overlayfs' `OVL_MAX_STACK`.
pub const MAX_LAYERS: usize = 500;

/// Characters that mount(2)'s option string gives a meaning to: `,`
/// separates options, `:` layers, and `\` escapes either.
const LEGACY_OPTION_SPECIALS: &[u8] = b",:\\";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayRequest {
    pub target: PathBuf,
    /// Topmost first, as in `lowerdir=`. Relative paths are taken relative to
    /// `cwd`, which lets callers pass the short layer links (`l/ABC`).
    pub lower_dirs: Vec<PathBuf>,
    /// With `work_dir`, the writable layer; without both, the mount is a
    /// read-only view of the lower layers.
    pub upper_dir: Option<PathBuf>,
    pub work_dir: Option<PathBuf>,
    pub cwd: Option<PathBuf>,
    pub readonly: bool,
}

/// How a mount was made, for the daemon's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountMethod {
    /// `fsopen` and one `lowerdir+` per layer.
    NewMountApi,
    /// mount(2) with a `lowerdir=` option string.
    MountOptions,
    /// A single read-only layer, which overlay refuses without an upper
    /// directory, bind-mounted read-only instead.
    ReadOnlyBind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmounted {
    Unmounted,
    /// Still in use (a process has its cwd or an open file there): detached
    /// from the tree now, released by the kernel once the last user is gone.
    Detached,
    /// Nothing was mounted at the target, or it does not exist.
    NotMounted,
}

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("invalid overlay mount of {target}: {problem}")]
    Invalid { target: PathBuf, problem: String },
    #[error(
        "overlay options for {layers} layers are {bytes} bytes, over the {limit}-byte page that \
         mount(2) accepts; this kernel lacks overlay's lowerdir+ (Linux 6.8), which has no such \
         limit"
    )]
    OptionsTooLong {
        layers: usize,
        bytes: usize,
        limit: usize,
    },
    #[error("overlay rejected {key} {path}{}", kernel_says(.log))]
    Parameter {
        key: &'static str,
        path: PathBuf,
        log: Vec<String>,
        #[source]
        source: Errno,
    },
    #[error("{step} for the overlay at {target}{}", kernel_says(.log))]
    Mount {
        step: &'static str,
        target: PathBuf,
        log: Vec<String>,
        #[source]
        source: Errno,
    },
    #[error("unmounting {target}")]
    Unmount {
        target: PathBuf,
        #[source]
        source: Errno,
    },
}

impl OverlayError {
    /// Stable identifier for callers that branch on the kind of failure; the
    /// message may change, these may not.
    pub fn code(&self) -> &'static str {
        match self {
            OverlayError::Invalid { .. } => "ERR_OVERLAY_INVALID",
            OverlayError::OptionsTooLong { .. } => "ERR_OVERLAY_OPTIONS_TOO_LONG",
            OverlayError::Parameter { .. } | OverlayError::Mount { .. } => "ERR_OVERLAY_MOUNT",
            OverlayError::Unmount { .. } => "ERR_OVERLAY_UNMOUNT",
        }
    }
}

fn kernel_says(log: &[String]) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!(" ({})", log.join("; "))
    }
}

/// Mounts the overlay `request` describes, with the new mount API where the
/// kernel has `lowerdir+` and mount(2) otherwise. Blocks; callers on an event
/// loop run it on a worker thread. Changes nothing that is per thread, so any
/// thread will do.
pub fn mount_overlay(request: &OverlayRequest) -> Result<MountMethod, OverlayError> {
    mount_with(request, Api::Auto)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Auto,
    /// Skips the new mount API, so tests reach the fallback on any kernel.
    #[cfg_attr(not(test), allow(dead_code))]
    MountOptionsOnly,
}

fn mount_with(request: &OverlayRequest, api: Api) -> Result<MountMethod, OverlayError> {
    let layout = Layout::check(request)?;
    if layout.upper.is_none() && layout.lowers.len() == 1 {
        bind_read_only(&layout.lowers[0], &request.target)?;
        return Ok(MountMethod::ReadOnlyBind);
    }
    if api == Api::Auto {
        match mount_new_api(&layout, &request.target, request.readonly)? {
            NewApi::Mounted => return Ok(MountMethod::NewMountApi),
            NewApi::Unsupported => {}
        }
    }
    mount_legacy(&layout, &request.target, request.readonly)?;
    Ok(MountMethod::MountOptions)
}

/// The request's directories as absolute paths, validated.
struct Layout {
    lowers: Vec<PathBuf>,
    upper: Option<(PathBuf, PathBuf)>,
}

impl Layout {
    fn check(request: &OverlayRequest) -> Result<Self, OverlayError> {
        let invalid = |problem: String| OverlayError::Invalid {
            target: request.target.clone(),
            problem,
        };
        if !request.target.is_absolute() {
            return Err(invalid("the target must be an absolute path".to_owned()));
        }
        if request.lower_dirs.is_empty() {
            return Err(invalid("no lower directories".to_owned()));
        }
        if request.lower_dirs.len() > MAX_LAYERS {
            return Err(invalid(format!(
                "{} lower directories, over overlay's limit of {MAX_LAYERS}",
                request.lower_dirs.len()
            )));
        }
        if let Some(cwd) = &request.cwd
            && !cwd.is_absolute()
        {
            return Err(invalid(format!("cwd {} is not absolute", cwd.display())));
        }
        let lowers = request
            .lower_dirs
            .iter()
            .map(|dir| match &request.cwd {
                _ if dir.is_absolute() => Ok(dir.clone()),
                Some(cwd) => Ok(cwd.join(dir)),
                // Resolving against the process's cwd would depend on
                // whatever that happens to be.
                None => Err(invalid(format!(
                    "lower directory {} is relative and no cwd was given",
                    dir.display()
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let upper = match (&request.upper_dir, &request.work_dir) {
            (Some(upper), Some(work)) => {
                for (what, dir) in [("upper", upper), ("work", work)] {
                    if !dir.is_absolute() {
                        return Err(invalid(format!(
                            "{what} directory {} is not absolute",
                            dir.display()
                        )));
                    }
                }
                Some((upper.clone(), work.clone()))
            }
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "upper and work directories go together: give both or neither".to_owned(),
                ));
            }
        };
        if upper.is_none() && !request.readonly {
            return Err(invalid(
                "without an upper directory the mount can only be read-only".to_owned(),
            ));
        }
        Ok(Layout { lowers, upper })
    }
}

enum NewApi {
    Mounted,
    Unsupported,
}

fn mount_new_api(layout: &Layout, target: &Path, readonly: bool) -> Result<NewApi, OverlayError> {
    let fs = match fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fs) => fs,
        Err(Errno::NOSYS | Errno::PERM) => return Ok(NewApi::Unsupported),
        Err(source) => return Err(mount_error("fsopen(\"overlay\")", target, None, source)),
    };
    // mountinfo shows this as the source, rather than "none".
    fsconfig_set_string(&fs, "source", "overlay")
        .map_err(|source| mount_error("setting the source", target, Some(&fs), source))?;
    for (index, lower) in layout.lowers.iter().enumerate() {
        match fsconfig_set_string(&fs, "lowerdir+", lower) {
            Ok(()) => {}
            // A kernel before 6.8 does not know the parameter; any path
            // problem would have been ENOENT, ENOTDIR or the like.
            Err(Errno::INVAL) if index == 0 => return Ok(NewApi::Unsupported),
            Err(source) => return Err(parameter_error("lowerdir+", lower, &fs, source)),
        }
    }
    if let Some((upper, work)) = &layout.upper {
        fsconfig_set_string(&fs, "upperdir", upper)
            .map_err(|source| parameter_error("upperdir", upper, &fs, source))?;
        fsconfig_set_string(&fs, "workdir", work)
            .map_err(|source| parameter_error("workdir", work, &fs, source))?;
    }
    fsconfig_create(&fs)
        .map_err(|source| mount_error("creating the filesystem", target, Some(&fs), source))?;
    let attributes = if readonly {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    } else {
        MountAttrFlags::empty()
    };
    let mounted = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attributes)
        .map_err(|source| mount_error("fsmount", target, Some(&fs), source))?;
    move_mount(
        &mounted,
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|source| mount_error("attaching", target, None, source))?;
    Ok(NewApi::Mounted)
}

fn mount_legacy(layout: &Layout, target: &Path, readonly: bool) -> Result<(), OverlayError> {
    let options = legacy_options(layout, target)?;
    let limit = rustix::param::page_size();
    // The kernel copies one page, terminating NUL included.
    let bytes = options.as_bytes().len();
    if bytes + 1 > limit {
        return Err(OverlayError::OptionsTooLong {
            layers: layout.lowers.len(),
            bytes,
            limit,
        });
    }
    let flags = if readonly {
        MountFlags::RDONLY
    } else {
        MountFlags::empty()
    };
    mount("overlay", target, "overlay", flags, options.as_c_str())
        .map_err(|source| mount_error("mount(2)", target, None, source))
}

fn legacy_options(layout: &Layout, target: &Path) -> Result<CString, OverlayError> {
    let mut options = b"lowerdir=".to_vec();
    for (index, lower) in layout.lowers.iter().enumerate() {
        if index > 0 {
            options.push(b':');
        }
        options.extend_from_slice(legacy_option_path(lower, target)?);
    }
    if let Some((upper, work)) = &layout.upper {
        options.extend_from_slice(b",upperdir=");
        options.extend_from_slice(legacy_option_path(upper, target)?);
        options.extend_from_slice(b",workdir=");
        options.extend_from_slice(legacy_option_path(work, target)?);
    }
    CString::new(options).map_err(|_| OverlayError::Invalid {
        target: target.to_owned(),
        problem: "a directory path contains a NUL byte".to_owned(),
    })
}

/// Escaping would work on kernels whose option parser honours it; refusing
/// such paths works on all of them, and crion's own paths never have these.
fn legacy_option_path<'a>(path: &'a Path, target: &Path) -> Result<&'a [u8], OverlayError> {
    let bytes = path.as_os_str().as_bytes();
    if bytes
        .iter()
        .any(|byte| LEGACY_OPTION_SPECIALS.contains(byte))
    {
        return Err(OverlayError::Invalid {
            target: target.to_owned(),
            problem: format!(
                "{} contains ',', ':' or '\\', which mount(2) options cannot carry",
                path.display()
            ),
        });
    }
    Ok(bytes)
}

fn bind_read_only(layer: &Path, target: &Path) -> Result<(), OverlayError> {
    mount_bind(layer, target).map_err(|source| mount_error("bind mount", target, None, source))?;
    // A bind mount takes its flags only from a remount of its own.
    if let Err(source) = mount_remount(target, MountFlags::BIND | MountFlags::RDONLY, "") {
        let _ = unmount(target, UnmountFlags::DETACH);
        return Err(mount_error(
            "making the bind mount read-only",
            target,
            None,
            source,
        ));
    }
    Ok(())
}

/// Unmounts the filesystem at `target`, whatever it is: the caller names
/// only targets it mounted. A target still in use is detached instead,
/// which the result says; a target with nothing mounted, or missing, is
/// fine, so a retried removal succeeds.
pub fn unmount_overlay(target: &Path) -> Result<Unmounted, OverlayError> {
    match unmount(target, UnmountFlags::empty()) {
        Ok(()) => Ok(Unmounted::Unmounted),
        // EINVAL: not a mount point.
        Err(Errno::INVAL | Errno::NOENT) => Ok(Unmounted::NotMounted),
        Err(Errno::BUSY) => match unmount(target, UnmountFlags::DETACH) {
            Ok(()) => Ok(Unmounted::Detached),
            Err(source) => Err(OverlayError::Unmount {
                target: target.to_owned(),
                source,
            }),
        },
        Err(source) => Err(OverlayError::Unmount {
            target: target.to_owned(),
            source,
        }),
    }
}

fn parameter_error(key: &'static str, path: &Path, fs: &OwnedFd, source: Errno) -> OverlayError {
    OverlayError::Parameter {
        key,
        path: path.to_owned(),
        log: drain_log(fs.as_fd()),
        source,
    }
}

fn mount_error(
    step: &'static str,
    target: &Path,
    fs: Option<&OwnedFd>,
    source: Errno,
) -> OverlayError {
    OverlayError::Mount {
        step,
        target: target.to_owned(),
        log: fs.map(|fs| drain_log(fs.as_fd())).unwrap_or_default(),
        source,
    }
}

/// The messages the kernel left on a filesystem context ("e overlayfs:
/// failed to resolve '/x': -2"), which say far more than the errno.
fn drain_log(fs: std::os::fd::BorrowedFd<'_>) -> Vec<String> {
    let mut messages = Vec::new();
    let mut buffer = [0u8; 1024];
    // The kernel keeps at most eight messages.
    for _ in 0..8 {
        match rustix::io::read(fs, &mut buffer) {
            Ok(length) if length > 0 => {
                let text = OsStr::from_bytes(&buffer[..length]).to_string_lossy();
                messages.push(text.trim_end().to_owned());
            }
            _ => break,
        }
    }
    messages
}

#[cfg(test)]
mod tests;
