//! Evidence packs, the pure part: the manifest and what its signature covers, the Graph
//! permissions each contract needs, which exceptions belong in a period's register, and
//! the text encodings (CSV cells, HTML) a pack's files use.
//!
//! The signature covers the *canonical* manifest: the manifest object without its
//! `signature` member, keys sorted, no insignificant whitespace (see
//! [`crate::domain::canonical`]). Anyone can recompute those bytes from `manifest.json`
//! alone, so a pack can be verified offline with nothing but the signer's public key.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::canonical::canonical_json;

/// Path of the manifest inside a pack.
pub const MANIFEST_PATH: &str = "manifest.json";
/// Format tag written into every manifest.
pub const FORMAT: &str = "tenantatlas.evidence-pack/v1";
/// The only signature algorithm packs use.
pub const ALGORITHM: &str = "Ed25519";

/// One file of a pack, as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestFile {
    // In byte order of the JSON names: serialised compactly, this is canonical JSON.
    pub path: String,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub size: u64,
}

/// The signature block of a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestSignature {
    pub algorithm: String,
    /// Id of the signing key (`Query.evidenceSigningKeys`).
    pub key_id: String,
    /// The signer's public key, base64 (standard alphabet, padded). Informational: verify
    /// against a key obtained from TenantAtlas itself (`--public-key`) to prove who signed.
    pub public_key: String,
    /// Ed25519 signature over the canonical manifest, base64.
    pub value: String,
}

/// The bytes a manifest's signature covers: the manifest without `signature`, canonical.
pub fn signed_bytes(manifest: &Value) -> Vec<u8> {
    let mut unsigned = manifest.clone();
    if let Some(map) = unsigned.as_object_mut() {
        map.remove("signature");
    }
    canonical_json(&unsigned).into_bytes()
}

/// A key id derived from the public key: `ed25519-` and the first 16 hex digits of its
/// SHA-256, so the same key always has the same id.
pub fn key_id(public_key: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(public_key);
    format!("ed25519-{}", &hex::encode(digest)[..16])
}

/// Graph application permission an inventory read of `collection` needs.
pub fn required_permission(collection: &str) -> &'static str {
    match collection {
        c if c.starts_with("deviceAppManagement/") => "DeviceManagementApps.Read.All",
        "deviceManagement/deviceEnrollmentConfigurations"
        | "deviceManagement/windowsAutopilotDeploymentProfiles" => {
            "DeviceManagementServiceConfig.Read.All"
        }
        "deviceManagement/notificationMessageTemplates" | "deviceManagement/termsAndConditions" => {
            "DeviceManagementServiceConfig.Read.All"
        }
        _ => "DeviceManagementConfiguration.Read.All",
    }
}

/// Required versus granted permissions of one Graph connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionPosture {
    pub required: Vec<String>,
    pub granted: Vec<String>,
    pub missing: Vec<String>,
    /// Granted but not needed by any contract (least privilege).
    pub excess: Vec<String>,
}

/// Compares the permissions `collections` need with the `granted` token roles.
/// A `.ReadWrite.All` grant satisfies the matching `.Read.All` requirement.
pub fn permission_posture<'a>(
    collections: impl IntoIterator<Item = &'a str>,
    granted: &[String],
) -> PermissionPosture {
    let mut required: Vec<String> = collections
        .into_iter()
        .map(|c| required_permission(c).to_string())
        .collect();
    required.sort();
    required.dedup();
    let mut granted: Vec<String> = granted.to_vec();
    granted.sort();
    granted.dedup();
    let satisfies =
        |grant: &str, need: &str| grant == need || grant.replace(".ReadWrite.", ".Read.") == need;
    let missing = required
        .iter()
        .filter(|need| !granted.iter().any(|g| satisfies(g, need)))
        .cloned()
        .collect();
    let excess = granted
        .iter()
        .filter(|g| !required.iter().any(|need| satisfies(g, need)))
        .cloned()
        .collect();
    PermissionPosture {
        required,
        granted,
        missing,
        excess,
    }
}

/// Which sections of the register an exception belongs to for a period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterSection {
    /// In force at some time during the period.
    Active,
    Expired,
    Rejected,
    Revoked,
    /// Requested during the period and not decided yet.
    Pending,
}

impl RegisterSection {
    pub fn key(self) -> &'static str {
        match self {
            RegisterSection::Active => "active",
            RegisterSection::Expired => "expired",
            RegisterSection::Rejected => "rejected",
            RegisterSection::Revoked => "revoked",
            RegisterSection::Pending => "pending",
        }
    }
}

/// What classifying an exception needs to know.
#[derive(Clone, Debug)]
pub struct ExceptionFacts {
    pub status: String,
    pub requested_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    /// When it stopped being in force other than by expiry (revoked, superseded).
    pub ended_at: Option<DateTime<Utc>>,
}

