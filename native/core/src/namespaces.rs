//! A pod's network, IPC and UTS namespaces, made once and pinned to files so
//! that every container of the pod can join them and they outlive any one
//! process (the way `ip netns add` keeps a network namespace).
//!
//! Linux keeps these three namespaces per thread, so one short-lived thread
//! of our own unshares them, configures them (hostname, sysctls, `lo`) while
//! it is inside, and bind-mounts its `/proc/thread-self/ns/*` onto the pin
//! files before it exits. No other thread, and above all no Node thread,
//! ever changes namespace.

#[allow(unsafe_code)]
mod unshare;

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread;

use rustix::io::Errno;
use rustix::mount::{
    MountPropagationFlags, UnmountFlags, mount_bind, mount_bind_recursive, mount_change, unmount,
};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use crate::mountinfo::{self, MountInfoError};
use unshare::Kinds;

const PROC_SYS: &str = "/proc/sys";
const PROC_SELF_MOUNTINFO: &str = "/proc/self/mountinfo";
/// HOST_NAME_MAX.
const MAX_HOSTNAME_BYTES: usize = 64;
/// Pinned namespaces are stacked only by a bug; this bounds the unmounts
/// that removal tries before giving up.
const MAX_STACKED_PINS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNamespacesRequest {
    /// An existing directory; the pins are made as `net`, `ipc` and `uts`
    /// inside it.
    pub dir: PathBuf,
    pub net: bool,
    pub ipc: bool,
    pub uts: bool,
    /// Set in the new UTS namespace; needs `uts`.
    pub hostname: Option<String>,
    /// `net.*` (needs `net`) and `kernel.shm*`, `kernel.msg*`, `kernel.sem`,
    /// `fs.mqueue.*` (need `ipc`): the sysctls the kubelet treats as
    /// namespaced. Dotted (`net.ipv4.ip_forward`) or, where a component
    /// holds a dot such as a VLAN interface, slashed (`net/ipv4/conf/eth0.100/forwarding`).
    pub sysctls: Vec<(String, String)>,
}

