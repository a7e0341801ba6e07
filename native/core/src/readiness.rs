//! Waiting, up to a deadline, for one descriptor to become ready: the
//! console socket and the port-forward connect both wait for one event on
//! one socket, and neither may wait forever.

use std::os::fd::AsFd;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;

/// Whether `fd` reported one of `flags` (or an error or hang-up, which the
/// next call on it will tell) before `deadline`; false when the deadline
/// passed first.
pub(crate) fn wait_until(
    fd: impl AsFd,
    flags: PollFlags,
    deadline: Instant,
) -> Result<bool, Errno> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // A Duration fits a Timespec until the year 292 billion; on overflow
        // waiting forever would be the same.
        let timeout = Timespec::try_from(left).ok();
        let mut fds = [PollFd::new(&fd, flags)];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) if Instant::now() >= deadline => return Ok(false),
            Ok(0) | Err(Errno::INTR) => {}
            Ok(_) => return Ok(true),
            Err(errno) => return Err(errno),
        }
    }
}
