//! The Postroom desktop shell: runs the engine in-process, keeps an icon in the system tray and opens the
//! settings windows. Thin by design: every command is a few lines over the engine's public API
//! (`postroom_engine::Engine`), and the windows are the web front end in `ui/`.
//!
//! Without the `desktop` feature this crate builds nothing but the library's options parser, so that
//! `cargo test --no-default-features` needs no webkit.

pub mod options;

#[cfg(feature = "desktop")]
mod commands;
#[cfg(feature = "desktop")]
mod events;
// Built without the desktop feature too, so that its unit test runs in the engine's inner loop.
#[cfg_attr(not(feature = "desktop"), allow(dead_code))]
mod memory;
#[cfg(feature = "desktop")]
mod tray;
#[cfg(feature = "desktop")]
mod windows;

#[cfg(feature = "desktop")]
pub use desktop::run;

#[cfg(feature = "desktop")]
mod desktop {
    use postroom_engine::{Engine, EngineOptions};
    use tauri::Manager;

    use crate::options::Options;
    use crate::{commands, events, tray, windows};

    /// Starts the engine and the desktop app; returns when the user chooses Quit.
    pub fn run() {
        postroom_engine::logging::init_server();
        let options = match Options::parse(std::env::args().skip(1)) {
            Ok(o) => o,
            // Asked for: the answer on standard output, and success.
            Err(answer @ (crate::options::OptionsError::Version | crate::options::OptionsError::Usage)) => {
                println!("{answer}");
                std::process::exit(0);
            }
            Err(message) => {
                eprintln!("postroom: {message}");
                std::process::exit(2);
            }
        };
        crate::memory::lean_webviews();
        let data_dir = postroom_engine::paths::DataDir::resolve(options.data_dir.as_deref());
        let listen = options.listen;
        let tray_only = options.tray;
        // The login item starts Postroom in the tray, with the data folder it was set up from.
        let mut login_args: Vec<&'static str> = vec!["--tray"];
        if let Some(dir) = &options.data_dir {
            login_args.push("--data-dir");
            login_args.push(Box::leak(dir.display().to_string().into_boxed_str()));
        }
        // The single-instance plugin runs first: a second launch focuses this one's window and exits
        // before it could trip over the data folder's lock.
        let app = tauri::Builder::default()
            .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| windows::open(app, crate::windows::WindowName::Main)))
            .plugin(tauri_plugin_autostart::init(tauri_plugin_autostart::MacosLauncher::LaunchAgent, Some(login_args)))
            .invoke_handler(commands::handler())
            .setup(move |app| {
                // A data folder without a database is a first start: the set-up wizard opens by itself
                // (still only while there are no users and no domains, see Engine::setup_start).
                let first_start = !data_dir.join("postroom.db").exists();
                let engine = match Engine::open(&data_dir, EngineOptions { listen }) {
                    Ok(engine) => engine,
                    Err(e) => {
                        fatal(&format!("Postroom cannot start: {}", e.message));
                        std::process::exit(1);
                    }
                };
                app.manage(engine.clone());
                events::forward(app.handle().clone(), &engine);
                tauri::async_runtime::spawn(async move { engine.start() });
                tray::create(app.handle())?;
                if !tray_only {
                    windows::open(app.handle(), crate::windows::WindowName::Main);
                    if first_start && engine_needs_setup(app.handle()) {
                        windows::open(app.handle(), crate::windows::WindowName::Setup);
                    }
                }
                windows::trim_while_open(app.handle().clone());
                quit_on_signal(app.handle().clone());
                Ok(())
            })
            .on_window_event(windows::on_event)
            .build(tauri::generate_context!("tauri.conf.json"))
            .expect("the Tauri application builds");
        app.run(|handle, event| {
            // Closing the last window keeps Postroom running in the tray; only Quit ends it.
            if let tauri::RunEvent::ExitRequested { api, code: None, .. } = event {
                api.prevent_exit();
            }
            let _ = handle;
        });
    }

    fn engine_needs_setup(app: &tauri::AppHandle) -> bool {
        app.state::<Engine>().setup_start().is_ok_and(|s| s.needed)
    }

    /// A message box for errors before any window exists.
    fn fatal(message: &str) {
        eprintln!("{message}");
        rfd::MessageDialog::new()
            .set_title("Postroom")
            .set_description(message)
            .set_level(rfd::MessageLevel::Error)
            .show();
    }

    /// SIGTERM or Ctrl+C (a logout, `kill`, a service manager) quits as gracefully as the tray's Quit.
    fn quit_on_signal(app: tauri::AppHandle) {
        tauri::async_runtime::spawn(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut term) = signal(SignalKind::terminate()) else { return };
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            quit(&app);
        });
    }

    /// Shuts the engine down gracefully, then leaves.
    pub fn quit(app: &tauri::AppHandle) {
        let engine = app.state::<Engine>().inner().clone();
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            engine.shutdown().await;
            app.exit(0);
        });
    }
}

#[cfg(feature = "desktop")]
pub(crate) use desktop::quit;
