//! Learning when a process exits, whoever its parent is: the container
//! monitors are not the daemon's children, so `waitpid` cannot see them, but
//! a pidfd becomes readable when its process exits. One thread waits on one
//! epoll set for every watched pidfd, so a node with hundreds of containers
//! costs one thread, not hundreds.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use rustix::event::{PollFd, PollFlags, Timespec, epoll, poll};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, pidfd_open};

/// Events taken from the kernel per `epoll_wait`; more simply wait for the
/// next round.
const EVENTS_PER_WAIT: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum ExitWatchError {
    #[error("{pid} is not a valid process ID")]
    InvalidPid { pid: i32 },
    #[error("no process {pid}: it has exited and been reaped, or never existed")]
    NoProcess { pid: i32 },
    #[error("pidfd_open({pid})")]
    Open {
        pid: i32,
        #[source]
        source: Errno,
    },
    #[error("polling the pidfd of {pid}")]
    Poll {
        pid: i32,
        #[source]
        source: Errno,
    },
    #[error("setting up the exit watcher's epoll set")]
    Epoll {
        #[source]
        source: Errno,
    },
    #[error("starting the exit watcher thread")]
    Thread {
        #[source]
        source: std::io::Error,
    },
}

impl ExitWatchError {
    /// Stable identifier for callers that branch on the kind of failure; the
    /// message may change, these may not.
    pub fn code(&self) -> &'static str {
        match self {
            ExitWatchError::InvalidPid { .. } => "ERR_EXIT_WATCH_INVALID_PID",
            ExitWatchError::NoProcess { .. } => "ERR_EXIT_WATCH_NO_PROCESS",
            ExitWatchError::Open { .. } | ExitWatchError::Poll { .. } => "ERR_EXIT_WATCH_PIDFD",
            ExitWatchError::Epoll { .. } | ExitWatchError::Thread { .. } => {
                "ERR_EXIT_WATCH_WATCHER"
            }
        }
    }
}

/// Called once, on the watcher thread, when the process has exited. It
/// must return quickly: every other watch waits for it.
pub type OnExit = Box<dyn FnOnce() + Send>;

struct Watch {
    pidfd: OwnedFd,
    on_exit: OnExit,
}

struct Shared {
    epoll: OwnedFd,
    watches: Mutex<HashMap<u64, Watch>>,
    next_token: AtomicU64,
}

/// Watches any number of processes from one thread. The thread lives as long
/// as the process does: a daemon needs exactly one watcher, for good.
pub struct ExitWatcher {
    shared: Arc<Shared>,
}

impl ExitWatcher {
    pub fn start() -> Result<Self, ExitWatchError> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)
            .map_err(|source| ExitWatchError::Epoll { source })?;
        let shared = Arc::new(Shared {
            epoll,
            watches: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(0),
        });
        let for_thread = Arc::clone(&shared);
        thread::Builder::new()
            .name("crion-exit-watch".to_owned())
            .spawn(move || run(&for_thread))
            .map_err(|source| ExitWatchError::Thread { source })?;
        Ok(ExitWatcher { shared })
    }

    /// Calls `on_exit` once `pid` has exited, at once if it already has but
    /// is not yet reaped (a zombie). Fails, without calling `on_exit`, when
    /// there is no such process.
    pub fn watch(&self, pid: i32, on_exit: OnExit) -> Result<(), ExitWatchError> {
        let pidfd = open_pidfd(pid)?;
        let token = self.shared.next_token.fetch_add(1, Ordering::Relaxed);
        // Registered in the map before epoll can report it, so the watcher
        // thread always finds the entry an event names.
        let mut watches = lock(&self.shared.watches);
        epoll::add(
            &self.shared.epoll,
            &pidfd,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN,
        )
        .map_err(|source| ExitWatchError::Epoll { source })?;
        watches.insert(token, Watch { pidfd, on_exit });
        Ok(())
    }

    /// How many watches are waiting for their process.
    pub fn pending(&self) -> usize {
        lock(&self.shared.watches).len()
    }
}

fn run(shared: &Shared) {
    let mut events = Vec::with_capacity(EVENTS_PER_WAIT);
    loop {
        events.clear();
        match epoll::wait(
            &shared.epoll,
            rustix::buffer::spare_capacity(&mut events),
            None,
        ) {
            Ok(_) | Err(Errno::INTR) => {}
            // Only a bad epoll fd or buffer makes epoll_wait fail otherwise,
            // and neither can happen to the set this thread owns.
            Err(_) => return,
        }
        let exited: Vec<Watch> = {
            let mut watches = lock(&shared.watches);
            events
                .iter()
                .filter_map(|event| watches.remove(&event.data.u64()))
                .collect()
        };
        for watch in exited {
            // Closing the pidfd would take it out of the set as well; deleting
            // first keeps the set right even if the callback held a clone.
            let _ = epoll::delete(&shared.epoll, &watch.pidfd);
            drop(watch.pidfd);
            (watch.on_exit)();
        }
    }
}

