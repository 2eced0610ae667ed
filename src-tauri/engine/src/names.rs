//! Name checks shared by settings and the directory: DNS domain names (the server name, local domains)
//! and mailbox names (users, aliases). A leaf: it knows no other module.

/// A DNS domain name: labels of letters, digits and hyphens, separated by dots.
pub fn validate_domain(name: &str) -> Result<String, String> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return Err("enter a domain name".into());
    }
    if name.len() > 253 {
        return Err("at most 253 characters".into());
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("'{name}' is not a valid domain name"));
        }
    }
    Ok(name)
}

/// A mailbox name: 1–64 characters of letters, digits and `. _ - +`, not starting or ending with a dot.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("enter a name".into());
    }
    if name.len() > 64 {
        return Err("at most 64 characters".into());
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))) {
        return Err(format!("'{bad}' is not allowed (use letters, digits, . _ - +)"));
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return Err("dots only between other characters".into());
    }
    Ok(())
}
