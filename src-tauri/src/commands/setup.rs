use postroom_engine::error::FieldError;
use postroom_engine::setup::{CsvUsers, NameLookup, SetupDone, SetupPage, SetupPlan, SetupStart};
use postroom_engine::{ApiError, ApiResult, Engine};
use tauri::State;

/// Whether the first-run wizard is needed (no users and no local domains) and the plan it starts from (today's settings).
#[tauri::command]
pub async fn get_setup_start(engine: State<'_, Engine>) -> ApiResult<SetupStart> {
    super::blocking(engine, |e| e.setup_start()).await
}

/// The problems on one page of the wizard, each with its field (`users.N.name`, `smart_host`, …); empty when the page is good. Nothing is saved.
#[tauri::command]
pub async fn check_setup(engine: State<'_, Engine>, plan: SetupPlan, page: SetupPage) -> ApiResult<Vec<FieldError>> {
    super::blocking(engine, move |e| e.check_setup(&plan, Some(page))).await
}

/// Applies the whole plan (settings, domains, users; `invalid` with every problem and nothing changed when a page is wrong), then the DNS records to publish and each user's mail program settings.
#[tauri::command]
pub async fn finish_setup(engine: State<'_, Engine>, plan: SetupPlan) -> ApiResult<SetupDone> {
    let engine = engine.inner().clone();
    engine.finish_setup(plan).await
}

/// Connects to the plan's smart host as delivery would (TLS, certificate check, login) and says QUIT: what happened, or `io` with why it failed. Nothing is saved or sent.
#[tauri::command]
pub async fn test_smart_host(engine: State<'_, Engine>, plan: SetupPlan) -> ApiResult<String> {
    let engine = engine.inner().clone();
    engine.try_smart_host(&plan).await
}

/// What the DNS (through the server's resolver) says a host name's addresses are.
#[tauri::command]
pub async fn look_up_server_name(engine: State<'_, Engine>, name: String) -> ApiResult<NameLookup> {
    let engine = engine.inner().clone();
    Ok(engine.look_up_name(&name).await)
}

/// Asks for a CSV file (name, password, real name) with the native picker and reads its users for the wizard's list, adding nobody; null when the admin cancels.
#[tauri::command]
pub async fn read_users_csv() -> ApiResult<Option<CsvUsers>> {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Users from a CSV file")
        .add_filter("CSV files (name, password, real name)", &["csv", "txt"])
        .add_filter("All files", &["*"]);
    match super::pick_one_file(dialog).await {
        Some(path) => read_users_csv_from(path).await.map(Some),
        None => Ok(None),
    }
}

/// Reads the users of a CSV file (name, password, real name) for the wizard's list, adding nobody; every refused row is listed with its line.
#[tauri::command]
pub async fn read_users_csv_from(path: String) -> ApiResult<CsvUsers> {
    let bytes = tauri::async_runtime::spawn_blocking(move || {
        use std::io::Read;
        let file = std::fs::File::open(&path).map_err(|e| ApiError::io(format!("cannot read {path}: {e}")))?;
        let mut bytes = Vec::new();
        // A list of an office's users is a few KB; anything over the bound is not such a list.
        file.take(MAX_CSV + 1).read_to_end(&mut bytes).map_err(|e| ApiError::io(format!("cannot read {path}: {e}")))?;
        if bytes.len() as u64 > MAX_CSV {
            return Err(ApiError::io(format!("{path} is larger than {} MB: not a list of users", MAX_CSV >> 20)));
        }
        Ok(bytes)
    })
    .await
    .map_err(|e| ApiError::internal(format!("the task failed: {e}")))??;
    Ok(postroom_engine::setup::read_csv(&bytes))
}

/// The largest users file the wizard reads.
const MAX_CSV: u64 = 4 << 20;
