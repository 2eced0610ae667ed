//! Bulk add from a CSV file: `name,password,real name` per row (a header row is recognised and skipped).
//! Every bad row is reported with its line number and reason; every good row is added.

use std::path::Path;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{check_name, check_password, hash_password, insert_user, Directory, UserForm};
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CsvRowError {
    #[ts(type = "number")]
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, Default)]
pub struct BulkAddReport {
    pub added: Vec<String>,
    pub errors: Vec<CsvRowError>,
}

struct Row {
    line: u64,
    form: UserForm,
    hash: String,
}

impl Directory {
    pub fn bulk_add_file(&self, path: &Path) -> ApiResult<BulkAddReport> {
        if path.is_dir() {
            return Err(ApiError::io(format!("{} is a folder, not a CSV file", path.display())));
        }
        let bytes = std::fs::read(path).map_err(|e| ApiError::io(format!("cannot read {}: {e}", path.display())))?;
        self.bulk_add(&bytes)
    }

    /// Adds every valid row; rows are checked first, then all good ones are inserted in one transaction.
    pub fn bulk_add(&self, input: &[u8]) -> ApiResult<BulkAddReport> {
        let mut report = BulkAddReport::default();
        let rows = parse_rows(input, &mut report)?;
        let (added, errors) = self.store.write(move |c| {
            let mut added = Vec::new();
            let mut errors = Vec::new();
            for row in rows {
                match insert_user(c, &row.form, &row.hash)? {
                    Ok(_) => added.push(row.form.name),
                    Err(e) => errors.push(CsvRowError { line: row.line, message: e.message }),
                }
            }
            Ok((added, errors))
        })?;
        report.added = added;
        report.errors.extend(errors);
        report.errors.sort_by_key(|e| e.line);
        Ok(report)
    }
}

/// The 1-based line on which the byte at `offset` stands (counting LF, so CRLF files number right).
fn line_at(input: &[u8], offset: u64) -> u64 {
    let mut end = (offset as usize).min(input.len());
    // With CRLF, a record is reported from the LF that ends the line before it.
    while matches!(input.get(end), Some(b'\r' | b'\n')) {
        end += 1;
    }
    input[..end].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

fn parse_rows(input: &[u8], report: &mut BulkAddReport) -> ApiResult<Vec<Row>> {
    read_rows(input, &mut report.errors)
        .into_iter()
        .map(|(line, form)| Ok(Row { hash: hash_password(form.password.as_deref().unwrap_or_default())?, line, form }))
        .collect()
}

/// The good rows of a bulk-add file, each with its line, checked but not hashed or added; every bad row
/// goes to `errors`.
pub fn read_rows(input: &[u8], errors: &mut Vec<CsvRowError>) -> Vec<(u64, UserForm)> {
    let input = input.strip_prefix(b"\xef\xbb\xbf").unwrap_or(input);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(input);
    let mut rows: Vec<(u64, UserForm)> = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| line_at(input, p.byte())).unwrap_or(index as u64 + 1);
                errors.push(CsvRowError { line, message: format!("unreadable row: {e}") });
                continue;
            }
        };
        let line = record.position().map(|p| line_at(input, p.byte())).unwrap_or(index as u64 + 1);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if index == 0 && record.get(0).is_some_and(|f| f.eq_ignore_ascii_case("name")) {
            continue;
        }
        match check_row(&record, &rows) {
            Ok(form) => rows.push((line, form)),
            Err(why) => errors.push(CsvRowError { line, message: why.to_string() }),
        }
    }
    rows
}

/// Why one row of a bulk-add file was refused (the report lists it with its line; the other rows go on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum RowError {
    #[error("expected 2 or 3 columns (name, password, real name), found {0}")]
    Columns(usize),
    #[error("name '{name}': {why}")]
    Name { name: String, why: crate::names::NameError },
    #[error("password for '{name}': {why}")]
    Password { name: String, why: super::PasswordError },
    #[error("'{name}' already appears on line {line}")]
    Repeated { name: String, line: u64 },
}

fn check_row(record: &csv::StringRecord, earlier: &[(u64, UserForm)]) -> Result<UserForm, RowError> {
    if record.len() < 2 || record.len() > 3 {
        return Err(RowError::Columns(record.len()));
    }
    let name = record[0].to_string();
    check_name(&name).map_err(|why| RowError::Name { name: name.clone(), why })?;
    check_password(&record[1]).map_err(|why| RowError::Password { name: name.clone(), why })?;
    if let Some((line, _)) = earlier.iter().find(|(_, f)| f.name.eq_ignore_ascii_case(&name)) {
        return Err(RowError::Repeated { name, line: *line });
    }
    Ok(UserForm {
        name,
        real_name: record.get(2).unwrap_or("").to_string(),
        enabled: true,
        aliases: Vec::new(),
        password: Some(record[1].to_string()),
        bandwidth: 0,
    })
}
