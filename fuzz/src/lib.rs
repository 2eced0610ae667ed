//! What the fuzz targets share.
//!
//! - [`world`]: the one test world the session targets run against (a temporary data directory, a
//!   store with the user alice/password and a delivered multipart message, settings, TLS, a runtime),
//!   and the one place that builds a `SessionContext` (so a new field there is fixed here only).
//! - [`gen`]: a byte-driven generator. The first bytes of an input pick a shape and a size, the rest
//!   fills it. A few bytes thus stand for a command nested 100,000 deep or a message with 50,000
//!   headers, which random bytes (and libFuzzer's default `-max_len` of 4096) never reach.
//! - [`shapes`]: the shapes, per target.

pub mod gen;
pub mod shapes;
pub mod world;

pub use gen::Gen;
pub use world::{world, World};

/// The stack of the threads postroomd runs engine code on: tokio's workers and blocking threads (and
/// any std thread) get 2 MiB, not the 8 MiB of the main thread libFuzzer calls targets on. Session
/// targets run their session on such a worker ([`World::converse`]); the others call the engine
/// through [`on_worker_stack`]. So a recursion that would overflow in the server overflows here too.
pub const WORKER_STACK: usize = 2 << 20;

/// Runs `f` on a thread with a [`WORKER_STACK`]-sized stack.
pub fn on_worker_stack<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| std::thread::Builder::new().stack_size(WORKER_STACK).spawn_scoped(s, f).expect("a thread").join().expect("no panic"))
}
