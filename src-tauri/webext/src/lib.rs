//! A WebKitGTK web process extension: loaded by every WebKitWebProcess of the settings windows (the app
//! points WebKit at its folder, see `src-tauri/src/memory.rs`), it hands the process's clean library
//! pages back to the page cache a few seconds after the window has started, then every
//! [`TRIM_EVERY`] — what the app does for itself (`postroom-pagetrim`).
//!
//! Why: a web process's start-up touches pages it never runs again. Under software GL most of them are
//! Mesa's LLVM initialising itself (some 35 MB resident, none of it used after the first second), the
//! rest WebKit's and JavaScriptCore's start-up code. Only the process itself can drop them, so this
//! small library runs inside it. It does nothing else: no DOM access, no messages, no state.
//!
//! WebKit looks for `webkit_web_extension_initialize` in each module of the folder and calls it once, on
//! the web process's main thread, before the page loads.

use std::time::Duration;

/// How long after the web process starts its start-up is taken to be over (the window has loaded).
const SETTLE: Duration = Duration::from_secs(5);

/// While the window is open, the pages are handed back this often (the app's own cadence).
const TRIM_EVERY: Duration = Duration::from_secs(30);

/// Called by WebKit once per web process. `_extension` is the `WebKitWebExtension*`, not used.
///
/// # Safety
/// Called by WebKit's module loader with a valid (unused) pointer; it only starts a thread.
#[no_mangle]
pub unsafe extern "C" fn webkit_web_extension_initialize(_extension: *mut std::ffi::c_void) {
    // A thread of its own: the main thread is WebKit's. It lives as long as the process; the process
    // exits with its window and takes the thread with it.
    let started = std::thread::Builder::new().name("postroom-trim".into()).spawn(|| {
        std::thread::sleep(SETTLE);
        loop {
            postroom_pagetrim::drop_clean_file_pages();
            std::thread::sleep(TRIM_EVERY);
        }
    });
    // Without the thread the window works as before, only heavier; there is nowhere to report to.
    drop(started);
}
