//! The one unsafe step of the terminal module: lending a descriptor that
//! JS holds as a number, kept apart so the rest stays under
//! `deny(unsafe_code)`.

use std::os::fd::{BorrowedFd, RawFd};

/// Calls `use_fd` with `fd` borrowed for the call; None for a negative
/// number, which can name no descriptor.
pub(super) fn with_borrowed<T>(fd: RawFd, use_fd: impl FnOnce(BorrowedFd<'_>) -> T) -> Option<T> {
    if fd < 0 {
        return None;
    }
    // SAFETY: `borrow_raw` needs `fd` to stay open while the borrow lives.
    // The borrow does not outlive `use_fd`, which only passes it to ioctl(2)
    // and neither stores nor closes it; the caller owns `fd` across the
    // call. Should the number name no open descriptor, the kernel answers
    // EBADF: no memory is at stake.
    Some(use_fd(unsafe { BorrowedFd::borrow_raw(fd) }))
}
