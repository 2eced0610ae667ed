// No console window on Windows release builds.
#![cfg_attr(all(not(debug_assertions), target_os = "windows"), windows_subsystem = "windows")]

#[cfg(feature = "desktop")]
fn main() {
    postroom_app::run();
}

/// Without the `desktop` feature there is no window to open: point to the headless daemon.
#[cfg(not(feature = "desktop"))]
fn main() {
    eprintln!("postroom was built without the desktop feature; run `postroomd serve` instead");
    std::process::exit(2);
}
