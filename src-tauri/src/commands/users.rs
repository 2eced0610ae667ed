use std::path::PathBuf;

use postroom_engine::users::{BulkAddReport, UserDetail, UserForm, UserSummary};
use postroom_engine::web::account::MailProgramSettings;
use postroom_engine::{ApiResult, Engine};
use tauri::State;

/// Every user, sorted by name, with aliases, message count and mailbox size.
#[tauri::command]
pub async fn list_users(engine: State<'_, Engine>) -> ApiResult<Vec<UserSummary>> {
    super::blocking(engine, |e| e.directory().list()).await
}

/// One user and their folders; `not_found` if there is no such user.
#[tauri::command]
pub async fn get_user(engine: State<'_, Engine>, name: String) -> ApiResult<UserDetail> {
    super::blocking(engine, move |e| e.directory().get(&name)).await
}

/// Adds a user; `invalid` with fields `name`, `password`, `aliases`, `bandwidth`.
#[tauri::command]
pub async fn create_user(engine: State<'_, Engine>, form: UserForm) -> ApiResult<()> {
    super::blocking(engine, move |e| e.directory().create(form)).await
}

/// Changes a user (the name in the form may differ: a rename); a null password keeps the stored one.
#[tauri::command]
pub async fn update_user(engine: State<'_, Engine>, name: String, form: UserForm) -> ApiResult<()> {
    super::blocking(engine, move |e| e.directory().update(&name, form)).await
}

/// Deletes a user; their mailbox goes to the recycle bin.
#[tauri::command]
pub async fn delete_user(engine: State<'_, Engine>, name: String) -> ApiResult<()> {
    super::blocking(engine, move |e| e.directory().delete(&name)).await
}

/// Asks for a CSV file with the native picker; null when the admin cancels.
#[tauri::command]
pub async fn bulk_add_users(engine: State<'_, Engine>) -> ApiResult<Option<BulkAddReport>> {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Bulk add users from a CSV file")
        .add_filter("CSV files (name, password, real name)", &["csv", "txt"])
        .add_filter("All files", &["*"]);
    let picked = super::pick_one_file(dialog).await;
    match picked {
        Some(path) => super::blocking(engine, move |e| e.directory().bulk_add_file(&PathBuf::from(path)).map(Some)).await,
        None => Ok(None),
    }
}

/// Adds the users listed in a CSV file (name, password, real name): the report lists those added and every refused row with its line.
#[tauri::command]
pub async fn bulk_add_users_from(engine: State<'_, Engine>, path: String) -> ApiResult<BulkAddReport> {
    super::blocking(engine, move |e| e.directory().bulk_add_file(&PathBuf::from(path))).await
}

/// What the user types into a mail program: the address, login, and each encrypted IMAP, POP3 and SMTP way in with its port and security; `not_found` if there is no such user.
#[tauri::command]
pub async fn get_mail_program_settings(engine: State<'_, Engine>, name: String) -> ApiResult<MailProgramSettings> {
    super::blocking(engine, move |e| e.mail_program_settings(&name)).await
}

/// Asks where to save the user's Apple Mail profile (.mobileconfig) with the native dialog and writes it there; the path written, or null when the admin cancels; `conflict` when no encrypted service is on.
#[tauri::command]
pub async fn save_mail_profile(engine: State<'_, Engine>, name: String) -> ApiResult<Option<String>> {
    let (profile, user) = {
        let n = name.clone();
        super::blocking(engine.clone(), move |e| Ok((e.mail_profile(&n)?, n))).await?
    };
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Save the Apple Mail profile")
        .set_file_name(format!("{user}.mobileconfig"))
        .add_filter("Apple configuration profiles", &["mobileconfig"]);
    let Some(file) = dialog.save_file().await else { return Ok(None) };
    let path = file.path().to_path_buf();
    std::fs::write(&path, profile).map_err(|e| postroom_engine::ApiError::io(format!("cannot write {}: {e}", path.display())))?;
    Ok(Some(path.display().to_string()))
}
