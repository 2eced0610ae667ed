//! Tauri commands: one file per window family, each a few lines over the engine API. Errors reach the UI
//! as the engine's `ApiError` (`{ code, message, field, fields }`). Work that may block (password hashing,
//! database writes) runs on the blocking pool, never on the UI thread.

mod bandwidth;
mod bans;
mod certificate;
mod diagnostics;
mod domains;
mod geoip;
mod overview;
mod queue;
mod services;
mod smtp;
mod users;

use postroom_engine::{ApiError, ApiResult, Engine};
use tauri::ipc::Invoke;
use tauri::{State, Wry};

pub fn handler() -> impl Fn(Invoke<Wry>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        overview::get_overview,
        overview::set_paused,
        overview::open_window,
        services::get_services,
        services::get_mailbox_access,
        services::save_services,
        users::list_users,
        users::get_user,
        users::create_user,
        users::update_user,
        users::delete_user,
        users::bulk_add_users,
        users::bulk_add_users_from,
        domains::list_domains,
        domains::add_domain,
        domains::delete_domain,
        certificate::get_certificate,
        certificate::pick_file,
        certificate::set_certificate,
        certificate::use_self_signed_certificate,
        smtp::get_smtp_settings,
        smtp::save_smtp_settings,
        smtp::get_outbound_settings,
        smtp::save_outbound_settings,
        queue::list_queue,
        queue::retry_queue_entry,
        queue::delete_queue_entry,
        bans::list_bans,
        bans::clear_ban,
        diagnostics::get_log_settings,
        diagnostics::save_log_settings,
        diagnostics::get_log_writer_stats,
        diagnostics::read_log,
        diagnostics::open_log_viewer,
        diagnostics::pick_folder,
        geoip::get_geoip_status,
        geoip::geoip_lookup,
        geoip::geoip_preview,
        geoip::start_geoip_import,
        geoip::pick_csv_file,
        geoip::get_access_settings,
        geoip::save_access_settings,
        bandwidth::get_bandwidth_settings,
        bandwidth::save_bandwidth_pools,
        bandwidth::get_bandwidth_live,
        bandwidth::get_bandwidth_script,
        bandwidth::save_bandwidth_script,
        bandwidth::check_bandwidth_script,
        bandwidth::test_bandwidth_script,
    ]
}

/// Runs `f` with the engine on the blocking thread pool.
async fn blocking<T, F>(engine: State<'_, Engine>, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Engine) -> ApiResult<T> + Send + 'static,
{
    let engine = engine.inner().clone();
    tauri::async_runtime::spawn_blocking(move || f(&engine))
        .await
        .map_err(|e| ApiError::internal(format!("the task failed: {e}")))?
}

/// Shows a native open-file dialog and returns the chosen path (`None` when cancelled).
///
/// rfd's GTK backend keeps a GTK thread of its own and posts the dialog to GLib's default main context,
/// which Tauri's main thread runs: so the dialog must be awaited from a worker, never from the main
/// thread (that would deadlock).
async fn pick_one_file(dialog: rfd::AsyncFileDialog) -> Option<String> {
    dialog.pick_file().await.map(|f| f.path().display().to_string())
}