/// Whether `pid` is a running process: false once it has exited, zombie or
/// reaped. Errors only for an invalid pid or a pidfd failure other than
/// "no such process".
pub fn pid_alive(pid: i32) -> Result<bool, ExitWatchError> {
    let pidfd = match open_pidfd(pid) {
        Ok(pidfd) => pidfd,
        Err(ExitWatchError::NoProcess { .. }) => return Ok(false),
        Err(error) => return Err(error),
    };
    let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
    let ready = poll(&mut fds, Some(&Timespec::default()))
        .map_err(|source| ExitWatchError::Poll { pid, source })?;
    Ok(ready == 0)
}

fn open_pidfd(pid: i32) -> Result<OwnedFd, ExitWatchError> {
    // Pid::from_raw takes only non-negative values.
    let valid = (pid > 0)
        .then(|| Pid::from_raw(pid))
        .flatten()
        .ok_or(ExitWatchError::InvalidPid { pid })?;
    pidfd_open(valid, PidfdFlags::empty()).map_err(|source| match source {
        Errno::SRCH => ExitWatchError::NoProcess { pid },
        source => ExitWatchError::Open { pid, source },
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic in an `on_exit` runs outside the lock, so a poisoned map is
    // still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for ExitWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExitWatcher")
            .field("pending", &self.pending())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    fn channel_watch(watcher: &ExitWatcher, pid: i32) -> mpsc::Receiver<Instant> {
        let (sender, receiver) = mpsc::channel();
        watcher
            .watch(
                pid,
                Box::new(move || {
                    let _ = sender.send(Instant::now());
                }),
            )
            .expect("watch starts");
        receiver
    }

    #[test]
    fn reports_an_exit_after_it_happens() {
        let watcher = ExitWatcher::start().expect("watcher starts");
        let mut child = Command::new("sleep")
            .arg("0.2")
            .spawn()
            .expect("sleep runs");
        let started = Instant::now();
        let exited = channel_watch(&watcher, child.id() as i32);
        let at = exited
            .recv_timeout(Duration::from_secs(10))
            .expect("exit reported");
        assert!(at.duration_since(started) >= Duration::from_millis(150));
        child.wait().expect("reaped");
        assert_eq!(watcher.pending(), 0);
    }

    #[test]
    fn a_zombie_has_already_exited() {
        let watcher = ExitWatcher::start().expect("watcher starts");
        let mut child = Command::new("true").spawn().expect("true runs");
        let pid = child.id() as i32;
        // Wait for the exit without reaping, so the pid still names a zombie.
        while pid_alive(pid).expect("pidfd works") {
            thread::sleep(Duration::from_millis(5));
        }
        channel_watch(&watcher, pid)
            .recv_timeout(Duration::from_secs(10))
            .expect("exit reported at once");
        child.wait().expect("reaped");
    }

    #[test]
    fn a_reaped_process_is_no_process() {
        let watcher = ExitWatcher::start().expect("watcher starts");
        let mut child = Command::new("true").spawn().expect("true runs");
        let pid = child.id() as i32;
        child.wait().expect("reaped");
        let error = watcher
            .watch(pid, Box::new(|| panic!("must not be called")))
            .expect_err("no such process");
        assert_eq!(error.code(), "ERR_EXIT_WATCH_NO_PROCESS");
        assert!(!pid_alive(pid).expect("pidfd works"));
    }

    #[test]
    fn rejects_pids_that_cannot_name_a_process() {
        let watcher = ExitWatcher::start().expect("watcher starts");
        for pid in [0, -1, i32::MIN] {
            let error = watcher
                .watch(pid, Box::new(|| {}))
                .expect_err("invalid pid");
            assert_eq!(error.code(), "ERR_EXIT_WATCH_INVALID_PID");
        }
    }

    #[test]
    fn watches_a_process_that_is_not_a_child() {
        let watcher = ExitWatcher::start().expect("watcher starts");
        // The shell exits at once and leaves its background sleep to init;
        // the test ends the sleep itself, so a slow machine cannot outrun it.
        let output = Command::new("sh")
            .args(["-c", "sleep 60 >/dev/null 2>&1 & echo $!"])
            .stdout(Stdio::piped())
            .output()
            .expect("sh runs");
        let pid: i32 = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("a pid");
        assert!(pid_alive(pid).expect("pidfd works"));
        let exited = channel_watch(&watcher, pid);
        let process = Pid::from_raw(pid).expect("positive");
        rustix::process::kill_process(process, rustix::process::Signal::TERM).expect("killed");
        exited
            .recv_timeout(Duration::from_secs(10))
            .expect("exit reported");
        assert!(!pid_alive(pid).expect("pidfd works"));
    }

    #[test]
    fn many_watches_share_one_thread() {
        let watcher = ExitWatcher::start().expect("watcher starts");
        let mut children: Vec<_> = (0..100)
            .map(|i| {
                Command::new("sleep")
                    .arg(format!("0.{:02}", i % 30 + 10))
                    .spawn()
                    .expect("sleep runs")
            })
            .collect();
        let receivers: Vec<_> = children
            .iter()
            .map(|child| channel_watch(&watcher, child.id() as i32))
            .collect();
        for receiver in receivers {
            receiver
                .recv_timeout(Duration::from_secs(10))
                .expect("exit reported");
        }
        for child in &mut children {
            child.wait().expect("reaped");
        }
        assert_eq!(watcher.pending(), 0);
    }
}
