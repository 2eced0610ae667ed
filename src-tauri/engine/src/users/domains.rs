//! Local domains: mail addressed to these is delivered to local users.

use rusqlite::{params, Connection};

use super::Directory;
use crate::names::validate_domain;
use crate::error::{ApiError, ApiResult};
use crate::store::{now, StoreResult};

/// Whether `name` (as stored: lower case, no final dot) is a local domain.
pub fn is_local_domain(c: &Connection, name: &str) -> StoreResult<bool> {
    Ok(c.query_row("SELECT EXISTS (SELECT 1 FROM domains WHERE name = ?1)", [name], |r| r.get(0))?)
}

impl Directory {
    pub fn domains(&self) -> ApiResult<Vec<String>> {
        Ok(self.store.read(|c| {
            let mut stmt = c.prepare_cached("SELECT name FROM domains ORDER BY name")?;
            let names = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(names)
        })?)
    }

    pub fn add_domain(&self, name: &str) -> ApiResult<String> {
        let name = validate_domain(name).map_err(|m| ApiError::field("name", m))?;
        let stored = name.clone();
        let added = self.store.write(move |c| {
            Ok(c.execute("INSERT OR IGNORE INTO domains(name, created_at) VALUES (?1, ?2)", params![stored, now()])?)
        })?;
        if added == 0 {
            return Err(ApiError::field("name", format!("{name} is already a local domain")));
        }
        Ok(name)
    }

    pub fn delete_domain(&self, name: &str) -> ApiResult<()> {
        let wanted = validate_domain(name).unwrap_or_else(|_| name.trim().to_string());
        let removed = self.store.write(move |c| Ok(c.execute("DELETE FROM domains WHERE name = ?1", [wanted])?))?;
        if removed == 0 {
            return Err(ApiError::not_found(format!("{name} is not a local domain")));
        }
        Ok(())
    }
}