/// The sections of `[start, end]` an exception belongs to (possibly several: one that
/// was in force and then expired in the period is both active and expired).
pub fn register_sections(
    e: &ExceptionFacts,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<RegisterSection> {
    let within = |t: DateTime<Utc>| t >= start && t <= end;
    let mut out = Vec::new();
    let was_approved = matches!(e.status.as_str(), "APPROVED" | "EXPIRED" | "REVOKED");
    if was_approved {
        if let Some(approved) = e.decided_at {
            let stop = e.ended_at.map_or(e.expires_at, |t| t.min(e.expires_at));
            if approved <= end && stop >= start {
                out.push(RegisterSection::Active);
            }
        }
    }
    match e.status.as_str() {
        "EXPIRED" if within(e.expires_at) => out.push(RegisterSection::Expired),
        "REJECTED" if e.decided_at.is_some_and(within) => out.push(RegisterSection::Rejected),
        "REVOKED" if e.ended_at.or(e.decided_at).is_some_and(within) => {
            out.push(RegisterSection::Revoked)
        }
        "PENDING" if e.requested_at <= end => out.push(RegisterSection::Pending),
        _ => {}
    }
    out
}

/// One CSV cell (RFC 4180): quoted when needed, and (numbers aside) a leading `=`, `+`,
/// `-`, `@`, tab or carriage return prefixed with `'` so spreadsheets never evaluate it as
/// a formula.
pub fn csv_cell(text: &str) -> String {
    let plain_number = text.parse::<f64>().is_ok_and(f64::is_finite)
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'));
    let defused = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n') if !plain_number => {
            format!("'{text}")
        }
        _ => text.to_string(),
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// One CSV line of cells, CRLF-terminated.
pub fn csv_line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut line = cells
        .iter()
        .map(|c| csv_cell(c.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// A JSON value as one CSV cell's text: strings bare, everything else as compact JSON.
pub fn json_cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A name usable as one path segment inside a pack: ASCII letters, digits, `-`, `_` and
/// `.` kept, everything else `-`, no leading dot, at most 80 characters.
pub fn path_segment(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(80)
        .collect();
    while out.starts_with('.') {
        out.replace_range(..1, "-");
    }
    if out.is_empty() {
        out.push('-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 0, 0, 0).unwrap()
    }

    #[test]
    fn the_signature_covers_everything_but_itself_in_canonical_form() {
        let a = json!({"files": [{"path": "a", "size": 1, "sha256": "00"}], "format": FORMAT,
                       "signature": {"value": "x"}});
        let b = json!({"format": FORMAT, "files": [{"sha256": "00", "size": 1, "path": "a"}]});
        assert_eq!(signed_bytes(&a), signed_bytes(&b));
        let c = json!({"format": FORMAT, "files": [{"sha256": "01", "size": 1, "path": "a"}]});
        assert_ne!(signed_bytes(&a), signed_bytes(&c));
    }

    #[test]
    fn key_ids_follow_the_key() {
        assert_eq!(key_id(&[1; 32]), key_id(&[1; 32]));
        assert_ne!(key_id(&[1; 32]), key_id(&[2; 32]));
        assert!(key_id(&[1; 32]).starts_with("ed25519-"));
        assert_eq!(key_id(&[1; 32]).len(), "ed25519-".len() + 16);
    }

    #[test]
    fn posture_lists_missing_and_excess_permissions() {
        let p = permission_posture(
            [
                "deviceManagement/configurationPolicies",
                "deviceAppManagement/iosManagedAppProtections",
            ],
            &[
                "DeviceManagementConfiguration.ReadWrite.All".into(),
                "User.Read.All".into(),
            ],
        );
        assert_eq!(
            p.required,
            vec![
                "DeviceManagementApps.Read.All",
                "DeviceManagementConfiguration.Read.All"
            ]
        );
        assert_eq!(p.missing, vec!["DeviceManagementApps.Read.All"]);
        assert_eq!(p.excess, vec!["User.Read.All"]);
    }

    #[test]
    fn register_sections_follow_the_period() {
        let approved = ExceptionFacts {
            status: "APPROVED".into(),
            requested_at: t(1),
            decided_at: Some(t(2)),
            expires_at: t(28),
            ended_at: None,
        };
        assert_eq!(
            register_sections(&approved, t(10), t(20)),
            vec![RegisterSection::Active]
        );
        // Approved after the period: not in it.
        assert!(register_sections(&approved, t(1), t(1)).is_empty());
        let expired = ExceptionFacts {
            status: "EXPIRED".into(),
            expires_at: t(15),
            ..approved.clone()
        };
        assert_eq!(
            register_sections(&expired, t(10), t(20)),
            vec![RegisterSection::Active, RegisterSection::Expired]
        );
        assert!(register_sections(&expired, t(16), t(20)).is_empty());
        let revoked = ExceptionFacts {
            status: "REVOKED".into(),
            ended_at: Some(t(12)),
            ..approved.clone()
        };
        assert_eq!(
            register_sections(&revoked, t(10), t(20)),
            vec![RegisterSection::Active, RegisterSection::Revoked]
        );
        let rejected = ExceptionFacts {
            status: "REJECTED".into(),
            ..approved.clone()
        };
        assert_eq!(
            register_sections(&rejected, t(1), t(3)),
            vec![RegisterSection::Rejected]
        );
        let pending = ExceptionFacts {
            status: "PENDING".into(),
            decided_at: None,
            ..approved
        };
        assert_eq!(
            register_sections(&pending, t(1), t(3)),
            vec![RegisterSection::Pending]
        );
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "-1");
        assert_eq!(csv_cell("-cmd"), "'-cmd");
        assert_eq!(csv_cell("-inf"), "'-inf");
        assert_eq!(csv_cell("+nan"), "'+nan");
        assert_eq!(csv_cell("-1.5e3"), "-1.5e3");
        assert_eq!(csv_line(&["a", "b\nc"]), "a,\"b\nc\"\r\n");
        assert_eq!(json_cell(Some(&json!(12))), "12");
        assert_eq!(json_cell(Some(&json!("x"))), "x");
        assert_eq!(json_cell(None), "");
    }

    #[test]
    fn html_and_paths_are_made_safe() {
        assert_eq!(
            html_escape("<script>\"'&"),
            "&lt;script&gt;&quot;&#39;&amp;"
        );
        assert_eq!(path_segment("../etc/passwd"), "-.-etc-passwd");
        assert_eq!(path_segment(".."), "-.");
        assert_eq!(path_segment("Northwind Retail"), "Northwind-Retail");
        assert_eq!(path_segment(""), "-");
        assert_eq!(path_segment(&"x".repeat(200)).len(), 80);
    }
}
