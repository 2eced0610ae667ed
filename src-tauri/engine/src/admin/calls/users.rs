use crate::users::{BulkAddReport, UserDetail, UserForm, UserSummary};
use crate::web::account::MailProgramSettings;
use crate::engine::Engine;
use crate::error::ApiResult;

/// Every user, sorted by name, with aliases, message count and mailbox size.
pub fn list_users(e: &Engine) -> ApiResult<Vec<UserSummary>> {
    e.directory().list()
}

/// One user and their folders; `not_found` if there is no such user.
pub fn get_user(e: &Engine, name: String) -> ApiResult<UserDetail> {
    e.directory().get(&name)
}

/// Adds a user; `invalid` with fields `name`, `password`, `aliases`, `bandwidth`.
pub fn create_user(e: &Engine, form: UserForm) -> ApiResult<()> {
    e.directory().create(form)
}

/// Changes a user (the name in the form may differ: a rename); a null password keeps the stored one.
pub fn update_user(e: &Engine, name: String, form: UserForm) -> ApiResult<()> {
    e.directory().update(&name, form)
}

/// Deletes a user; their mailbox goes to the recycle bin.
pub fn delete_user(e: &Engine, name: String) -> ApiResult<()> {
    e.directory().delete(&name)
}

/// What the user types into a mail program: the address, login, and each encrypted IMAP, POP3 and SMTP way in with its port and security; `not_found` if there is no such user.
pub fn get_mail_program_settings(e: &Engine, name: String) -> ApiResult<MailProgramSettings> {
    e.mail_program_settings(&name)
}

/// Adds the users of a CSV text (name, password, real name), the desktop reads the file the admin picked and sends its text (a service reads no file a caller names).
pub fn bulk_add_users_csv(e: &Engine, csv: String) -> ApiResult<BulkAddReport> {
    e.directory().bulk_add(csv.as_bytes())
}

/// The user's Apple Mail profile (.mobileconfig) as text; `conflict` when no encrypted service is on, `not_found` if there is no such user.
pub fn get_mail_profile(e: &Engine, name: String) -> ApiResult<String> {
    e.mail_profile(&name)
}
