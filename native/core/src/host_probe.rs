//! What this host's kernel offers crion, probed once at daemon start so that
//! later code picks a code path up front instead of failing mid-request.
//!
//! A feature the host lacks is a value ([`Support::Unavailable`] with the
//! reason), never an error: only an unexpected failure to read a file the
//! kernel always provides is a [`HostProbeError`].

mod cgroups;
mod syscalls;

use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use cgroups::{CgroupLayout, Cgroups, V1Controller, V2Hierarchy};
pub use syscalls::{MountApi, Pidfd};

use crate::mountinfo::{self, MountInfoError};

const PROC_FILESYSTEMS: &str = "/proc/filesystems";
const PROC_SELF_MOUNTINFO: &str = "/proc/self/mountinfo";
const PROC_SELF_STATUS: &str = "/proc/self/status";
const PROC_SELF_OOM_SCORE_ADJ: &str = "/proc/self/oom_score_adj";
const MAX_USER_NAMESPACES: &str = "/proc/sys/user/max_user_namespaces";
/// Debian and Ubuntu's switch for user namespaces created without privileges.
const UNPRIVILEGED_USERNS_CLONE: &str = "/proc/sys/kernel/unprivileged_userns_clone";

/// Capability number of CAP_SYS_RESOURCE (linux/capability.h).
const CAP_SYS_RESOURCE: u32 = 24;
const OOM_SCORE_ADJ_MIN: i32 = -1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    Available,
    Unavailable { reason: String },
}

