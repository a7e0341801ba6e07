//! Reaping: the monitor is the child subreaper of everything the runtime
//! leaves behind, so the container's init, once the runtime has exited, is its
//! child to wait for (the only way to learn an exit status). Anything else
//! that ends up reparented here (daemonized processes of a container sharing
//! the host's PID namespace) is reaped too, so no zombie outlives its parent.
//!
//! Being the one that reaps also makes the monitor the one process that can
//! signal the container's init by PID without a race: until the monitor
//! reaps it, the PID stays the init's (an exited init is a zombie holding
//! it), so the kernel cannot have handed it to another process. Hence the
//! signals go through `ContainerProcess`, which refuses once it has reaped.

use std::io;

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
    #[error("sending signal {signal} to the container's process {pid}")]
    Kill {
        signal: i32,
        pid: i32,
        #[source]
        source: io::Error,
    },
}

impl ReaperError {
    pub fn code(&self) -> &'static str {
        match self {
            ReaperError::NotAChild { .. } => "ERR_REAPER_NOT_A_CHILD",
            ReaperError::Wait(_) => "ERR_REAPER_WAIT",
            ReaperError::Kill { .. } => "ERR_REAPER_KILL",
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

/// The container's init: its PID, and whether this monitor has reaped it.
pub struct ContainerProcess {
    pid: Pid,
    reaped: bool,
}

impl ContainerProcess {
    /// Takes charge of `pid`, which must be this process's child (see
    /// `check_child`): only then is the monitor the one that reaps it, which
    /// is what makes `signal` safe.
    pub fn adopt(pid: Pid) -> Result<Self, ReaperError> {
        check_child(pid)?;
        Ok(Self { pid, reaped: false })
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// `reap_all`, remembering when the container was among the reaped.
    pub fn reap_exited(&mut self) -> Result<Option<ExitStatus>, ReaperError> {
        let status = reap_all(self.pid)?;
        if status.is_some() {
            self.reaped = true;
        }
        Ok(status)
    }

    /// Sends signal `number` with kill(2). Once the container has been
    /// reaped this sends nothing and succeeds: its PID may belong to another
    /// process by now, and the exit has happened, which is what a late stop
    /// wants. A zombie not yet reaped is signalled, harmlessly: kill(2)
    /// succeeds on it. The monitor is single-threaded, so nothing reaps
    /// between the check and the kill.
    pub fn signal(&self, number: i32) -> Result<(), ReaperError> {
        if self.reaped {
            return Ok(());
        }
        kill(self.pid, number).map_err(|source| ReaperError::Kill {
            signal: number,
            pid: self.pid.as_raw_nonzero().get(),
            source,
        })
    }
}

/// kill(2) by number. rustix takes a `Signal`, whose constructor for the
/// real-time signals (which a container's stop signal may be, e.g.
/// SIGRTMIN+3) is unsafe too, with a contract about libc's reserved
/// signals that does not fit sending them to another process.
#[allow(unsafe_code)]
fn kill(pid: Pid, number: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes two integers and touches no memory of ours; an
    // invalid signal number is refused by the kernel with EINVAL.
    let result = unsafe { libc::kill(pid.as_raw_nonzero().get(), number) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
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

    fn wait_until_zombie(pid: Pid) {
        let stat = format!("/proc/{}/stat", pid.as_raw_nonzero());
        for _ in 0..500 {
            let content = std::fs::read_to_string(&stat).expect("a zombie still has its stat");
            // The state follows the command name, which may hold ") ".
            if content
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("process {pid:?} did not become a zombie");
    }

    /// Until it is reaped, the container's PID is signalled even as a
    /// zombie; once reaped it never is (a kill of the freed PID would fail
    /// with ESRCH, or worse reach another process).
    #[test]
    fn signals_the_container_until_it_is_reaped() {
        let child = Command::new("/bin/sh")
            .args(["-c", "exec sleep 1000"])
            .spawn()
            .expect("spawn sh");
        let pid = pid_of(&child);
        let mut process = ContainerProcess::adopt(pid).expect("a child");
        process
            .signal(libc::SIGKILL)
            .expect("signal a running child");
        wait_until_zombie(pid);
        process.signal(libc::SIGTERM).expect("signal a zombie");
        // `reap_exited` would reap the other tests' children too.
        assert_eq!(wait_for(pid).expect("wait"), ExitStatus::Signaled(9));
        process.reaped = true;
        process
            .signal(libc::SIGTERM)
            .expect("a reaped container is not signalled");
    }

    #[test]
    fn a_failed_kill_names_the_signal_and_the_process() {
        let child = Command::new("/bin/sh")
            .args(["-c", "exec sleep 1000"])
            .spawn()
            .expect("spawn sh");
        let pid = pid_of(&child);
        let process = ContainerProcess::adopt(pid).expect("a child");
        // Past the kernel's last signal: EINVAL.
        let error = process.signal(65).expect_err("no signal 65");
        assert_eq!(error.code(), "ERR_REAPER_KILL");
        assert_eq!(
            error.to_string(),
            format!(
                "sending signal 65 to the container's process {pid}",
                pid = pid.as_raw_nonzero()
            )
        );
        process.signal(libc::SIGKILL).expect("kill");
        assert_eq!(wait_for(pid).expect("wait"), ExitStatus::Signaled(9));
    }

    #[test]
    fn a_process_that_is_not_a_child_is_refused() {
        let error = check_child(Pid::from_raw(1).expect("pid 1")).expect_err("init is no child");
        assert_eq!(error.code(), "ERR_REAPER_NOT_A_CHILD");
    }
}
