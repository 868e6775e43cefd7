//! Workspace and tenant rules: environments and input validation.
use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a workspace sits in the customer's delivery pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Environment {
    Production,
    Staging,
    Test,
    Development,
}

impl Environment {
    pub const ALL: [Environment; 4] = [
        Environment::Production,
        Environment::Staging,
        Environment::Test,
        Environment::Development,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "PRODUCTION",
            Environment::Staging => "STAGING",
            Environment::Test => "TEST",
            Environment::Development => "DEVELOPMENT",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Environment::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown environment {s:?}"))
    }
}

/// A validation failure: the input field (as named in the API) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Trims a display name and rejects empty or overlong ones.
pub fn validate_name(field: &'static str, name: &str) -> Result<String, Invalid> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > 200 {
        return Err(Invalid::new(field, "must be at most 200 characters"));
    }
    if trimmed.chars().any(|c| c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')) {
        return Err(Invalid::new(field, "must not contain control or invisible formatting characters"));
    }
    Ok(trimmed.to_string())
}

/// A slug is `[a-z0-9-]{2,63}`.
pub fn validate_slug(slug: &str) -> Result<String, Invalid> {
    let ok = (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(slug.to_string())
    } else {
        Err(Invalid::new(
            "slug",
            "must be 2 to 63 characters of lowercase letters, digits and '-'",
        ))
    }
}

/// An Entra tenant id is a GUID (with or without braces, any case).
pub fn parse_entra_tenant_id(value: &str) -> Result<Uuid, Invalid> {
    let v = value.trim();
    let v = v
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(v);
    // Only the hyphenated 8-4-4-4-12 form: Entra never writes GUIDs any other way.
    if v.len() != 36 {
        return Err(Invalid::new("entraTenantId", "must be a GUID"));
    }
    let id = Uuid::parse_str(v).map_err(|_| Invalid::new("entraTenantId", "must be a GUID"))?;
    if id.is_nil() {
        return Err(Invalid::new("entraTenantId", "must not be the nil GUID"));
    }
    Ok(id)
}

/// Normalises an e-mail address (the identity a user is known by).
pub fn normalize_email(field: &'static str, email: &str) -> Result<String, Invalid> {
    // ASCII case folding only: Unicode folding would merge distinct identities
    // (e.g. the Kelvin sign K into "k").
    let e = email.trim().to_ascii_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(e)
    } else {
        Err(Invalid::new(field, "must be an e-mail address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_documented_pattern() {
        for ok in ["ab", "contoso-prod", "a1", &"a".repeat(63)] {
            assert!(validate_slug(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "Contoso",
            "with space",
            "ümlaut",
            "under_score",
            &"a".repeat(64),
            "",
        ] {
            assert_eq!(validate_slug(bad).unwrap_err().field, "slug", "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_and_must_not_be_empty() {
        assert_eq!(validate_name("name", "  Contoso  ").unwrap(), "Contoso");
        assert!(validate_name("name", "   ").is_err());
        assert!(validate_name("name", "a\u{0}b").is_err());
    }

    #[test]
    fn entra_tenant_ids_must_be_guids() {
        let id = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        assert_eq!(parse_entra_tenant_id(id).unwrap().to_string(), id);
        assert!(parse_entra_tenant_id(&format!("{{{}}}", id.to_uppercase())).is_ok());
        for bad in [
            "",
            "contoso.onmicrosoft.com",
            "72f988bf86f141af91ab2d7cd011db47",
            "zzzzzzzz-86f1-41af-91ab-2d7cd011db47",
        ] {
            assert!(parse_entra_tenant_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_lowercased() {
        assert_eq!(
            normalize_email("userId", " Ann@Contoso.COM ").unwrap(),
            "ann@contoso.com"
        );
        assert!(normalize_email("userId", "nobody").is_err());
        assert!(normalize_email("userId", "a@b@c").is_err());
    }

    #[test]
    fn environments_round_trip() {
        for e in Environment::ALL {
            assert_eq!(e.as_str().parse::<Environment>().unwrap(), e);
        }
    }
}