impl Support {
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Support::Unavailable {
            reason: reason.into(),
        }
    }

    pub fn is_available(&self) -> bool {
        matches!(self, Support::Available)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostProbe {
    /// `uname -r`.
    pub kernel_release: String,
    /// Whether `/proc/filesystems` lists overlay. A module that is not loaded
    /// yet is not listed, although a first mount would load it.
    pub overlay: Support,
    pub mount_api: MountApi,
    pub pidfd: Pidfd,
    pub cgroups: Cgroups,
    pub user_namespaces: UserNamespaces,
    pub oom_score_adj: OomScoreAdj,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNamespaces {
    /// Whether this process may create user namespaces at all; the daemon
    /// runs as root, so the unprivileged switch below does not decide it.
    pub support: Support,
    /// `None` when the kernel is built without user namespaces.
    pub max_user_namespaces: Option<u32>,
    /// `None` when the kernel has no such sysctl (only Debian's patch adds it).
    pub unprivileged_userns_clone: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomScoreAdj {
    /// The daemon's own value, which its children inherit.
    pub current: i32,
    /// Whether the daemon may set a lower value (for itself or a child it
    /// forks) than `current`.
    pub lowering: Support,
}

#[derive(Debug, thiserror::Error)]
pub enum HostProbeError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("parsing {path}")]
    MountInfo {
        path: PathBuf,
        #[source]
        source: MountInfoError,
    },
    #[error("{path} has no {field} field")]
    MissingField { path: PathBuf, field: &'static str },
    #[error("{path}: {value:?} is not a valid {what}")]
    InvalidValue {
        path: PathBuf,
        what: &'static str,
        value: String,
    },
    #[error("creating a scratch directory under {path}")]
    ScratchDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("removing the scratch directory {path}")]
    RemoveScratchDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl HostProbeError {
    /// Stable identifier for callers that branch on the kind of failure; the
    /// message may change, these may not.
    pub fn code(&self) -> &'static str {
        match self {
            HostProbeError::Read { .. } => "ERR_HOST_PROBE_READ",
            HostProbeError::MountInfo { .. }
            | HostProbeError::MissingField { .. }
            | HostProbeError::InvalidValue { .. } => "ERR_HOST_PROBE_PARSE",
            HostProbeError::ScratchDir { .. } | HostProbeError::RemoveScratchDir { .. } => {
                "ERR_HOST_PROBE_SCRATCH_DIR"
            }
        }
    }
}

/// Probes the host. Blocks on file reads and a few syscalls, so callers on an
/// event loop should run it on a worker thread.
pub fn probe() -> Result<HostProbe, HostProbeError> {
    Ok(HostProbe {
        kernel_release: kernel_release(),
        overlay: overlay_support(&read_text(Path::new(PROC_FILESYSTEMS))?),
        mount_api: syscalls::probe_mount_api(&std::env::temp_dir())?,
        pidfd: syscalls::probe_pidfd(),
        cgroups: probe_cgroups()?,
        user_namespaces: probe_user_namespaces()?,
        oom_score_adj: probe_oom_score_adj()?,
    })
}

fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

fn overlay_support(proc_filesystems: &str) -> Support {
    if lists_filesystem(proc_filesystems, "overlay") {
        Support::Available
    } else {
        Support::unavailable("overlay is not listed in /proc/filesystems")
    }
}

/// Each line of /proc/filesystems is an optional `nodev` flag, a tab and the
/// filesystem name.
fn lists_filesystem(proc_filesystems: &str, name: &str) -> bool {
    proc_filesystems
        .lines()
        .any(|line| line.split_whitespace().last() == Some(name))
}

fn probe_cgroups() -> Result<Cgroups, HostProbeError> {
    let path = Path::new(PROC_SELF_MOUNTINFO);
    let mounts =
        mountinfo::parse(&read_bytes(path)?).map_err(|source| HostProbeError::MountInfo {
            path: path.to_owned(),
            source,
        })?;
    let found = cgroups::find_cgroup_mounts(&mounts);
    let v2 = match found.v2_mount_point {
        Some(mount_point) => {
            let controllers_file = mount_point.join("cgroup.controllers");
            let controllers = cgroups::parse_controllers(&read_text(&controllers_file)?);
            Some(V2Hierarchy {
                mount_point,
                controllers,
            })
        }
        None => None,
    };
    Ok(Cgroups {
        layout: found.layout,
        v1_controllers: found.v1_controllers,
        v2,
    })
}

fn probe_user_namespaces() -> Result<UserNamespaces, HostProbeError> {
    let max_user_namespaces = read_optional_text(Path::new(MAX_USER_NAMESPACES))?
        .map(|text| parse_value(Path::new(MAX_USER_NAMESPACES), "count", &text))
        .transpose()?;
    let unprivileged_userns_clone = read_optional_text(Path::new(UNPRIVILEGED_USERNS_CLONE))?
        .map(|text| parse_value::<u8>(Path::new(UNPRIVILEGED_USERNS_CLONE), "switch", &text))
        .transpose()?
        .map(|switch| switch != 0);
    Ok(user_namespaces(
        max_user_namespaces,
        unprivileged_userns_clone,
    ))
}

fn user_namespaces(
    max_user_namespaces: Option<u32>,
    unprivileged_userns_clone: Option<bool>,
) -> UserNamespaces {
    let support = match max_user_namespaces {
        None => Support::unavailable(format!(
            "{MAX_USER_NAMESPACES} is missing: the kernel is built without user namespaces"
        )),
        Some(0) => Support::unavailable(format!("{MAX_USER_NAMESPACES} is 0")),
        Some(_) => Support::Available,
    };
    UserNamespaces {
        support,
        max_user_namespaces,
        unprivileged_userns_clone,
    }
}

fn probe_oom_score_adj() -> Result<OomScoreAdj, HostProbeError> {
    let oom_path = Path::new(PROC_SELF_OOM_SCORE_ADJ);
    let current = parse_value(oom_path, "oom_score_adj", &read_text(oom_path)?)?;

    let status_path = Path::new(PROC_SELF_STATUS);
    let status = read_text(status_path)?;
    let cap_eff = status_field(&status, "CapEff").ok_or_else(|| HostProbeError::MissingField {
        path: status_path.to_owned(),
        field: "CapEff",
    })?;
    let effective = parse_capability_mask(cap_eff).ok_or_else(|| HostProbeError::InvalidValue {
        path: status_path.to_owned(),
        what: "CapEff capability mask",
        value: cap_eff.to_owned(),
    })?;
    Ok(oom_score_adj(current, effective))
}

/// Without CAP_SYS_RESOURCE the kernel refuses any value below a floor that
/// only a privileged writer sets and that /proc does not show, so the current
/// value is the only floor that can be relied on.
fn oom_score_adj(current: i32, effective_capabilities: u64) -> OomScoreAdj {
    let lowering = if current <= OOM_SCORE_ADJ_MIN {
        Support::unavailable(format!("oom_score_adj is already {OOM_SCORE_ADJ_MIN}"))
    } else if effective_capabilities & (1 << CAP_SYS_RESOURCE) == 0 {
        Support::unavailable("CAP_SYS_RESOURCE is not in the effective capability set")
    } else {
        Support::Available
    };
    OomScoreAdj { current, lowering }
}

/// The value of a `Name:\tvalue` line of /proc/<pid>/status.
fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        (field == name).then(|| value.trim())
    })
}

fn parse_capability_mask(hex: &str) -> Option<u64> {
    u64::from_str_radix(hex, 16).ok()
}

