//! Node-API surface of crion-core. This crate only converts between JS and
//! Rust: every decision is made in crion-core, where `cargo test` covers it.
#![deny(unsafe_code)]

use std::error::Error as StdError;

use crion_core::host_probe as core;
use napi::bindgen_prelude::*;
use napi_derive::napi;

pub mod blocking;
pub mod cancel;
pub mod dir_lock;
pub mod exit_watch;
pub mod layer_unpack;
pub mod netns_connect;
pub mod overlay;
pub mod own_thread;
pub mod pod_namespaces;
pub mod pod_shm;
pub mod terminal;

/// Whether the host offers a feature; `reason` says why not, and is null
/// exactly when `available` is true.
#[napi(object, use_nullable = true)]
pub struct Support {
    pub available: bool,
    pub reason: Option<String>,
}

impl From<core::Support> for Support {
    fn from(support: core::Support) -> Self {
        match support {
            core::Support::Available => Support {
                available: true,
                reason: None,
            },
            core::Support::Unavailable { reason } => Support {
                available: false,
                reason: Some(reason),
            },
        }
    }
}

#[napi(object, use_nullable = true)]
pub struct HostProbe {
    /// `uname -r`.
    pub kernel_release: String,
    /// overlay is listed in /proc/filesystems.
    pub overlay: Support,
    pub mount_api: MountApi,
    pub pidfd: Pidfd,
    pub cgroups: Cgroups,
    pub user_namespaces: UserNamespaces,
    pub oom_score_adj: OomScoreAdj,
}

#[napi(object, use_nullable = true)]
pub struct MountApi {
    /// `fsopen("overlay")` works.
    pub fsopen_overlay: Support,
    /// overlay accepts `fsconfig(FSCONFIG_SET_STRING, "lowerdir+")`, which
    /// mounts images deeper than the ~36 layers that mount(2) options allow.
    pub lowerdir_append: Support,
}

#[napi(object, use_nullable = true)]
pub struct Pidfd {
    /// `pidfd_open` works.
    pub open: Support,
    /// `waitid(P_PIDFD)` is understood.
    pub waitid: Support,
}

#[napi(string_enum)]
pub enum CgroupLayout {
    #[napi(value = "v1")]
    V1,
    #[napi(value = "v2")]
    V2,
    #[napi(value = "hybrid")]
    Hybrid,
}

#[napi(object, use_nullable = true)]
pub struct Cgroups {
    /// null when no cgroup filesystem is mounted.
    pub layout: Option<CgroupLayout>,
    /// One entry per v1 controller or named hierarchy (`name=systemd`);
    /// co-mounted controllers share a mount point.
    pub v1_controllers: Vec<CgroupV1Controller>,
    pub v2: Option<CgroupV2Hierarchy>,
}

#[napi(object, use_nullable = true)]
pub struct CgroupV1Controller {
    pub name: String,
    pub mount_point: String,
}

#[napi(object, use_nullable = true)]
pub struct CgroupV2Hierarchy {
    pub mount_point: String,
    /// The names in `cgroup.controllers` at the mount point.
    pub controllers: Vec<String>,
}

#[napi(object, use_nullable = true)]
pub struct UserNamespaces {
    /// `/proc/sys/user/max_user_namespaces` is present and above 0.
    pub available: bool,
    pub reason: Option<String>,
    /// null when the kernel is built without user namespaces.
    pub max_user_namespaces: Option<u32>,
    /// `kernel.unprivileged_userns_clone`; null where the sysctl does not exist.
    pub unprivileged_userns_clone: Option<bool>,
}

#[napi(object, use_nullable = true)]
pub struct OomScoreAdj {
    /// The daemon's own `/proc/self/oom_score_adj`.
    pub current: i32,
    /// Whether the daemon may go below `current` (needs CAP_SYS_RESOURCE).
    pub lowering: Support,
}

impl From<core::HostProbe> for HostProbe {
    fn from(probe: core::HostProbe) -> Self {
        let user_namespaces = Support::from(probe.user_namespaces.support);
        HostProbe {
            kernel_release: probe.kernel_release,
            overlay: probe.overlay.into(),
            mount_api: MountApi {
                fsopen_overlay: probe.mount_api.fsopen_overlay.into(),
                lowerdir_append: probe.mount_api.lowerdir_append.into(),
            },
            pidfd: Pidfd {
                open: probe.pidfd.open.into(),
                waitid: probe.pidfd.waitid.into(),
            },
            cgroups: Cgroups {
                layout: probe.cgroups.layout.map(|layout| match layout {
                    core::CgroupLayout::V1 => CgroupLayout::V1,
                    core::CgroupLayout::V2 => CgroupLayout::V2,
                    core::CgroupLayout::Hybrid => CgroupLayout::Hybrid,
                }),
                v1_controllers: probe
                    .cgroups
                    .v1_controllers
                    .into_iter()
                    .map(|controller| CgroupV1Controller {
                        name: controller.name,
                        mount_point: controller.mount_point.to_string_lossy().into_owned(),
                    })
                    .collect(),
                v2: probe.cgroups.v2.map(|v2| CgroupV2Hierarchy {
                    mount_point: v2.mount_point.to_string_lossy().into_owned(),
                    controllers: v2.controllers,
                }),
            },
            user_namespaces: UserNamespaces {
                available: user_namespaces.available,
                reason: user_namespaces.reason,
                max_user_namespaces: probe.user_namespaces.max_user_namespaces,
                unprivileged_userns_clone: probe.user_namespaces.unprivileged_userns_clone,
            },
            oom_score_adj: OomScoreAdj {
                current: probe.oom_score_adj.current,
                lowering: probe.oom_score_adj.lowering.into(),
            },
        }
    }
}

pub struct ProbeHostTask;

#[napi]
impl Task for ProbeHostTask {
    // The core error travels to `resolve` as a value: only there, on the JS
    // thread, can it become an Error object carrying its own `code`.
    type Output = std::result::Result<core::HostProbe, core::HostProbeError>;
    type JsValue = HostProbe;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(core::probe())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output
            .map(HostProbe::from)
            .map_err(|error| js_error(&env, error.code(), &error))
    }
}

/// Probes what the host's kernel offers (overlay, the new mount API, pidfd,
/// cgroup layout, user namespaces, oom_score_adj) on a worker thread.
/// Rejects, with `code` set, only when a file the kernel always provides
/// cannot be read or parsed.
#[napi]
pub fn probe_host() -> AsyncTask<ProbeHostTask> {
    AsyncTask::new(ProbeHostTask)
}

/// Builds a JS Error whose `code` is `code` and whose message is the whole
/// cause chain, since JS callers see only the message.
pub(crate) fn js_error(env: &Env, code: &str, error: &dyn StdError) -> Error {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(source) = cause {
        message.push_str(": ");
        message.push_str(&source.to_string());
        cause = source.source();
    }
    let js_value = JsError::from(Error::new(code, message)).into_unknown(*env);
    Error::from(js_value)
}