/// The pin file of each namespace made, `None` for those not asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNamespaces {
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PodNamespacesError {
    #[error("invalid pod namespaces in {dir}: {problem}")]
    Invalid { dir: PathBuf, problem: String },
    #[error("unsharing the pod's namespaces")]
    Unshare {
        #[source]
        source: Errno,
    },
    #[error("setting the hostname {hostname:?}")]
    Hostname {
        hostname: String,
        #[source]
        source: Errno,
    },
    #[error("setting sysctl {name} through {path}")]
    Sysctl {
        name: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("bringing up lo in the pod's network namespace")]
    Loopback {
        #[source]
        source: Errno,
    },
    #[error("the kernel's answer to bringing up lo is malformed ({bytes} bytes)")]
    LoopbackReply { bytes: usize },
    #[error("{step} {path}")]
    Pin {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{step} {path}")]
    Unpin {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{step} {path}")]
    MountDir {
        step: &'static str,
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
    #[error("running the namespace thread")]
    Thread {
        #[source]
        source: io::Error,
    },
    #[error("the namespace thread panicked: {message}")]
    Panic { message: String },
}

impl PodNamespacesError {
    /// Stable identifier for callers that branch on the kind of failure; the
    /// message may change, these may not.
    pub fn code(&self) -> &'static str {
        match self {
            PodNamespacesError::Invalid { .. } => "ERR_POD_NS_INVALID",
            PodNamespacesError::Unshare { .. } => "ERR_POD_NS_UNSHARE",
            PodNamespacesError::Hostname { .. } => "ERR_POD_NS_HOSTNAME",
            PodNamespacesError::Sysctl { .. } => "ERR_POD_NS_SYSCTL",
            PodNamespacesError::Loopback { .. } | PodNamespacesError::LoopbackReply { .. } => {
                "ERR_POD_NS_LOOPBACK"
            }
            PodNamespacesError::Pin { .. } => "ERR_POD_NS_PIN",
            PodNamespacesError::Unpin { .. } => "ERR_POD_NS_UNPIN",
            PodNamespacesError::MountDir { .. } | PodNamespacesError::MountInfo { .. } => {
                "ERR_POD_NS_MOUNT_DIR"
            }
            PodNamespacesError::Thread { .. } | PodNamespacesError::Panic { .. } => {
                "ERR_POD_NS_THREAD"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Net,
    Ipc,
    Uts,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Net, Kind::Ipc, Kind::Uts];

    fn name(self) -> &'static str {
        match self {
            Kind::Net => "net",
            Kind::Ipc => "ipc",
            Kind::Uts => "uts",
        }
    }
}

/// A sysctl checked against the namespaces being made, so that a write can
/// only ever reach the new namespace and never the host's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sysctl {
    name: String,
    path: PathBuf,
    value: String,
}

/// Makes the namespaces `request` asks for, configures them, and pins each
/// to `<dir>/<kind>`. Blocks until the namespace thread is done (about a
/// millisecond); callers on an event loop run it on a worker thread. On
/// failure nothing is left: no pin file, no mount, no namespace.
pub fn create_pod_namespaces(
    request: &PodNamespacesRequest,
) -> Result<PodNamespaces, PodNamespacesError> {
    let sysctls = check(request)?;
    let kinds = Kinds {
        net: request.net,
        ipc: request.ipc,
        uts: request.uts,
    };
    if !(kinds.net || kinds.ipc || kinds.uts) {
        return Ok(PodNamespaces {
            net: None,
            ipc: None,
            uts: None,
        });
    }
    let dir = request.dir.clone();
    let hostname = request.hostname.clone();
    let worker = thread::Builder::new()
        .name("crion-pod-ns".to_owned())
        .spawn(move || in_new_namespaces(kinds, &dir, hostname.as_deref(), &sysctls))
        .map_err(|source| PodNamespacesError::Thread { source })?;
    worker.join().map_err(|payload| PodNamespacesError::Panic {
        message: panic_message(payload),
    })?
}

fn check(request: &PodNamespacesRequest) -> Result<Vec<Sysctl>, PodNamespacesError> {
    let invalid = |problem: String| PodNamespacesError::Invalid {
        dir: request.dir.clone(),
        problem,
    };
    if !request.dir.is_absolute() {
        return Err(invalid("the directory must be an absolute path".to_owned()));
    }
    if let Some(hostname) = &request.hostname {
        if !request.uts {
            return Err(invalid(
                "a hostname needs the pod's own uts namespace: it would rename the host".to_owned(),
            ));
        }
        if hostname.is_empty() || hostname.len() > MAX_HOSTNAME_BYTES {
            return Err(invalid(format!(
                "hostname {hostname:?} must be 1 to {MAX_HOSTNAME_BYTES} bytes"
            )));
        }
    }
    request
        .sysctls
        .iter()
        .map(|(name, value)| {
            let path = sysctl_path(name).map_err(&invalid)?;
            let needs = sysctl_namespace(name)
                .ok_or_else(|| invalid(format!("sysctl {name} is not namespaced")))?;
            let made = match needs {
                Kind::Net => request.net,
                Kind::Ipc => request.ipc,
                Kind::Uts => request.uts,
            };
            if !made {
                return Err(invalid(format!(
                    "sysctl {name} needs the pod's own {} namespace: it would change the host's",
                    needs.name()
                )));
            }
            Ok(Sysctl {
                name: name.clone(),
                path,
                value: value.clone(),
            })
        })
        .collect()
}

/// A dotted name has dots for separators; a name with a slash has slashes,
/// and its dots are part of the components (`sysctl(8)` does the same).
fn sysctl_components(name: &str) -> Vec<&str> {
    if name.contains('/') {
        name.split('/').collect()
    } else {
        name.split('.').collect()
    }
}

fn sysctl_path(name: &str) -> Result<PathBuf, String> {
    let components = sysctl_components(name);
    if components
        .iter()
        .any(|component| component.is_empty() || *component == "." || *component == "..")
    {
        return Err(format!("{name:?} is not a sysctl name"));
    }
    Ok(components
        .iter()
        .fold(PathBuf::from(PROC_SYS), |path, component| {
            path.join(component)
        }))
}

/// The kubelet's table of namespaced sysctls (pkg/kubelet/sysctl).
fn sysctl_namespace(name: &str) -> Option<Kind> {
    match sysctl_components(name).as_slice() {
        ["net", _, ..] => Some(Kind::Net),
        ["fs", "mqueue", _, ..] => Some(Kind::Ipc),
        ["kernel", "sem"] => Some(Kind::Ipc),
        ["kernel", leaf] if leaf.starts_with("shm") || leaf.starts_with("msg") => Some(Kind::Ipc),
        _ => None,
    }
}

/// Runs on the namespace thread, which exits right after: the namespaces
/// stay alive through their pins, or die with the thread on failure.
fn in_new_namespaces(
    kinds: Kinds,
    dir: &Path,
    hostname: Option<&str>,
    sysctls: &[Sysctl],
) -> Result<PodNamespaces, PodNamespacesError> {
    unshare::unshare_thread(kinds).map_err(|source| PodNamespacesError::Unshare { source })?;
    if let Some(hostname) = hostname {
        rustix::system::sethostname(hostname.as_bytes()).map_err(|source| {
            PodNamespacesError::Hostname {
                hostname: hostname.to_owned(),
                source,
            }
        })?;
    }
    // /proc/sys resolves net and IPC entries in the namespaces of the task
    // that opens them, which is this thread.
    for sysctl in sysctls {
        write_sysctl(sysctl)?;
    }
    if kinds.net {
        bring_up_loopback()?;
    }

    let mut pins = Pins::default();
    let made = [
        (Kind::Net, kinds.net),
        (Kind::Ipc, kinds.ipc),
        (Kind::Uts, kinds.uts),
    ]
    .into_iter()
    .filter(|(_, wanted)| *wanted)
    .try_for_each(|(kind, _)| pins.pin(kind, dir));
    if let Err(error) = made {
        pins.undo();
        return Err(error);
    }
    Ok(pins.into_namespaces())
}

fn write_sysctl(sysctl: &Sysctl) -> Result<(), PodNamespacesError> {
    OpenOptions::new()
        .write(true)
        .open(&sysctl.path)
        .and_then(|mut file| file.write_all(sysctl.value.as_bytes()))
        .map_err(|source| PodNamespacesError::Sysctl {
            name: sysctl.name.clone(),
            path: sysctl.path.clone(),
            source,
        })
}

/// The pins made so far, undone in reverse if a later one fails.
#[derive(Default)]
struct Pins {
    made: Vec<(Kind, PathBuf)>,
}

impl Pins {
    fn pin(&mut self, kind: Kind, dir: &Path) -> Result<(), PodNamespacesError> {
        let path = dir.join(kind.name());
        // Exclusive: a pin left from before must be removed on purpose, not
        // silently covered by a second mount.
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&path)
            .map_err(|source| PodNamespacesError::Pin {
                step: "creating the pin file",
                path: path.clone(),
                source,
            })?;
        let source = Path::new("/proc/thread-self/ns").join(kind.name());
        if let Err(errno) = mount_bind(&source, &path) {
            let _ = fs::remove_file(&path);
            return Err(PodNamespacesError::Pin {
                step: "bind-mounting the namespace onto",
                path,
                source: errno.into(),
            });
        }
        self.made.push((kind, path));
        Ok(())
    }

    fn undo(self) {
        for (_, path) in self.made.into_iter().rev() {
            let _ = unmount(&path, UnmountFlags::DETACH);
            let _ = fs::remove_file(&path);
        }
    }

    fn into_namespaces(self) -> PodNamespaces {
        let mut namespaces = PodNamespaces {
            net: None,
            ipc: None,
            uts: None,
        };
        for (kind, path) in self.made {
            match kind {
                Kind::Net => namespaces.net = Some(path),
                Kind::Ipc => namespaces.ipc = Some(path),
                Kind::Uts => namespaces.uts = Some(path),
            }
        }
        namespaces
    }
}

/// Sets IFF_UP on `lo` with one RTM_NEWLINK request on a route netlink
/// socket, which belongs to the network namespace of the thread that makes
/// it. Netlink rather than the SIOCSIFFLAGS ioctl, which has no safe
/// binding.
fn bring_up_loopback() -> Result<(), PodNamespacesError> {
    const RTM_NEWLINK: u16 = 16;
    const NLM_F_REQUEST: u16 = 0x1;
    const NLM_F_ACK: u16 = 0x4;
    const NLMSG_ERROR: u16 = 2;
    const IFF_UP: u32 = 0x1;
    const IFLA_IFNAME: u16 = 3;
    const NLMSG_HEADER_BYTES: usize = 16;

    let loopback_error = |source: Errno| PodNamespacesError::Loopback { source };
    let name = b"lo\0";
    let attribute_bytes = 4 + name.len();
    let message_bytes = NLMSG_HEADER_BYTES + 16 + attribute_bytes.next_multiple_of(4);

    let mut message = Vec::with_capacity(message_bytes);
    // struct nlmsghdr
    message.extend_from_slice(&(message_bytes as u32).to_ne_bytes());
    message.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    message.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    message.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    message.extend_from_slice(&0u32.to_ne_bytes()); // port ID: let the kernel assign it
    // struct ifinfomsg: any family, index 0 so that IFLA_IFNAME picks the link
    message.extend_from_slice(&[0, 0, 0, 0]);
    message.extend_from_slice(&0i32.to_ne_bytes());
    message.extend_from_slice(&IFF_UP.to_ne_bytes()); // flags
    message.extend_from_slice(&IFF_UP.to_ne_bytes()); // change mask
    // struct rtattr IFLA_IFNAME "lo", padded to four bytes
    message.extend_from_slice(&(attribute_bytes as u16).to_ne_bytes());
    message.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
    message.extend_from_slice(name);
    message.resize(message_bytes, 0);

    let socket = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None, // NETLINK_ROUTE
    )
    .map_err(loopback_error)?;
    rustix::net::send(&socket, &message, SendFlags::empty()).map_err(loopback_error)?;

    let mut reply = [0u8; 256];
    let (received, _) =
        rustix::net::recv(&socket, &mut reply, RecvFlags::empty()).map_err(loopback_error)?;
    let field = |at: usize, bytes: usize| reply[..received].get(at..at + bytes);
    let (Some(kind), Some(error)) = (field(4, 2), field(NLMSG_HEADER_BYTES, 4)) else {
        return Err(PodNamespacesError::LoopbackReply { bytes: received });
    };
    if u16::from_ne_bytes([kind[0], kind[1]]) != NLMSG_ERROR {
        return Err(PodNamespacesError::LoopbackReply { bytes: received });
    }
    match i32::from_ne_bytes([error[0], error[1], error[2], error[3]]) {
        0 => Ok(()),
        negative => Err(loopback_error(Errno::from_raw_os_error(-negative))),
    }
}

