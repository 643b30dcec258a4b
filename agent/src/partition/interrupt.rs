//! Stopping a search early (Ctrl-C): a request that every method's long loop
//! checks (the evaluator before each simulator call, `exact` every 256 nodes,
//! `dp` every few thousand table entries). A search that sees it stops as if
//! its budget were spent, keeps what it found and reports itself
//! interrupted ([`super::search::SearchResult::interrupted`]).
//!
//! Two flags: a process-wide one, which a signal handler sets
//! ([`request`]), and one for the current thread ([`request_on_this_thread`]),
//! which lets a test (or an embedding that runs several searches on several
//! threads) stop one search without touching the others. Neither is read by
//! anything that decides a result when it is not set, so an uninterrupted
//! search is unaffected.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

static PROCESS: AtomicBool = AtomicBool::new(false);

thread_local! {
    static THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Asks every search in the process to stop (safe in a signal handler).
pub fn request() {
    PROCESS.store(true, Ordering::SeqCst);
}

/// Asks the searches running on this thread to stop.
pub fn request_on_this_thread() {
    THREAD.with(|t| t.set(true));
}

/// Withdraws both requests (for this thread's flag, only this thread's).
pub fn clear() {
    PROCESS.store(false, Ordering::SeqCst);
    THREAD.with(|t| t.set(false));
}

/// Withdraws this thread's request only.
pub fn clear_this_thread() {
    THREAD.with(|t| t.set(false));
}

/// Whether a search on this thread should stop.
pub fn requested() -> bool {
    PROCESS.load(Ordering::Relaxed) || THREAD.with(Cell::get)
}
