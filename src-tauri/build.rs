fn main() {
    // The webview shell is only built with the `desktop` feature, so that
    // `cargo test --no-default-features` needs no webkit.
    #[cfg(feature = "desktop")]
    tauri_build::build();
}