/// The pin of a shared PID namespace, which `crion-monitor pod-init` makes
/// in the same directory: a PID namespace needs a live first process, so it
/// is not made here, but it goes with the others.
const PID_PIN: &str = "pid";

/// Unmounts and deletes the pins in `dir`, the PID namespace's included.
/// Pins already gone, and pin files with nothing mounted on them, are fine,
/// so that a retried removal and a removal after a crash mid-creation both
/// succeed. `dir` itself stays.
pub fn remove_pod_namespaces(dir: &Path) -> Result<(), PodNamespacesError> {
    for name in Kind::ALL.map(Kind::name).into_iter().chain([PID_PIN]) {
        unpin(&dir.join(name))?;
    }
    Ok(())
}

fn unpin(path: &Path) -> Result<(), PodNamespacesError> {
    let unpin_error = |step, source: io::Error| PodNamespacesError::Unpin {
        step,
        path: path.to_owned(),
        source,
    };
    let mut unmounted = 0;
    loop {
        match unmount(path, UnmountFlags::DETACH) {
            Ok(()) if unmounted < MAX_STACKED_PINS => unmounted += 1,
            Ok(()) => {
                return Err(unpin_error(
                    "unmounting",
                    io::Error::other(format!("still mounted after {MAX_STACKED_PINS} unmounts")),
                ));
            }
            // EINVAL: nothing (more) is mounted there.
            Err(Errno::INVAL | Errno::NOENT) => break,
            Err(errno) => return Err(unpin_error("unmounting", errno.into())),
        }
    }
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            Err(unpin_error("removing", error))
        }
        _ => Ok(()),
    }
}

