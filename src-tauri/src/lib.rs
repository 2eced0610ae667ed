//! The Postroom desktop shell: runs the engine in-process, keeps an icon in the system tray and opens the
//! settings windows. Thin by design: every command is a few lines over the engine's public API
//! (`postroom_engine::Engine`), and the windows are the web front end in `ui/`.
//!
//! Without the `desktop` feature this crate builds nothing but the library's options parser, so that
//! `cargo test --no-default-features` needs no webkit.

pub mod options;

#[cfg(feature = "desktop")]
mod backend;
#[cfg(feature = "desktop")]
mod commands;
#[cfg(feature = "desktop")]
mod events;
#[cfg(feature = "desktop")]
mod memory;
#[cfg(feature = "desktop")]
mod tray;
#[cfg(feature = "desktop")]
mod windows;

#[cfg(feature = "desktop")]
pub use desktop::run;

#[cfg(feature = "desktop")]
mod desktop {
    use postroom_engine::admin::client::AdminClient;
    use postroom_engine::setup::SetupStart;
    use postroom_engine::{Engine, EngineOptions};
    use tauri::Manager;

    use crate::backend::Backend;
    use crate::options::Options;
    use crate::{commands, events, tray, windows};

    /// In the AppImage's layout (`…/usr/bin/postroom` beside its own copy of libwebkit2gtk, which starts
    /// WebKit's helper processes by a path relative to the working folder: scripts/appimage.sh), work
    /// from `…/usr` whoever started this program and from where, so that no other folder's programs are
    /// ever started as WebKit's; relative paths on the command line are taken from where the user was
    /// (`OWD`, which the AppImage's AppRun sets, or the working folder before the change).
    fn work_from_appimage(options: &mut Options) {
        let Some(usr) = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf())) else { return };
        if !usr.join("lib/libwebkit2gtk-4.1.so.0").is_file() || !usr.join("lib/x86_64-linux-gnu/webkit2gtk-4.1/WebKitWebProcess").is_file() {
            return;
        }
        let owd = std::env::var_os("APPIMAGE").and(std::env::var_os("OWD")).map(std::path::PathBuf::from);
        if let Some(started_in) = owd.or_else(|| std::env::current_dir().ok()) {
            options.resolve_from(&started_in);
        }
        if let Err(e) = std::env::set_current_dir(&usr) {
            eprintln!("postroom: cannot work from {}: {e}", usr.display());
            std::process::exit(1);
        }
    }

    /// Starts the engine (or attaches to the one serving already) and the desktop app; returns when the
    /// user chooses Quit.
    pub fn run() {
        // tauri_utils warns whenever APPIMAGE is set and the program does not run from a FUSE mount under
        // /tmp; Postroom's AppImage runtime unpacks instead of mounting, by design (src-tauri/appimage).
        postroom_engine::logging::init_server_quieting(&["tauri_utils"]);
        let mut options = match Options::parse(std::env::args().skip(1)) {
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
        work_from_appimage(&mut options);
        crate::memory::lean_webviews();
        let tray_only = options.tray;
        // The login item starts Postroom in the tray, with the data folder it was set up from.
        let mut login_args: Vec<&'static str> = vec!["--tray"];
        if let Some(dir) = &options.data_dir {
            login_args.push("--data-dir");
            login_args.push(Box::leak(dir.display().to_string().into_boxed_str()));
        }
        if let Some(socket) = &options.attach {
            login_args.push("--attach");
            login_args.push(Box::leak(socket.display().to_string().into_boxed_str()));
        }
        // The single-instance plugin runs first: a second launch focuses this one's window and exits
        // before it could trip over the data folder's lock.
        let app = tauri::Builder::default()
            .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
                // Not while this instance is only saying why it cannot start (it has no engine).
                if app.try_state::<Backend>().is_some() {
                    windows::open(app, crate::windows::WindowName::Main);
                }
            }))
            .plugin(tauri_plugin_autostart::init(tauri_plugin_autostart::MacosLauncher::LaunchAgent, Some(login_args)))
            .invoke_handler(commands::handler())
            .setup(move |app| {
                app.manage(commands::service::OwnFolder(postroom_engine::paths::DataDir::resolve(options.data_dir.as_deref())));
                let (backend, first_start) = match connect(options) {
                    Ok(found) => found,
                    Err(message) => {
                        fatal(format!("Postroom cannot start: {message}"));
                        return Ok(());
                    }
                };
                app.manage(backend.clone());
                events::forward(app.handle().clone(), &backend);
                if let Some(engine) = backend.engine() {
                    let engine = engine.clone();
                    tauri::async_runtime::spawn(async move { engine.start() });
                }
                tray::create(app.handle(), &backend)?;
                if !tray_only {
                    windows::open(app.handle(), crate::windows::WindowName::Main);
                    // A first start (no database before, or an attached service without users or
                    // domains): the set-up wizard opens by itself (see Engine::setup_start).
                    if first_start && setup_needed(&backend) {
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

    /// The engine the windows will use, and whether this is a first start:
    /// - `--attach SOCKET`: the engine answering there, or an error;
    /// - no `--data-dir` and the system service's socket there: that service (or an error saying why it
    ///   cannot be used: never a second engine beside it, competing for its ports);
    /// - else the data folder's own engine, opened here; if another process serves the folder already
    ///   (its lock is held), that process's engine through the admin socket in the folder, or the
    ///   service's when it is the service that serves this folder.
    fn connect(options: Options) -> Result<(Backend, bool), String> {
        use postroom_engine::admin::server::{default_path, SERVICE_SOCKET};
        let attach = |socket: &std::path::Path| tauri::async_runtime::block_on(AdminClient::connect(socket));
        if let Some(socket) = &options.attach {
            let (client, link) = attach(socket).map_err(|e| e.message)?;
            return Ok((Backend::remote(client, link), true));
        }
        let service = std::path::Path::new(SERVICE_SOCKET);
        #[cfg(windows)]
        if options.data_dir.is_none() && postroom_engine::service::status().active {
            // A named pipe is no file to look at: the Service Control Manager says whether the service runs.
            let (client, link) = attach(service).map_err(|e| {
                format!(
                    "the mail server runs as the system service, but {}. Only administrators and the accounts it was turned on for may manage it: an administrator adds you with `postroomd service enable --admin YOUR-NAME` (in a command prompt opened with \"Run as administrator\"). {SERVICE_HINT}",
                    e.message
                )
            })?;
            return Ok((Backend::remote(client, link), true));
        }
        #[cfg(unix)]
        if options.data_dir.is_none() {
            match std::fs::symlink_metadata(service) {
                Ok(_) => {
                    let (client, link) = attach(service)
                        .map_err(|e| format!("the mail server runs as the system service, but {}. {SERVICE_HINT}", e.message))?;
                    return Ok((Backend::remote(client, link), true));
                }
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(format!(
                        "the mail server runs as the system service, and only members of the postroom group may manage it ({SERVICE_SOCKET}: {e}). Join it with `sudo adduser $USER postroom`."
                    ));
                }
                Err(_) => {}
            }
        }
        let data_dir = postroom_engine::paths::DataDir::resolve(options.data_dir.as_deref());
        // Its mail moved to the system service (the switch, or `postroomd service enable --from`).
        if let Some(moved) = postroom_engine::paths::moved(&data_dir).filter(|m| m.by == "service") {
            let (client, link) = attach(service).map_err(|e| {
                format!("{}; but the service does not answer ({}). {SERVICE_HINT}", postroom_engine::paths::moved_message(&data_dir, &moved), e.message)
            })?;
            return Ok((Backend::remote(client, link), false));
        }
        let first_start = !data_dir.join("postroom.db").exists();
        match Engine::open(&data_dir, EngineOptions { listen: options.listen }) {
            Ok(engine) => Ok((Backend::local(engine), first_start)),
            Err(e) if e.code == postroom_engine::error::ErrorCode::Conflict => {
                let own = attach(&default_path(&data_dir));
                let found = match own {
                    Ok(found) => Ok(found),
                    // The system service keeps its socket elsewhere: it is the one if it says it serves this folder.
                    Err(first) => match attach(service) {
                        Ok((client, link)) if same_folder(&link.data_dir, &data_dir) => Ok((client, link)),
                        _ => Err(first),
                    },
                };
                match found {
                    Ok((client, link)) => Ok((Backend::remote(client, link), false)),
                    Err(attach) => Err(format!("{} and it cannot be reached: {}", e.message, attach.message)),
                }
            }
            Err(e) => Err(e.message),
        }
    }

    /// Where to look when the system service does not answer.
    #[cfg(unix)]
    const SERVICE_HINT: &str = "See `systemctl status postroomd`.";
    #[cfg(windows)]
    const SERVICE_HINT: &str = "See \"Postroom mail server\" in Services (services.msc), and its log in %ProgramData%\\Postroom\\logs.";

    /// Whether the engine has no users and no domains yet (asked at most 10 s).
    fn setup_needed(backend: &Backend) -> bool {
        let asked = backend.call_as::<SetupStart>("get_setup_start", serde_json::Value::Null);
        // The timer is made inside the runtime (block_on's future), not on this thread.
        tauri::async_runtime::block_on(async { tokio::time::timeout(std::time::Duration::from_secs(10), asked).await })
            .is_ok_and(|s| s.is_ok_and(|s| s.needed))
    }

    fn same_folder(a: &str, b: &std::path::Path) -> bool {
        let canonical = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        canonical(std::path::Path::new(a)) == canonical(b)
    }

    /// Says why Postroom cannot start (standard error, and a message box), then exits with status 1.
    /// Called from `setup`, on the main thread that runs GTK's loop: the box is awaited on a worker, as
    /// `pick_one_file` explains (shown from the main thread it would wait forever).
    fn fatal(message: String) {
        eprintln!("{message}");
        tauri::async_runtime::spawn(async move {
            rfd::AsyncMessageDialog::new()
                .set_title("Postroom")
                .set_description(message)
                .set_level(rfd::MessageLevel::Error)
                .show()
                .await;
            std::process::exit(1);
        });
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

    /// Shuts this app's engine down gracefully, then leaves (an attached service keeps running).
    pub fn quit(app: &tauri::AppHandle) {
        let engine = app.state::<Backend>().engine().cloned();
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            if let Some(engine) = engine {
                engine.shutdown().await;
            }
            app.exit(0);
        });
    }
}

#[cfg(feature = "desktop")]
pub(crate) use desktop::quit;
