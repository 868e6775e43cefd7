//! Built-in roles. Platform roles are granted in the casbin domain `*` and apply to every
//! workspace; workspace roles are granted per workspace.
use std::{fmt, str::FromStr};

/// The casbin domain of platform-wide grants.
pub const PLATFORM_DOMAIN: &str = "*";

/// A built-in role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    PlatformAdmin,
    PlatformOperator,
    Owner,
    Manager,
    Operator,
    Auditor,
    Readonly,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::PlatformAdmin,
        Role::PlatformOperator,
        Role::Owner,
        Role::Manager,
        Role::Operator,
        Role::Auditor,
        Role::Readonly,
    ];

    /// The name used in casbin rules, the CLI and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::PlatformOperator => "platform_operator",
            Role::Owner => "owner",
            Role::Manager => "manager",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Readonly => "readonly",
        }
    }

    /// Platform roles live in the `*` domain only; workspace roles never do.
    pub fn is_platform(self) -> bool {
        matches!(self, Role::PlatformAdmin | Role::PlatformOperator)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?}; known roles: {}",
                    Role::ALL.map(Role::as_str).join(", ")
                )
            })
    }
}

/// The casbin subject of a user.
pub fn user_subject(email: &str) -> String {
    format!("user:{email}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_their_names() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
