//! Name checks shared by settings and the directory: DNS domain names (the server name, local domains)
//! and mailbox names (users, aliases). A leaf: it knows no other module.

/// Why a domain or mailbox name was refused; the text is what the admin reads beside the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("enter a domain name")]
    NoDomain,
    #[error("enter a name")]
    NoName,
    #[error("at most {0} characters")]
    TooLong(usize),
    #[error("'{0}' is not a valid domain name")]
    BadDomain(String),
    #[error("'{0}' is not allowed (use letters, digits, . _ - +)")]
    BadCharacter(char),
    #[error("dots only between other characters")]
    BadDots,
}

/// A DNS domain name: labels of letters, digits and hyphens, separated by dots.
pub fn validate_domain(name: &str) -> Result<String, NameError> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return Err(NameError::NoDomain);
    }
    if name.len() > 253 {
        return Err(NameError::TooLong(253));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(NameError::BadDomain(name));
        }
    }
    Ok(name)
}

/// A mailbox name: 1–64 characters of letters, digits and `. _ - +`, not starting or ending with a dot.
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::NoName);
    }
    if name.len() > 64 {
        return Err(NameError::TooLong(64));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))) {
        return Err(NameError::BadCharacter(bad));
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return Err(NameError::BadDots);
    }
    Ok(())
}