/// Makes `dir` (created if missing) a mount point of its own with private
/// propagation, once: pins mounted below it then stay out of the mount
/// namespaces that share the parent mount, and mounts made there stay out
/// of it. Idempotent: an already private mount point is left alone.
pub fn prepare_private_mount_dir(dir: &Path) -> Result<(), PodNamespacesError> {
    let dir_error = |step, source: io::Error| PodNamespacesError::MountDir {
        step,
        path: dir.to_owned(),
        source,
    };
    fs::create_dir_all(dir).map_err(|source| dir_error("creating", source))?;
    // mountinfo lists resolved paths.
    let dir = fs::canonicalize(dir).map_err(|source| dir_error("resolving", source))?;
    let dir_error = |step, source: Errno| PodNamespacesError::MountDir {
        step,
        path: dir.clone(),
        source: source.into(),
    };
    match mount_state(&dir)? {
        MountState::Private => return Ok(()),
        MountState::Shared => {}
        MountState::NotMountPoint => {
            mount_bind_recursive(&dir, &dir)
                .map_err(|source| dir_error("bind-mounting onto itself", source))?;
        }
    }
    mount_change(
        &dir,
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(|source| dir_error("making private", source))
}

enum MountState {
    NotMountPoint,
    /// Shared, a slave, or both: anything but private.
    Shared,
    Private,
}

fn mount_state(dir: &Path) -> Result<MountState, PodNamespacesError> {
    let path = Path::new(PROC_SELF_MOUNTINFO);
    let text = fs::read(path).map_err(|source| PodNamespacesError::MountDir {
        step: "reading",
        path: path.to_owned(),
        source,
    })?;
    let mounts = mountinfo::parse(&text).map_err(|source| PodNamespacesError::MountInfo {
        path: path.to_owned(),
        source,
    })?;
    // The last mount listed at a point is the one on top, the one path
    // lookups see.
    let Some(top) = mounts.iter().rev().find(|mount| mount.mount_point == dir) else {
        return Ok(MountState::NotMountPoint);
    };
    let propagates = top
        .optional_fields
        .iter()
        .any(|field| field.starts_with("shared:") || field.starts_with("master:"));
    Ok(if propagates {
        MountState::Shared
    } else {
        MountState::Private
    })
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "no message".to_owned(), |message| (*message).to_owned()),
    }
}

#[cfg(test)]
mod tests;