fn parse_value<T: FromStr>(
    path: &Path,
    what: &'static str,
    text: &str,
) -> Result<T, HostProbeError> {
    text.trim()
        .parse()
        .map_err(|_| HostProbeError::InvalidValue {
            path: path.to_owned(),
            what,
            value: text.trim().to_owned(),
        })
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, HostProbeError> {
    std::fs::read(path).map_err(|source| HostProbeError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_text(path: &Path) -> Result<String, HostProbeError> {
    std::fs::read_to_string(path).map_err(|source| HostProbeError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads a file whose absence is itself the answer (a sysctl that the kernel
/// was built without).
fn read_optional_text(path: &Path) -> Result<Option<String>, HostProbeError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HostProbeError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC_FILESYSTEMS_FIXTURE: &str =
        "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\nnodev\tcgroup2\n";

    #[test]
    fn finds_overlay_in_proc_filesystems() {
        assert!(lists_filesystem(PROC_FILESYSTEMS_FIXTURE, "overlay"));
        assert!(lists_filesystem(PROC_FILESYSTEMS_FIXTURE, "ext4"));
        assert!(!lists_filesystem(PROC_FILESYSTEMS_FIXTURE, "btrfs"));
        assert!(!lists_filesystem(PROC_FILESYSTEMS_FIXTURE, "nodev"));
    }

    #[test]
    fn overlay_missing_from_proc_filesystems_is_unavailable_with_a_reason() {
        assert_eq!(
            overlay_support("nodev\tsysfs\n\text4\n"),
            Support::unavailable("overlay is not listed in /proc/filesystems")
        );
    }

    const STATUS_FIXTURE: &str = "Name:\tnode\nUmask:\t0022\nState:\tS (sleeping)\n\
        CapInh:\t0000000000000000\nCapPrm:\t000001fffeffffff\n\
        CapEff:\t000001fffeffffff\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n";

    #[test]
    fn reads_the_effective_capability_mask_from_status() {
        let cap_eff = status_field(STATUS_FIXTURE, "CapEff").expect("CapEff present");
        assert_eq!(parse_capability_mask(cap_eff), Some(0x1ff_feff_ffff));
        assert_eq!(status_field(STATUS_FIXTURE, "Cap"), None);
        assert_eq!(parse_capability_mask("not hex"), None);
    }

    #[test]
    fn lowering_oom_score_adj_needs_cap_sys_resource() {
        let without_sys_resource = 0x1ff_feff_ffff;
        let full = 0x1ff_ffff_ffff;
        assert_eq!(
            oom_score_adj(0, without_sys_resource).lowering,
            Support::unavailable("CAP_SYS_RESOURCE is not in the effective capability set")
        );
        assert_eq!(oom_score_adj(0, full).lowering, Support::Available);
        assert_eq!(oom_score_adj(-999, full).lowering, Support::Available);
    }

    #[test]
    fn nothing_is_below_the_minimum_oom_score_adj() {
        assert!(
            !oom_score_adj(-1000, 0x1ff_ffff_ffff)
                .lowering
                .is_available()
        );
    }

    #[test]
    fn user_namespaces_need_a_positive_limit() {
        assert!(user_namespaces(Some(96364), None).support.is_available());
        assert!(!user_namespaces(Some(0), Some(true)).support.is_available());
        assert!(!user_namespaces(None, None).support.is_available());
        assert_eq!(
            user_namespaces(Some(15000), Some(false)).unprivileged_userns_clone,
            Some(false)
        );
    }

    #[test]
    fn an_invalid_number_names_the_file_and_the_value() {
        let error = parse_value::<i32>(
            Path::new("/proc/self/oom_score_adj"),
            "oom_score_adj",
            "x\n",
        )
        .expect_err("not a number");
        assert_eq!(error.code(), "ERR_HOST_PROBE_PARSE");
        assert_eq!(
            error.to_string(),
            "/proc/self/oom_score_adj: \"x\" is not a valid oom_score_adj"
        );
    }

    #[test]
    fn a_read_error_carries_the_path_it_failed_on() {
        let missing = Path::new("/proc/crion-no-such-file");
        let error = read_text(missing).expect_err("file is missing");
        assert_eq!(error.code(), "ERR_HOST_PROBE_READ");
        assert_eq!(error.to_string(), "reading /proc/crion-no-such-file");
        assert_eq!(
            read_optional_text(missing).expect("absence is an answer"),
            None
        );
    }

    // The rest checks the probe against this host, reading the same sources
    // by other means where the answer is not fixed across machines.

    #[test]
    fn kernel_release_matches_proc() {
        let probe = probe().expect("probe succeeds");
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
        assert_eq!(probe.kernel_release, release.trim());
    }

    #[test]
    fn oom_score_adj_matches_proc() {
        let probe = probe().expect("probe succeeds");
        let current: i32 = std::fs::read_to_string(PROC_SELF_OOM_SCORE_ADJ)
            .expect("oom_score_adj")
            .trim()
            .parse()
            .expect("number");
        assert_eq!(probe.oom_score_adj.current, current);
    }

    #[test]
    fn overlay_answer_matches_proc_filesystems() {
        let probe = probe().expect("probe succeeds");
        let listed = std::fs::read_to_string(PROC_FILESYSTEMS)
            .expect("filesystems")
            .contains("\toverlay\n");
        assert_eq!(probe.overlay.is_available(), listed);
    }
}
