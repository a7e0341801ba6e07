//! crion-monitor: one per container, crion's conmon. See README.md for the
//! command line, the sync and control protocols and the files it keeps.
//!
//! The daemon runs `crion-monitor …`; that process starts the detached
//! monitor (`crion-monitor --detached …`) and exits 0 at once, or 2 on a bad
//! command line. Everything after that reaches the daemon through the sync
//! descriptor, the state directory and the control socket.
#![deny(unsafe_code)]

mod attach;
mod child_reaper;
mod cli;
mod console;
mod container_io;
mod control;
mod cri_log;
mod detach;
mod exit_file;
mod inherited_fds;
mod json;
mod listener;
mod monitor;
mod oci_runtime;
mod oom;
mod pod_init;
mod signals;
mod sync;
mod timestamp;

use std::error::Error;
use std::ffi::OsString;
use std::process::ExitCode;

use cli::Invocation;
use sync::{Failure, SyncChannel};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match args.first().and_then(|first| first.to_str()) {
        Some(detach::DETACHED_FLAG) => detached(&args[1..]),
        Some(POD_INIT) => pod_init(&args[1..]),
        Some(pod_init::SERVE_MODE) => pod_init::serve(),
        _ => launch(&args),
    }
}

/// The mode that starts a pod's PID 1 instead of a container's monitor.
const POD_INIT: &str = "pod-init";

/// Exits 0 with the init running, 1 with nothing left behind, 2 on a bad
/// command line. The failure line carries the stable code first, so the
/// daemon can tell the steps apart without parsing prose.
fn pod_init(args: &[OsString]) -> ExitCode {
    let options = match cli::parse_pod_init(args) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("crion-monitor: {}: {}", error.code(), error_chain(&error));
            eprintln!("Try 'crion-monitor --help'.");
            return ExitCode::from(2);
        }
    };
    match pod_init::launch(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("crion-monitor: {}: {}", error.code(), error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// The process the daemon started: check the command line, start the
/// detached monitor, exit.
fn launch(args: &[OsString]) -> ExitCode {
    let options = match cli::parse(args) {
        Ok(Invocation::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Run(options)) => options,
        Err(error) => return usage_error(args, &error),
    };
    match detach::spawn_detached(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            fail(options.sync_fd, error.code(), &error, None);
            ExitCode::FAILURE
        }
    }
}

/// The monitor proper, no longer the daemon's child.
fn detached(args: &[OsString]) -> ExitCode {
    inherited_fds::mark_all_close_on_exec();
    let options = match cli::parse(args) {
        Ok(Invocation::Run(options)) => options,
        Ok(Invocation::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(error) => return usage_error(args, &error),
    };
    let sync = match options.sync_fd.map(inherited_fds::take).transpose() {
        Ok(fd) => fd.map(SyncChannel::new),
        Err(error) => {
            report(&error);
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = detach::enter_background() {
        if let Some(sync) = sync {
            sync.failed(&failure(error.code(), &error_chain(&error), None));
        }
        report(&error);
        return ExitCode::FAILURE;
    }

    let monitor = match monitor::start(&options) {
        Ok(monitor) => monitor,
        Err(error) => {
            if let Some(sync) = sync {
                sync.failed(&failure(
                    error.code(),
                    &error_chain(&error),
                    error.runtime_failure(),
                ));
            }
            report(&error);
            return ExitCode::FAILURE;
        }
    };
    if let Some(sync) = sync {
        sync.ready(
            monitor.container_pid(),
            rustix::process::getpid().as_raw_nonzero().get(),
        );
    }
    match monitor.run() {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            ExitCode::FAILURE
        }
    }
}

fn failure<'a>(code: &'a str, message: &'a str, runtime: Option<(i32, &'a str)>) -> Failure<'a> {
    Failure {
        code,
        message,
        runtime_exit_code: runtime.map(|(code, _)| code),
        runtime_stderr: runtime.map(|(_, output)| output),
    }
}

/// Reports on the sync descriptor when there is one, and on stderr.
fn fail(sync_fd: Option<i32>, code: &str, error: &dyn Error, runtime: Option<(i32, &str)>) {
    let message = error_chain(error);
    if let Some(Ok(fd)) = sync_fd.map(inherited_fds::take) {
        SyncChannel::new(fd).failed(&failure(code, &message, runtime));
    }
    eprintln!("crion-monitor: {message}");
}

fn usage_error(args: &[OsString], error: &cli::CliError) -> ExitCode {
    fail(cli::find_sync_fd(args), error.code(), error, None);
    eprintln!("Try 'crion-monitor --help'.");
    ExitCode::from(2)
}

/// The error and its causes, `outer: inner: …`.
pub fn error_chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub fn report(error: &dyn Error) {
    eprintln!("crion-monitor: {}", error_chain(error));
}
