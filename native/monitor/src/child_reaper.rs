//! Reaping: the monitor is the child subreaper of everything the runtime
//! leaves behind, so the container's init, once the runtime has exited, is its
//! child to wait for (the only way to learn an exit status). Anything else
//! that ends up reparented here (daemonized processes of a container sharing
//! the host's PID namespace) is reaped too, so no zombie outlives its parent.

use rustix::io::Errno;
use rustix::process::{Pid, WaitId, WaitIdOptions, WaitOptions, WaitStatus, wait, waitid, waitpid};

#[derive(Debug, thiserror::Error)]
pub enum ReaperError {
    #[error(
        "process {pid} is not a child of the monitor: the runtime must leave the container's \
         init to its caller's subreaper"
    )]
    NotAChild { pid: i32 },
    #[error("waiting for children")]
    Wait(#[source] Errno),
}

impl ReaperError {
    pub fn code(&self) -> &'static str {
        match self {
            ReaperError::NotAChild { .. } => "ERR_REAPER_NOT_A_CHILD",
            ReaperError::Wait(_) => "ERR_REAPER_WAIT",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    fn from_wait(status: WaitStatus) -> Option<Self> {
        status
            .exit_status()
            .map(ExitStatus::Exited)
            .or_else(|| status.terminating_signal().map(ExitStatus::Signaled))
    }
}

/// Fails unless `pid` is a child of this process, running or exited but not
/// yet reaped. `WNOWAIT` leaves an exited child's status for `reap_all`.
pub fn check_child(pid: Pid) -> Result<(), ReaperError> {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    match waitid(WaitId::Pid(pid), options) {
        Ok(_) => Ok(()),
        Err(Errno::CHILD) => Err(ReaperError::NotAChild {
            pid: pid.as_raw_nonzero().get(),
        }),
        Err(errno) => Err(ReaperError::Wait(errno)),
    }
}

/// Reaps every child that has exited, returning the status of `container`
/// if it was among them. Call it whenever SIGCHLD arrives; signals coalesce,
/// so one call may reap several children.
pub fn reap_all(container: Pid) -> Result<Option<ExitStatus>, ReaperError> {
    let mut container_status = None;
    loop {
        // `wait`, not `waitpid(None)`, which rustix maps to pid 0: only this
        // process group, and the container is not in it.
        match wait(WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => {
                if pid == container {
                    container_status = ExitStatus::from_wait(status);
                }
            }
            // Children left, none exited; or no children at all.
            Ok(None) | Err(Errno::CHILD) => return Ok(container_status),
            Err(Errno::INTR) => {}
            Err(errno) => return Err(ReaperError::Wait(errno)),
        }
    }
}

/// Waits for one specific child (the runtime), retrying on EINTR.
pub fn wait_for(pid: Pid) -> Result<ExitStatus, ReaperError> {
    loop {
        match waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => {
                if let Some(exit) = ExitStatus::from_wait(status) {
                    return Ok(exit);
                }
            }
            Ok(None) | Err(Errno::INTR) => {}
            Err(Errno::CHILD) => {
                return Err(ReaperError::NotAChild {
                    pid: pid.as_raw_nonzero().get(),
                });
            }
            Err(errno) => return Err(ReaperError::Wait(errno)),
        }
    }
}

#[cfg(test)]
// The children are reaped with waitpid, which clippy does not count.
#[allow(clippy::zombie_processes)]
mod tests {
    use super::*;
    use std::process::Command;

    fn pid_of(child: &std::process::Child) -> Pid {
        Pid::from_raw(child.id() as i32).expect("a child has a positive pid")
    }

    #[test]
    fn reports_exit_codes_and_signals() {
        let child = Command::new("/bin/sh")
            .args(["-c", "exit 3"])
            .spawn()
            .expect("spawn sh");
        assert_eq!(
            wait_for(pid_of(&child)).expect("wait"),
            ExitStatus::Exited(3)
        );

        let child = Command::new("/bin/sh")
            .args(["-c", "kill -9 $$"])
            .spawn()
            .expect("spawn sh");
        assert_eq!(
            wait_for(pid_of(&child)).expect("wait"),
            ExitStatus::Signaled(9)
        );
    }

    #[test]
    fn check_child_leaves_the_status_for_the_reaper() {
        let child = Command::new("/bin/sh")
            .args(["-c", "exit 7"])
            .spawn()
            .expect("spawn sh");
        let pid = pid_of(&child);
        // Exited or not, it stays a child until reaped.
        check_child(pid).expect("a child");
        std::thread::sleep(std::time::Duration::from_millis(100));
        check_child(pid).expect("still a child once exited");
        assert_eq!(wait_for(pid).expect("wait"), ExitStatus::Exited(7));
    }

    #[test]
    fn a_process_that_is_not_a_child_is_refused() {
        let error = check_child(Pid::from_raw(1).expect("pid 1")).expect_err("init is no child");
        assert_eq!(error.code(), "ERR_REAPER_NOT_A_CHILD");
    }
}
