//! The one unsafe call of pod namespace creation, kept apart so that the
//! rest of the module stays under `deny(unsafe_code)`.

use rustix::io::Errno;
use rustix::thread::{UnshareFlags, unshare_unsafe};

/// Which of the per-thread namespaces to replace. A struct of flags rather
/// than `UnshareFlags` so that no caller can pass `CLONE_FILES`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Kinds {
    pub net: bool,
    pub ipc: bool,
    pub uts: bool,
}

/// Moves the calling thread, and only it, into new namespaces of `kinds`.
pub(super) fn unshare_thread(kinds: Kinds) -> Result<(), Errno> {
    let mut flags = UnshareFlags::empty();
    if kinds.net {
        flags |= UnshareFlags::NEWNET;
    }
    if kinds.ipc {
        flags |= UnshareFlags::NEWIPC;
    }
    if kinds.uts {
        flags |= UnshareFlags::NEWUTS;
    }
    // SAFETY: rustix marks unshare unsafe because CLONE_FILES would split
    // this thread's descriptor table from the other threads'; `flags` holds
    // only namespace flags, which touch no memory or descriptors.
    unsafe { unshare_unsafe(flags) }
}
