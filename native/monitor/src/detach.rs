//! Getting away from the daemon. The daemon starts `crion-monitor`, which
//! starts itself again with `--detached` and exits at once: the second
//! process is then nobody's child but init's (or the nearest subreaper's), so
//! a daemon that restarts or crashes takes no monitor down with it, and never
//! has to reap one. That is conmon's double fork, done with exec, which
//! needs no `fork` in a Rust process.
//!
//! The detached monitor starts a session of its own (no controlling
//! terminal, no signals aimed at the daemon's process group), becomes a
//! child subreaper so the container's init is reparented to it when the
//! runtime exits, and works from `/` so it keeps no directory busy.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use rustix::io::Errno;
use rustix::process::{getpid, set_child_subreaper, setsid};

/// The internal first argument of the second process.
pub const DETACHED_FLAG: &str = "--detached";

#[derive(Debug, thiserror::Error)]
pub enum DetachError {
    #[error("starting the detached monitor (/proc/self/exe)")]
    Spawn(#[source] io::Error),
    #[error("starting a new session")]
    Session(#[source] Errno),
    #[error("becoming a child subreaper")]
    Subreaper(#[source] Errno),
    #[error("changing to /")]
    Chdir(#[source] Errno),
}

impl DetachError {
    pub fn code(&self) -> &'static str {
        match self {
            DetachError::Spawn(_) => "ERR_DETACH_SPAWN",
            DetachError::Session(_) => "ERR_DETACH_SESSION",
            DetachError::Subreaper(_) => "ERR_DETACH_SUBREAPER",
            DetachError::Chdir(_) => "ERR_DETACH_CHDIR",
        }
    }
}

/// Starts the detached monitor with the same arguments. Its stdin and stdout
/// are /dev/null; stderr is shared, for errors the sync channel cannot carry.
/// `/proc/self/exe` still runs this binary if an upgrade replaced the file.
pub fn spawn_detached(args: &[OsString]) -> Result<(), DetachError> {
    Command::new("/proc/self/exe")
        .arg0("crion-monitor")
        .arg(DETACHED_FLAG)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map(drop)
        .map_err(DetachError::Spawn)
}

/// Run first thing in the detached monitor.
pub fn enter_background() -> Result<(), DetachError> {
    // Started as /proc/self/exe, the process would be called `exe` in ps and
    // pgrep. Only cosmetic, so a failure is ignored.
    let _ = rustix::thread::set_name(c"crion-monitor");
    setsid().map_err(DetachError::Session)?;
    set_child_subreaper(Some(getpid())).map_err(DetachError::Subreaper)?;
    rustix::process::chdir("/").map_err(DetachError::Chdir)?;
    Ok(())
}
