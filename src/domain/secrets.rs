//! Secret classification and redaction of policy payloads.
//!
//! The schema (which properties of which Graph types hold secrets) comes first; a pattern
//! detector covers what the schema does not (free text, decoded scripts and profiles,
//! unknown types). A redacted value becomes a marker object
//! `{"@redacted": true, "classification", "source", "fingerprint"}` whose fingerprint is an
//! HMAC-SHA256 of the value under a per-deployment key, so a changed secret is noticed
//! without keeping it. Secrets found inside a longer text (a description, a decoded script
//! or profile) are replaced in place by `[REDACTED:<classification>:<fingerprint>]`, so the
//! rest stays readable; base64 content is decoded, redacted and encoded again.
use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The key of a marker object.
pub const MARKER_KEY: &str = "@redacted";

/// How a secret was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Source {
    /// The contract registry says this property holds a secret.
    Schema,
    /// The pattern detector recognised a secret.
    Pattern,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Schema => "SCHEMA",
            Source::Pattern => "PATTERN",
        }
    }
}

/// Where a secret sits in a payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretField {
    /// Property path: dotted names; array entries by `omaUri`, settings catalog definition
    /// id, or index.
    pub path: String,
    pub classification: String,
    /// `SCHEMA` or `PATTERN`.
    pub source: String,
    /// `hmac-sha256:…` of the value; none when the source had already masked it.
    pub fingerprint: Option<String>,
    /// The export held a placeholder (`****`, `PGEvPg==`), not the value.
    pub masked_at_source: bool,
}

/// HMAC-SHA256 under the deployment's fingerprint key.
#[derive(Clone)]
pub struct Fingerprinter {
    key: [u8; 64],
}

impl std::fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprinter(..)")
    }
}

impl Fingerprinter {
    pub fn new(key: &[u8]) -> Self {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        Self { key: block }
    }

    /// HMAC-SHA256 (RFC 2104) of `data`, as hex.
    pub fn hmac_hex(&self, data: &[u8]) -> String {
        let mut inner = Sha256::new();
        inner.update(self.key.map(|b| b ^ 0x36));
        inner.update(data);
        let mut outer = Sha256::new();
        outer.update(self.key.map(|b| b ^ 0x5c));
        outer.update(inner.finalize());
        hex::encode(outer.finalize())
    }

    /// `hmac-sha256:` + hex.
    pub fn fingerprint(&self, value: &str) -> String {
        format!("hmac-sha256:{}", self.hmac_hex(value.as_bytes()))
    }
}

/// Whether `v` is a marker object left by redaction.
pub fn is_marker(v: &Value) -> bool {
    v.get(MARKER_KEY).and_then(Value::as_bool) == Some(true)
}

/// Placeholders Graph returns instead of a secret.
fn is_masked(s: &str) -> bool {
    let t = s.trim();
    (!t.is_empty() && t.bytes().all(|b| b == b'*')) || t == "PGEvPg==" || t == "<a/>"
}

fn bare_type(map: &Map<String, Value>) -> &str {
    map.get("@odata.type")
        .and_then(Value::as_str)
        .map(|t| {
            t.trim_start_matches('#')
                .trim_start_matches("microsoft.graph.")
        })
        .unwrap_or("")
}

/// What the schema says about a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// The whole value is a secret.
    Whole(&'static str),
    /// Base64 content: decoded, scanned and redacted inside.
    Base64,
}

/// Properties that hold secrets, by name and the `@odata.type` of the object holding them
/// (`None`: any type). Checked in order.
const FIELD_RULES: &[(&str, Option<&[&str]>, Rule)] = &[
    ("preSharedKey", None, Rule::Whole("wifi.pre_shared_key")),
    (
        "payload",
        Some(&[
            "windows81WifiImportConfiguration",
            "windowsWifiConfiguration",
        ]),
        Rule::Whole("wifi.import_payload"),
    ),
    ("sharedSecret", None, Rule::Whole("vpn.shared_secret")),
    ("eapXml", None, Rule::Whole("vpn.eap_xml")),
    (
        "advancedThreatProtectionOnboardingBlob",
        None,
        Rule::Whole("defender.onboarding_blob"),
    ),
    (
        "advancedThreatProtectionOffboardingBlob",
        None,
        Rule::Whole("defender.offboarding_blob"),
    ),
    (
        "onboardingBlob",
        None,
        Rule::Whole("defender.onboarding_blob"),
    ),
    (
        "offboardingBlob",
        None,
        Rule::Whole("defender.offboarding_blob"),
    ),
    ("productKey", None, Rule::Whole("license.product_key")),
    (
        "token",
        Some(&["iosVppToken", "vppToken"]),
        Rule::Whole("apple.vpp_token"),
    ),
    (
        "certificate",
        Some(&["applePushNotificationCertificate"]),
        Rule::Whole("apple.apns_certificate"),
    ),
    (
        "encryptedPfxBlob",
        None,
        Rule::Whole("certificate.pfx_blob"),
    ),
    (
        "encryptedPfxPassword",
        None,
        Rule::Whole("certificate.pfx_password"),
    ),
    (
        "activationLockBypassCode",
        None,
        Rule::Whole("apple.activation_lock_bypass_code"),
    ),
    ("scriptContent", None, Rule::Base64),
    ("encodedSettingXml", None, Rule::Base64),
    ("payloadJson", None, Rule::Base64),
    ("customXml", None, Rule::Base64),
    ("configurationXml", None, Rule::Base64),
    ("detectionScriptContent", None, Rule::Base64),
    ("remediationScriptContent", None, Rule::Base64),
    (
        "payload",
        Some(&["iosCustomConfiguration", "macOSCustomConfiguration"]),
        Rule::Base64,
    ),
];

/// The `@odata.type`s the rules name, so a walk keeps a `&'static str` of an object's type
/// rather than a copy.
const KNOWN_TYPES: &[&str] = &[
    "windows81WifiImportConfiguration",
    "windowsWifiConfiguration",
    "iosVppToken",
    "vppToken",
    "applePushNotificationCertificate",
    "iosCustomConfiguration",
    "macOSCustomConfiguration",
    "deviceManagementConfigurationSecretSettingValue",
    "omaSettingString",
    "omaSettingStringXml",
    "omaSettingBase64",
];

fn known_type(t: &str) -> Option<&'static str> {
    KNOWN_TYPES
        .iter()
        .copied()
        .find(|k| k.eq_ignore_ascii_case(t))
}

fn field_rule(key: &str, odata_type: &str) -> Option<Rule> {
    FIELD_RULES
        .iter()
        .find(|(name, types, _)| {
            *name == key
                && types.is_none_or(|ts| ts.iter().any(|t| t.eq_ignore_ascii_case(odata_type)))
        })
        .map(|(_, _, rule)| *rule)
}

/// OMA-URI nodes whose string values are secrets (matched at the end of the URI, ignoring
/// case).
const SECRET_OMA_NODES: &[&str] = &[
    "/wlanxml",
    "/password",
    "/presharedkey",
    "/sharedsecret",
    "/clientsecret",
    "/eapxml",
    "/productkey",
    "/upgradeeditionwithproductkey",
    "/onboarding",
    "/offboarding",
    "/onboardinginfo",
    "/offboardinginfo",
    "/keymaterial",
    "/pin",
];

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// Property names whose string values are secrets whatever the type (matched at the end
/// of the name, ignoring case): `wifiPassword`, `clientSecret`, `apiKey`…
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "passphrase",
    "apikey",
    "accesstoken",
    "refreshtoken",
    "sharedkey",
    "privatekey",
    "keymaterial",
    "networkkey",
    "wifikey",
    "psk",
    "pskvalue",
    "bypasscode",
];

/// Whether a property name ends with a secret-like word (a cheap last-letter test first).
fn secret_name(key: &str) -> bool {
    matches!(
        key.as_bytes().last().map(u8::to_ascii_lowercase),
        Some(b'd' | b't' | b'e' | b'y' | b'n' | b'l' | b'k')
    ) && SECRET_NAMES.iter().any(|n| ends_with_ignore_case(key, n))
}

/// A value that only names an option (`notConfigured`, `required`), not a secret.
fn is_enum_like(s: &str) -> bool {
    const OPTIONS: &[&str] = &[
        "none",
        "required",
        "optional",
        "enabled",
        "disabled",
        "default",
        "allow",
        "block",
        "true",
        "false",
        "yes",
        "no",
        "notconfigured",
        "userdefined",
        "devicedefault",
        "alphanumeric",
        "numeric",
    ];
    let camel = s.len() <= 40
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric())
        && s.chars().any(|c| c.is_ascii_uppercase());
    camel || OPTIONS.iter().any(|o| o.eq_ignore_ascii_case(s))
}

/// One secret found in a text, by byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub start: usize,
    pub end: usize,
    pub classification: &'static str,
}

/// Names (ends of identifiers, ignoring case) whose assigned value is a secret.
const ASSIGNED_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "passphrase",
    "apikey",
    "api_key",
    "api-key",
    "token",
    "accountkey",
    "sharedaccesskey",
    "accesskey",
    "sig",
    "pw",
    "pass",
    "psk",
];

/// XML elements (and plist keys) whose content is a secret.
const SECRET_ELEMENTS: &[&str] = &[
    "password",
    "passwd",
    "keymaterial",
    "sharedkey",
    "presharedkey",
    "secret",
    "clientsecret",
    "passphrase",
];

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'-' | b'.')
}

fn plausible_value(v: &str) -> bool {
    let t = v.trim();
    t.len() >= 3
        && !is_masked(t)
        && !matches!(
            t.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "none" | "yes" | "no" | "required" | "optional"
        )
}

/// An unquoted value: also not a variable, an expression, a URL, a plain word
/// (`Password: Alphanumeric`, `# password: see vault`) or a cmdlet (`Read-Host`).
fn plausible_bare_value(v: &str) -> bool {
    let t = v.trim();
    let word = {
        let mut chars = t.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_lowercase())
    };
    let cmdlet = t.split_once('-').is_some_and(|(a, b)| {
        a.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && a.chars().all(|c| c.is_ascii_alphabetic())
            && b.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && b.chars().all(|c| c.is_ascii_alphabetic())
    });
    plausible_value(t)
        && !t.starts_with(['$', '%', '{', '(', '['])
        && !t.starts_with("http")
        && !word
        && !cmdlet
}

/// A quoted value: anything but a lone variable reference (`"$env:X"`, `"$(…)"`).
fn plausible_quoted_value(v: &str) -> bool {
    let variable = v.starts_with("$(")
        || (v.starts_with('$')
            && v[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'));
    plausible_value(v) && !variable
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn value_end(b: &u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\r'
            | b'\n'
            | b';'
            | b'&'
            | b','
            | b'"'
            | b'\''
            | b'<'
            | b'>'
            | b')'
            | b'|'
    )
}

/// The quoted literal or bare token starting at `from` (after spaces and tabs), as a
/// hit when it is a plausible secret.
fn value_at(text: &str, from: usize) -> Option<Hit> {
    let bytes = text.as_bytes();
    let mut v = from;
    while v < bytes.len() && matches!(bytes[v], b' ' | b'\t') {
        v += 1;
    }
    match bytes.get(v) {
        Some(q @ (b'"' | b'\'')) => {
            let close = text[v + 1..].find(*q as char)? + v + 1;
            plausible_quoted_value(&text[v + 1..close]).then_some(Hit {
                start: v + 1,
                end: close,
                classification: "pattern.password_assignment",
            })
        }
        Some(_) => {
            let n = bytes[v..].iter().take_while(|b| !value_end(b)).count();
            plausible_bare_value(&text[v..v + n]).then_some(Hit {
                start: v,
                end: v + n,
                classification: "pattern.password_assignment",
            })
        }
        None => None,
    }
}

/// The line around byte `at`.
fn line_of(text: &str, at: usize) -> (usize, usize) {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    (start, end)
}

fn secret_word(name: &str) -> bool {
    ASSIGNED_NAMES
        .iter()
        .chain(SECRET_ELEMENTS)
        .any(|w| ends_with_ignore_case(name, w))
}

/// Command-line parameters that carry secrets: `-Password x`, `-AccountPassword 'x'`,
/// `dscl . -passwd /Users/u x`, `security add-generic-password … -w x`, `curl -u user:x`,
/// `reg add … /v DefaultPassword … /d x`, `Set-ItemProperty -Name DefaultPassword -Value x`.
fn parameter(text: &str, i: usize) -> Option<Hit> {
    let bytes = text.as_bytes();
    if i > 0 && !matches!(bytes[i - 1], b' ' | b'\t') {
        return None;
    }
    let dashes = if bytes[i] == b'-' {
        run_len(bytes, i, |b| b == b'-')
    } else {
        1
    };
    let n = run_len(bytes, i + dashes, |b| {
        b.is_ascii_alphanumeric() || b == b'_'
    });
    if n == 0 || dashes > 2 {
        return None;
    }
    let name = &text[i + dashes..i + dashes + n];
    let after = i + dashes + n;
    let (ls, le) = line_of(text, i);
    let line = text[ls..le].to_ascii_lowercase();
    let within = |hit: Option<Hit>| hit.filter(|h| h.start >= after && h.end <= le);
    if bytes[i] == b'/' {
        // reg add KEY /v NAME /t REG_SZ /d VALUE
        if name.eq_ignore_ascii_case("d") && line.contains("reg") {
            let v = line.find(" /v ")?;
            let vname = line[v + 4..].split_whitespace().next().unwrap_or("");
            if secret_word(vname.trim_matches('"')) {
                return within(value_at(text, after));
            }
        }
        return None;
    }
    if name.eq_ignore_ascii_case("u") || name.eq_ignore_ascii_case("user") {
        // curl -u user:password
        let mut v = after;
        while v < bytes.len() && matches!(bytes[v], b' ' | b'\t') {
            v += 1;
        }
        let quoted = matches!(bytes.get(v), Some(b'"' | b'\''));
        let start = if quoted { v + 1 } else { v };
        let len = run_len(bytes, start, |b| !value_end(&b));
        let token = &text[start..start + len];
        let colon = token.find(':')?;
        return (colon + 1 < token.len() && start + len <= le).then_some(Hit {
            start: start + colon + 1,
            end: start + len,
            classification: "pattern.password_assignment",
        });
    }
    if name.eq_ignore_ascii_case("w")
        && (line.contains("generic-password") || line.contains("internet-password"))
    {
        return within(value_at(text, after));
    }
    if name.eq_ignore_ascii_case("value") {
        // Set-ItemProperty -Name DefaultPassword -Value x
        let v = line.find("-name ")?;
        let pname = line[v + 6..]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_matches(['"', '\'']);
        return if secret_word(pname) {
            within(value_at(text, after))
        } else {
            None
        };
    }
    if !secret_word(name) {
        return None;
    }
    if name.eq_ignore_ascii_case("passwd") && line.contains("dscl") {
        // dscl . -passwd /Users/name NEW
        let rest = &text[after..le];
        let user = rest.trim_start();
        if user.starts_with("/Users/") {
            let skip = rest.len() - user.len() + user.find([' ', '\t']).unwrap_or(user.len());
            return within(value_at(text, after + skip));
        }
    }
    within(value_at(text, after))
}

/// `ConvertTo-SecureString [-String] "x" -AsPlainText`.
fn secure_string(text: &str, from: usize) -> Option<Hit> {
    let rest = &text[from..];
    let trimmed = rest.trim_start();
    let mut at = from + rest.len() - trimmed.len();
    if starts_with_ignore_case(trimmed.as_bytes(), b"-string ") {
        at += 8;
    }
    value_at(text, at)
}

/// `net user NAME PASSWORD`.
fn net_user(text: &str, from: usize) -> Option<Hit> {
    let bytes = text.as_bytes();
    let mut v = from;
    while v < bytes.len() && bytes[v] == b' ' {
        v += 1;
    }
    let name = run_len(bytes, v, |b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    if name == 0 {
        return None;
    }
    value_at(text, v + name).filter(|h| !text[h.start..h.end].starts_with(['/', '*']))
}

/// `scheme://user:password@host`.
fn url_credentials(text: &str, colon: usize) -> Option<Hit> {
    let bytes = text.as_bytes();
    if !(bytes[colon] == b':'
        && bytes.get(colon + 1) == Some(&b'/')
        && bytes.get(colon + 2) == Some(&b'/'))
    {
        return None;
    }
    let start = colon + 3;
    let n = run_len(bytes, start, |b| {
        !matches!(
            b,
            b'/' | b'?' | b'#' | b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\''
        )
    });
    let authority = &text[start..start + n];
    let at = authority.rfind('@')?;
    let userinfo = &authority[..at];
    let sep = userinfo.find(':')?;
    (sep + 1 < userinfo.len()).then_some(Hit {
        start: start + sep + 1,
        end: start + at,
        classification: "pattern.url_credentials",
    })
}

fn run_len(bytes: &[u8], from: usize, ok: impl Fn(u8) -> bool) -> usize {
    bytes[from..].iter().take_while(|b| ok(**b)).count()
}

fn b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Bytes at which a pattern can start.
const TRIGGERS: [bool; 256] = {
    let mut t = [false; 256];
    let starts = b"-eAgxsrB=:<PcCnN/";
    let mut i = 0;
    while i < starts.len() {
        t[starts[i] as usize] = true;
        i += 1;
    }
    t
};

/// Finds secrets in free text: PEM private keys, JWTs, connection-string keys,
/// `password=`-style assignments, XML/plist password elements, bearer tokens and cloud
/// keys with known prefixes.
pub fn scan_text(text: &str) -> Vec<Hit> {
    let bytes = text.as_bytes();
    // Identifiers (settings catalog definition ids and choice values, `@odata.type`s: most
    // of a payload's text) are checked for the key prefixes only.
    // Without spaces or punctuation only the key prefixes can match (every other pattern
    // needs one of `=:<-/ `).
    if bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'#'))
        && !["eyJ", "AKIA", "ASIA", "AIza", "gh", "_live_"]
            .iter()
            .any(|p| text.contains(p))
    {
        return Vec::new();
    }
    let mut hits: Vec<Hit> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        // Most bytes cannot start anything: skip them through a table.
        if !TRIGGERS[bytes[i] as usize] {
            i += 1;
            continue;
        }
        let rest = &bytes[i..];
        let hit: Option<Hit> = match bytes[i] {
            b'-' if rest.starts_with(b"-----BEGIN ") => pem_private_key(text, i),
            b'e' if rest.starts_with(b"eyJ") => jwt(bytes, i),
            b'A' if rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA") => {
                let n = run_len(bytes, i + 4, |b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit()
                });
                (n == 16).then_some(Hit {
                    start: i,
                    end: i + 20,
                    classification: "pattern.aws_access_key",
                })
            }
            b'A' if rest.starts_with(b"AIza") => {
                let n = run_len(bytes, i + 4, b64url);
                (n >= 35).then_some(Hit {
                    start: i,
                    end: i + 4 + n,
                    classification: "pattern.google_api_key",
                })
            }
            b'g' if rest.starts_with(b"github_pat_") => {
                let n = run_len(bytes, i + 11, b64url);
                (n >= 22).then_some(Hit {
                    start: i,
                    end: i + 11 + n,
                    classification: "pattern.github_token",
                })
            }
            b'g' if rest.len() > 4
                && rest.starts_with(b"gh")
                && matches!(rest[2], b'p' | b'o' | b'u' | b's' | b'r')
                && rest[3] == b'_' =>
            {
                let n = run_len(bytes, i + 4, |b| b.is_ascii_alphanumeric());
                (n >= 30).then_some(Hit {
                    start: i,
                    end: i + 4 + n,
                    classification: "pattern.github_token",
                })
            }
            b'x' if rest.len() > 5
                && rest.starts_with(b"xox")
                && matches!(rest[3], b'b' | b'a' | b'p' | b'r' | b's')
                && rest[4] == b'-' =>
            {
                let n = run_len(bytes, i + 5, |b| b.is_ascii_alphanumeric() || b == b'-');
                (n >= 10).then_some(Hit {
                    start: i,
                    end: i + 5 + n,
                    classification: "pattern.slack_token",
                })
            }
            b's' | b'r' if rest.starts_with(b"sk_live_") || rest.starts_with(b"rk_live_") => {
                let n = run_len(bytes, i + 8, |b| b.is_ascii_alphanumeric());
                (n >= 16).then_some(Hit {
                    start: i,
                    end: i + 8 + n,
                    classification: "pattern.stripe_key",
                })
            }
            b'B' if rest.starts_with(b"Bearer ") => {
                let n = run_len(bytes, i + 7, |b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'-')
                });
                (n >= 16).then_some(Hit {
                    start: i + 7,
                    end: i + 7 + n,
                    classification: "pattern.bearer_token",
                })
            }
            b'=' | b':' => assignment(text, i).or_else(|| url_credentials(text, i)),
            b'P' if rest.starts_with(b"PuTTY-User-Key-File-") => Some(Hit {
                start: i,
                end: text[i..].find("Private-MAC:").map_or(text.len(), |e| {
                    let from = i + e;
                    text[from..].find('\n').map_or(text.len(), |n| from + n)
                }),
                classification: "pattern.private_key",
            }),
            b'-' | b'/' => parameter(text, i),
            b'c' | b'C' if starts_with_ignore_case(rest, b"convertto-securestring") => {
                secure_string(text, i + 22)
            }
            b'n' | b'N' if starts_with_ignore_case(rest, b"net user ") => net_user(text, i + 9),
            b'<' => xml_element(text, i),
            _ => None,
        };
        match hit {
            Some(h) if h.end > h.start => {
                i = h.end.max(i + 1);
                hits.push(h);
            }
            _ => i += 1,
        }
    }
    hits
}

fn pem_private_key(text: &str, i: usize) -> Option<Hit> {
    let header_end = text[i + 11..].find("-----")? + i + 11;
    let label = &text[i + 11..header_end];
    if !label.ends_with("PRIVATE KEY") {
        return None;
    }
    let end = text[header_end..]
        .find("-----END ")
        .and_then(|e| {
            let from = header_end + e + 9;
            text[from..].find("-----").map(|f| from + f + 5)
        })
        .unwrap_or(text.len());
    Some(Hit {
        start: i,
        end,
        classification: "pattern.private_key",
    })
}

fn jwt(bytes: &[u8], i: usize) -> Option<Hit> {
    let a = run_len(bytes, i, b64url);
    let dot1 = i + a;
    if a < 10 || bytes.get(dot1) != Some(&b'.') {
        return None;
    }
    let b = run_len(bytes, dot1 + 1, b64url);
    let dot2 = dot1 + 1 + b;
    if b < 10 || bytes.get(dot2) != Some(&b'.') {
        return None;
    }
    let c = run_len(bytes, dot2 + 1, b64url);
    (c >= 10).then_some(Hit {
        start: i,
        end: dot2 + 1 + c,
        classification: "pattern.jwt",
    })
}

/// `name = value`, `name: value`, `name="value"` where `name` ends with a secret-like word.
fn assignment(text: &str, op: usize) -> Option<Hit> {
    let bytes = text.as_bytes();
    // `==` and `:=`-free comparisons are not assignments; neither are URLs (`https://`).
    if bytes.get(op + 1) == Some(&b'=') || (op > 0 && bytes[op - 1] == b'=') {
        return None;
    }
    if bytes[op] == b':' && bytes.get(op + 1) == Some(&b'/') {
        return None;
    }
    // The name before the operator (skipping spaces and one closing quote).
    let mut end = op;
    while end > 0 && matches!(bytes[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    if end > 0 && matches!(bytes[end - 1], b'"' | b'\'') {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && is_ident(bytes[start - 1]) {
        start -= 1;
    }
    let name = &text[start..end];
    if name.is_empty()
        || !ASSIGNED_NAMES
            .iter()
            .any(|w| ends_with_ignore_case(name, w))
    {
        return None;
    }
    // The value after it.
    value_at(text, op + 1)
}

/// `<Password>value</Password>`, `<keyMaterial>value</keyMaterial>`, and plist
/// `<key>Password</key><string>value</string>`.
fn xml_element(text: &str, lt: usize) -> Option<Hit> {
    let bytes = text.as_bytes();
    let n = run_len(bytes, lt + 1, |b| {
        b.is_ascii_alphanumeric() || b == b'_' || b == b':'
    });
    if n == 0 || bytes.get(lt + 1 + n) != Some(&b'>') {
        return None;
    }
    let name = &text[lt + 1..lt + 1 + n];
    let local = name.rsplit(':').next().unwrap_or(name);
    let content_start = lt + 2 + n;
    let content_end = text[content_start..].find('<')? + content_start;
    let content = &text[content_start..content_end];
    if local.eq_ignore_ascii_case("key") {
        if !SECRET_ELEMENTS
            .iter()
            .any(|w| ends_with_ignore_case(content.trim(), w))
        {
            return None;
        }
        // The plist value follows: <string>…</string>.
        let after = text[content_end..].find("</key>")? + content_end + 6;
        let rest = text[after..].trim_start();
        let skipped = text.len() - after - rest.len();
        let value_start = after + skipped + "<string>".len();
        if !rest.starts_with("<string>") {
            return None;
        }
        let value_end = text[value_start..].find('<')? + value_start;
        return plausible_value(&text[value_start..value_end]).then_some(Hit {
            start: value_start,
            end: value_end,
            classification: "pattern.password_assignment",
        });
    }
    if !SECRET_ELEMENTS
        .iter()
        .any(|w| local.eq_ignore_ascii_case(w))
    {
        return None;
    }
    plausible_value(content).then_some(Hit {
        start: content_start,
        end: content_end,
        classification: "pattern.password_assignment",
    })
}

/// Replaces each hit with `[REDACTED:<classification>:<fingerprint>]` (or without the
/// fingerprint when `fp` is `None`).
fn replace_hits(text: &str, hits: &[Hit], fp: Option<&Fingerprinter>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for h in hits {
        out.push_str(&text[at..h.start]);
        match fp {
            Some(fp) => {
                out.push_str(&format!(
                    "[REDACTED:{}:{}]",
                    h.classification,
                    fp.fingerprint(&text[h.start..h.end])
                ));
            }
            None => out.push_str(&format!("[REDACTED:{}]", h.classification)),
        }
        at = h.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Free text with every secret the patterns recognise replaced: for warnings, error
/// messages, display names and log lines.
pub fn redact_text(text: &str) -> std::borrow::Cow<'_, str> {
    let hits = scan_text(text);
    if hits.is_empty() {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(replace_hits(text, &hits, None))
    }
}

/// The result of redacting one payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redaction {
    /// Every secret field, in payload order.
    pub fields: Vec<SecretField>,
}

impl Redaction {
    /// Values removed (placeholders masked at the source are not counted).
    pub fn count(&self) -> usize {
        self.fields.iter().filter(|f| !f.masked_at_source).count()
    }

    /// Whether the payload was changed.
    pub fn changed(&self) -> bool {
        !self.fields.is_empty()
    }
}

struct Walker<'a> {
    fp: &'a Fingerprinter,
    secret_definitions: std::collections::HashSet<String>,
    out: Redaction,
}

impl Walker<'_> {
    fn marker(&mut self, path: &str, classification: &str, source: Source, value: &Value) -> Value {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let masked = matches!(value, Value::String(s) if is_masked(s));
        let fingerprint = (!masked).then(|| self.fp.fingerprint(&text));
        self.out.fields.push(SecretField {
            path: path.to_string(),
            classification: classification.to_string(),
            source: source.as_str().to_string(),
            fingerprint: fingerprint.clone(),
            masked_at_source: masked,
        });
        let mut m = Map::new();
        m.insert(MARKER_KEY.into(), Value::Bool(true));
        m.insert(
            "classification".into(),
            Value::String(classification.into()),
        );
        m.insert("source".into(), Value::String(source.as_str().into()));
        match fingerprint {
            Some(f) => m.insert("fingerprint".into(), Value::String(f)),
            None => m.insert("maskedAtSource".into(), Value::Bool(true)),
        };
        Value::Object(m)
    }

    /// Replaces `slot` with a marker, if it holds a value.
    fn redact_whole(&mut self, slot: &mut Value, path: &str, classification: &str, source: Source) {
        // A marker-looking object from the source is not trusted: it is redacted too.
        if slot.is_null() || matches!(slot, Value::String(s) if s.is_empty()) {
            return;
        }
        let marker = self.marker(path, classification, source, slot);
        *slot = marker;
    }

    /// Redacts pattern hits inside a string (in place).
    fn scan_string(&mut self, s: &mut String, path: &str) {
        let hits = scan_text(s);
        if hits.is_empty() {
            return;
        }
        self.record_hits(s, &hits, path);
        *s = replace_hits(s, &hits, Some(self.fp));
    }

    fn record_hits(&mut self, text: &str, hits: &[Hit], path: &str) {
        for h in hits {
            self.out.fields.push(SecretField {
                path: path.to_string(),
                classification: h.classification.to_string(),
                source: Source::Pattern.as_str().to_string(),
                fingerprint: Some(self.fp.fingerprint(&text[h.start..h.end])),
                masked_at_source: false,
            });
        }
    }

    /// Base64 content: decoded, scanned, redacted and encoded again; text that is not
    /// base64 is scanned as it is.
    fn scan_base64(&mut self, slot: &mut Value, path: &str) {
        let Value::String(s) = slot else { return };
        let Some(bytes) = decode_base64(s) else {
            self.scan_string(s, path);
            return;
        };
        let (decoded, encoding) = decode_blob(&bytes);
        let hits = scan_text(&decoded);
        if hits.is_empty() {
            return;
        }
        let Some(encoding) = encoding else {
            // Text in an encoding that cannot be written back as it was: the whole
            // field goes.
            let c = hits[0].classification;
            self.redact_whole(slot, path, c, Source::Pattern);
            return;
        };
        self.record_hits(&decoded, &hits, path);
        let redacted = replace_hits(&decoded, &hits, Some(self.fp));
        let encoded = match encoding {
            Blob::Utf16Le { bom } => {
                let mut b = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
                b.extend(redacted.encode_utf16().flat_map(u16::to_le_bytes));
                b
            }
            Blob::Utf16Be => {
                let mut b = vec![0xFE, 0xFF];
                b.extend(redacted.encode_utf16().flat_map(u16::to_be_bytes));
                b
            }
            Blob::Utf8 => redacted.into_bytes(),
        };
        *s = base64::engine::general_purpose::STANDARD.encode(encoded);
    }

    /// Every string and number below a secret-named property.
    fn redact_inside(&mut self, value: &mut Value, path: &mut String) {
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    self.redact_inside(v, path);
                    path.truncate(len);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    let len = path.len();
                    use std::fmt::Write;
                    let _ = write!(path, "[{i}]");
                    self.redact_inside(v, path);
                    path.truncate(len);
                }
            }
            Value::String(s) if s.is_empty() || is_enum_like(s) => {}
            Value::String(_) | Value::Number(_) => {
                let p = path.clone();
                self.redact_whole(value, &p, "pattern.secret_property", Source::Pattern);
            }
            _ => {}
        }
    }

    fn walk(&mut self, value: &mut Value, path: &mut String) {
        match value {
            Value::Object(map) => self.walk_object(map, path),
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let len = path.len();
                    path.push('[');
                    match entry_label(item) {
                        Some(label) => path.push_str(label),
                        None => {
                            use std::fmt::Write;
                            let _ = write!(path, "{i}");
                        }
                    }
                    path.push(']');
                    self.walk(item, path);
                    path.truncate(len);
                }
            }
            Value::String(s) => self.scan_string(s, path),
            _ => {}
        }
    }

    fn walk_object(&mut self, map: &mut Map<String, Value>, path: &mut String) {
        let odata_type = known_type(bare_type(map)).unwrap_or("");
        // One pass over the keys says which rules can apply.
        let (mut has_def, mut has_oma, mut pair_name) = (false, false, false);
        for (k, v) in map.iter() {
            match k.as_str() {
                "settingDefinitionId" => has_def = true,
                "omaUri" => has_oma = true,
                "appConfigKey" | "name" | "key" | "settingName" => {
                    pair_name |= v.as_str().is_some_and(|n| {
                        SECRET_NAMES
                            .iter()
                            .chain(ASSIGNED_NAMES)
                            .any(|w| ends_with_ignore_case(n, w))
                    })
                }
                _ => {}
            }
        }
        // Settings catalog secret values, whatever their valueState.
        if odata_type.eq_ignore_ascii_case("deviceManagementConfigurationSecretSettingValue") {
            if let Some(v) = map.get_mut("value") {
                let p = join(path, "value");
                self.redact_whole(v, &p, "settings_catalog.secret", Source::Schema);
            }
        }
        // Settings whose definition says isSecret, or whose definition id names a secret
        // (`…_adminpassword`) and holds a string.
        if let Some(def) = map
            .get("settingDefinitionId")
            .filter(|_| has_def)
            .and_then(Value::as_str)
        {
            let simple = map.get("simpleSettingValue");
            let schema_secret = simple
                .and_then(|v| v.get("@odata.type"))
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("SecretSettingValue"));
            let named = SECRET_NAMES.iter().any(|n| ends_with_ignore_case(def, n))
                && !schema_secret
                && simple
                    .and_then(|v| v.get("value"))
                    .is_some_and(Value::is_string);
            let rule = if self.secret_definitions.contains(def) {
                Some(("settings_catalog.secret_definition", Source::Schema))
            } else if named {
                Some(("settings_catalog.secret_name", Source::Pattern))
            } else {
                None
            };
            if let Some((classification, source)) = rule {
                if let Some(v) = map
                    .get_mut("simpleSettingValue")
                    .and_then(|s| s.as_object_mut())
                    .and_then(|s| s.get_mut("value"))
                {
                    let p = join(path, "simpleSettingValue.value");
                    self.redact_whole(v, &p, classification, source);
                }
            }
        }
        // OMA-URI settings.
        if let Some(uri) = map
            .get("omaUri")
            .filter(|_| has_oma)
            .and_then(Value::as_str)
        {
            let encrypted = match map.get("isEncrypted") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
                _ => false,
            };
            let reference = map
                .get("secretReferenceValueId")
                .is_some_and(|v| !v.is_null() && v.as_str() != Some(""));
            let stringy = map.get("value").is_some_and(Value::is_string);
            let node = SECRET_OMA_NODES
                .iter()
                .any(|n| ends_with_ignore_case(uri, n));
            let classification = if reference {
                Some("oma.secret_reference")
            } else if encrypted {
                Some("oma.encrypted")
            } else if stringy && node {
                Some("oma.secret_node")
            } else {
                None
            };
            let base64 = odata_type.eq_ignore_ascii_case("omaSettingBase64")
                || odata_type.eq_ignore_ascii_case("omaSettingStringXml");
            if let Some(v) = map.get_mut("value") {
                let p = join(path, "value");
                match classification {
                    Some(c) => self.redact_whole(v, &p, c, Source::Schema),
                    None if base64 => self.scan_base64(v, &p),
                    None => {}
                }
            }
        }
        // Name/value pairs: {"appConfigKey": "password", "appConfigKeyValue": "…"},
        // {"name": "clientSecret", "value": "…"}.
        if pair_name {
            for k in ["appConfigKeyValue", "value", "settingValue"] {
                if let Some(v) = map.get_mut(k) {
                    if v.is_string() || v.is_number() {
                        let p = join(path, k);
                        self.redact_whole(v, &p, "pattern.secret_property", Source::Pattern);
                    }
                }
            }
        }
        // Keys can hold text too.
        let bad_keys: Vec<(String, Vec<Hit>)> = map
            .keys()
            .filter_map(|k| {
                let hits = scan_text(k);
                (!hits.is_empty()).then(|| (k.clone(), hits))
            })
            .collect();
        for (k, hits) in bad_keys {
            if let Some(v) = map.remove(&k) {
                let p = join(path, "<key>");
                self.record_hits(&k, &hits, &p);
                map.insert(replace_hits(&k, &hits, Some(self.fp)), v);
            }
        }
        for (key, child) in map.iter_mut() {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            match field_rule(key, odata_type) {
                Some(Rule::Whole(c)) => {
                    let p = path.clone();
                    self.redact_whole(child, &p, c, Source::Schema);
                }
                Some(Rule::Base64) => {
                    let p = path.clone();
                    self.scan_base64(child, &p);
                }
                None if secret_name(key) => {
                    let p = path.clone();
                    match child {
                        Value::String(s) if !s.is_empty() && !is_enum_like(s) => {
                            self.redact_whole(child, &p, "pattern.secret_property", Source::Pattern)
                        }
                        Value::Number(_) => {
                            self.redact_whole(child, &p, "pattern.secret_property", Source::Pattern)
                        }
                        // `"password": ["…"]`, `"clientSecret": {"value": "…"}`: every
                        // string and number inside.
                        Value::Array(_) | Value::Object(_) => self.redact_inside(child, path),
                        _ => {}
                    }
                }
                None => self.walk(child, path),
            }
            path.truncate(len);
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A stable label for an array entry: its `omaUri` or settings catalog definition id.
fn entry_label(item: &Value) -> Option<&str> {
    let o = item.as_object()?;
    if let Some(uri) = o.get("omaUri").and_then(Value::as_str) {
        return Some(uri);
    }
    let instance = o.get("settingInstance").unwrap_or(item);
    instance.get("settingDefinitionId").and_then(Value::as_str)
}

/// How decoded base64 content was encoded as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blob {
    Utf8,
    Utf16Le { bom: bool },
    Utf16Be,
}

/// Base64 in any of its usual forms: standard or URL-safe alphabet, with or without
/// padding, wrapped over lines.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{
        general_purpose::GeneralPurposeConfig, DecodePaddingMode, GeneralPurpose,
    };
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() < 4 {
        return None;
    }
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&base64::alphabet::STANDARD, config)
        .decode(&compact)
        .or_else(|_| GeneralPurpose::new(&base64::alphabet::URL_SAFE, config).decode(&compact))
        .ok()
}

/// Decoded base64 content as text: UTF-8 (BOM optional), UTF-16 LE (BOM optional) or BE
/// with a BOM. Anything else is read lossily for scanning and cannot be written back
/// (`None`).
fn decode_blob(bytes: &[u8]) -> (String, Option<Blob>) {
    let utf16 = |rest: &[u8], le: bool| -> Option<String> {
        if !rest.len().is_multiple_of(2) {
            return None;
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).ok()
    };
    match bytes {
        [0xFF, 0xFE, rest @ ..] => {
            if let Some(s) = utf16(rest, true) {
                return (s, Some(Blob::Utf16Le { bom: true }));
            }
        }
        [0xFE, 0xFF, rest @ ..] => {
            if let Some(s) = utf16(rest, false) {
                return (s, Some(Blob::Utf16Be));
            }
        }
        _ => {}
    }
    // UTF-16 LE without a BOM: mostly ASCII, so every other byte is zero.
    let zeros = bytes.iter().skip(1).step_by(2).filter(|b| **b == 0).count();
    if bytes.len() >= 4 && zeros * 10 >= bytes.len() / 2 * 6 {
        if let Some(s) = utf16(bytes, true) {
            return (s, Some(Blob::Utf16Le { bom: false }));
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), Some(Blob::Utf8)),
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), None),
    }
}

/// Ids of settings catalog definitions present in the payload that say `isSecret`
/// (directly or in their `valueDefinition`).
fn secret_definitions(value: &Value, out: &mut std::collections::HashSet<String>) {
    match value {
        Value::Object(map) => {
            let secret = map.get("isSecret").and_then(Value::as_bool) == Some(true)
                || map
                    .get("valueDefinition")
                    .and_then(|d| d.get("isSecret"))
                    .and_then(Value::as_bool)
                    == Some(true);
            if secret {
                if let Some(id) = map.get("id").and_then(Value::as_str) {
                    out.insert(id.to_string());
                }
            }
            for v in map.values() {
                secret_definitions(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| secret_definitions(i, out)),
        _ => {}
    }
}

/// Redacts every secret of a payload in place and says where they were.
pub fn redact_payload(fp: &Fingerprinter, payload: &mut Value) -> Redaction {
    let mut defs = std::collections::HashSet::new();
    let has_definitions = payload
        .get("settings")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|i| i.get("settingDefinitions").is_some()));
    if has_definitions {
        secret_definitions(payload, &mut defs);
    }
    let mut walker = Walker {
        fp,
        secret_definitions: defs,
        out: Redaction::default(),
    };
    let mut path = String::new();
    walker.walk(payload, &mut path);
    walker.out
}

/// A secret that differs from the previous version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretChange {
    pub path: String,
    pub classification: String,
    /// `ADDED`, `CHANGED` or `REMOVED`.
    pub change: String,
}

/// Which secrets were added, changed (by fingerprint) or removed between two versions.
/// Placeholders masked at the source have no fingerprint and never count as changed.
pub fn secret_changes(old: &[SecretField], new: &[SecretField]) -> Vec<SecretChange> {
    use std::collections::BTreeMap;
    fn keyed(fields: &[SecretField]) -> BTreeMap<(&str, &str, usize), Option<&str>> {
        let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        fields
            .iter()
            .map(|f| {
                let n = seen.entry((&f.path, &f.classification)).or_default();
                *n += 1;
                (
                    (f.path.as_str(), f.classification.as_str(), *n),
                    f.fingerprint.as_deref(),
                )
            })
            .collect()
    }
    let (before, after) = (keyed(old), keyed(new));
    let change = |(path, classification, _): &(&str, &str, usize), change: &str| SecretChange {
        path: path.to_string(),
        classification: classification.to_string(),
        change: change.to_string(),
    };
    let mut out = Vec::new();
    for (k, fp) in &after {
        match before.get(k) {
            None => out.push(change(k, "ADDED")),
            Some(old) if old.is_some() && fp.is_some() && old != fp => {
                out.push(change(k, "CHANGED"))
            }
            Some(_) => {}
        }
    }
    out.extend(
        before
            .keys()
            .filter(|k| !after.contains_key(k))
            .map(|k| change(k, "REMOVED")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fp() -> Fingerprinter {
        Fingerprinter::new(b"test key")
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        let f = Fingerprinter::new(b"Jefe");
        assert_eq!(
            f.hmac_hex(b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        let f = Fingerprinter::new(&[0xaa; 131]);
        assert_eq!(
            f.hmac_hex(b"Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn schema_fields_become_markers_with_fingerprints() {
        let mut p = json!({"@odata.type": "#microsoft.graph.windowsWifiConfiguration", "ssid": "Corp", "preSharedKey": "Sup3r-S3cret!"});
        let r = redact_payload(&fp(), &mut p);
        assert_eq!(r.count(), 1);
        assert_eq!(r.fields[0].path, "preSharedKey");
        assert_eq!(r.fields[0].classification, "wifi.pre_shared_key");
        assert_eq!(p["preSharedKey"]["@redacted"], true);
        assert_eq!(p["preSharedKey"]["source"], "SCHEMA");
        assert!(p["preSharedKey"]["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:"));
        assert!(!p.to_string().contains("Sup3r-S3cret!"));
        assert_eq!(p["ssid"], "Corp");
        // A marker-looking object from a source is not trusted.
        let mut fake = json!({"preSharedKey": {"@redacted": true, "classification": "x", "fingerprint": "hmac-sha256:00", "value": "Hidden-In-Fake-Marker"}});
        assert_eq!(redact_payload(&fp(), &mut fake).count(), 1);
        assert!(!fake.to_string().contains("Hidden-In-Fake-Marker"));
    }

    #[test]
    fn oma_settings_and_masked_placeholders() {
        let mut p = json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "omaSettings": [
            {"@odata.type": "#microsoft.graph.omaSettingString", "omaUri": "./Vendor/MSFT/A", "isEncrypted": true, "value": "enc-value-123"},
            {"@odata.type": "#microsoft.graph.omaSettingString", "omaUri": "./Vendor/MSFT/B", "isEncrypted": true, "value": "****"},
            {"@odata.type": "#microsoft.graph.omaSettingString", "omaUri": "./Vendor/MSFT/Accounts/Users/x/Password", "value": "plain-pw-456"},
            {"@odata.type": "#microsoft.graph.omaSettingInteger", "omaUri": "./Device/Vendor/MSFT/Policy/Config/DeviceLock/MinDevicePasswordLength", "value": 12}
        ]});
        let r = redact_payload(&fp(), &mut p);
        assert_eq!(r.count(), 2);
        assert_eq!(r.fields.len(), 3);
        assert!(r.fields[1].masked_at_source);
        assert_eq!(r.fields[0].path, "omaSettings[./Vendor/MSFT/A].value");
        assert_eq!(r.fields[2].classification, "oma.secret_node");
        assert_eq!(p["omaSettings"][3]["value"], 12);
        assert_eq!(p["omaSettings"][1]["value"]["maskedAtSource"], true);
    }

    #[test]
    fn settings_catalog_secret_values() {
        let mut p = json!({"settings": [{"id": "0", "settingInstance": {"settingDefinitionId": "app_adminpassword",
            "simpleSettingValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationSecretSettingValue", "value": "token-abc-123", "valueState": "encryptedValueToken"}}}]});
        let r = redact_payload(&fp(), &mut p);
        assert_eq!(r.count(), 1);
        assert_eq!(
            r.fields[0].path,
            "settings[app_adminpassword].settingInstance.simpleSettingValue.value"
        );
        // isSecret definitions, when present.
        let mut p = json!({"settings": [{"id": "0", "settingDefinitions": [{"id": "x_key", "valueDefinition": {"isSecret": true}}],
            "settingInstance": {"settingDefinitionId": "x_key", "simpleSettingValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationStringSettingValue", "value": "hunter2-long"}}}]});
        let r = redact_payload(&fp(), &mut p);
        assert_eq!(r.count(), 1);
        assert_eq!(
            r.fields[0].classification,
            "settings_catalog.secret_definition"
        );
    }

    #[test]
    fn base64_scripts_are_decoded_scanned_and_encoded_again() {
        let script = "Write-Output \"Password policy applied\"\n$minPasswordLength = 14\n$password = \"Pa55-w0rd-XyZ\"\n";
        let e = base64::engine::general_purpose::STANDARD;
        let mut p = json!({"@odata.type": "#microsoft.graph.deviceManagementScript", "scriptContent": e.encode(script)});
        let r = redact_payload(&fp(), &mut p);
        assert_eq!(r.count(), 1, "{r:?}");
        let decoded =
            String::from_utf8(e.decode(p["scriptContent"].as_str().unwrap()).unwrap()).unwrap();
        assert!(!decoded.contains("Pa55-w0rd-XyZ"));
        assert!(decoded.contains("Password policy applied"));
        assert!(decoded.contains("$minPasswordLength = 14"));
        assert!(
            decoded.contains("$password = \"[REDACTED:pattern.password_assignment:hmac-sha256:")
        );
        // Harmless scripts stay byte for byte.
        let harmless = e.encode("Write-Host \"Set password complexity\"");
        let mut p = json!({"scriptContent": harmless.clone()});
        assert_eq!(redact_payload(&fp(), &mut p).count(), 0);
        assert_eq!(p["scriptContent"], harmless);
    }

    #[test]
    fn patterns_find_secrets_and_leave_look_alikes() {
        let found = |t: &str| {
            scan_text(t)
                .into_iter()
                .map(|h| (h.classification, t[h.start..h.end].to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            found("Server=db;User Id=svc;Password=Xy9!abc;")[0].1,
            "Xy9!abc"
        );
        assert_eq!(found("pwd=kiosk-2024 for kiosk")[0].1, "kiosk-2024");
        assert_eq!(
            found("export DB_PASSWORD='s3cr3t-v@lue'")[0].1,
            "s3cr3t-v@lue"
        );
        assert_eq!(
            found("<key>Password</key>\n<string>plist-secret</string>")[0].1,
            "plist-secret"
        );
        assert_eq!(
            found("<keyMaterial>wlan-key-99</keyMaterial>")[0].1,
            "wlan-key-99"
        );
        assert_eq!(found("AKIAABCDEFGHIJKLMNOP")[0].0, "pattern.aws_access_key");
        assert_eq!(
            found("ghp_abcdefghijklmnopqrstuvwxyz0123456789")[0].0,
            "pattern.github_token"
        );
        assert_eq!(
            found("t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.abcdefghijklmnop")[0].0,
            "pattern.jwt"
        );
        assert_eq!(
            found("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----")[0].0,
            "pattern.private_key"
        );
        assert_eq!(
            found("curl -H \"Authorization: Bearer abcdefghijklmnopqrstuvwxyz\"")[0].0,
            "pattern.bearer_token"
        );
        for harmless in [
            "device_vendor_msft_laps_policies_passwordcomplexity_4",
            "Password must be changed every 90 days.",
            "$minPasswordLength = 14",
            "https://contoso.example/path?x=1",
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "if ($password -eq $null) { Write-Host 'Password: ' }",
            "passwordRequiredType",
            "12:30",
        ] {
            assert_eq!(found(harmless), vec![], "{harmless}");
        }
        // Secret-named properties, but not their option values.
        let mut p = json!({"wifiPassword": "notConfigured", "clientSecret": "abc-123-def", "passwordMinimumLength": 8, "passwordRequiredType": "alphanumeric"});
        let r = redact_payload(&fp(), &mut p);
        assert_eq!(r.count(), 1);
        assert_eq!(r.fields[0].path, "clientSecret");
    }

    #[test]
    fn changes_between_versions_by_fingerprint() {
        let f = |path: &str, fp: Option<&str>| SecretField {
            path: path.into(),
            classification: "c".into(),
            source: "SCHEMA".into(),
            fingerprint: fp.map(str::to_string),
            masked_at_source: fp.is_none(),
        };
        let old = vec![
            f("a", Some("1")),
            f("b", Some("2")),
            f("m", None),
            f("gone", Some("3")),
        ];
        let new = vec![
            f("a", Some("1")),
            f("b", Some("9")),
            f("m", Some("4")),
            f("new", Some("5")),
        ];
        let changes: Vec<(String, String)> = secret_changes(&old, &new)
            .into_iter()
            .map(|c| (c.path, c.change))
            .collect();
        assert_eq!(
            changes,
            vec![
                ("b".into(), "CHANGED".into()),
                ("new".into(), "ADDED".into()),
                ("gone".into(), "REMOVED".into())
            ]
        );
    }

    #[test]
    fn script_idioms_and_reported_leaks() {
        let secret = "K9mX-s3cr3t!";
        for line in [
            format!("$pw = ConvertTo-SecureString \"{secret}\" -AsPlainText -Force"),
            format!("net user localadmin {secret} /add"),
            format!("New-LocalUser -Name a -Password (ConvertTo-SecureString '{secret}' -AsPlainText -Force)"),
            format!("reg add HKLM\\Winlogon /v DefaultPassword /t REG_SZ /d {secret} /f"),
            format!("Set-ItemProperty -Path $p -Name DefaultPassword -Value '{secret}'"),
            format!("https://acct.blob.core.windows.net/c?sv=2020&sig={secret}"),
            format!("$pass = \"{secret}\""),
            format!("$password = '${secret}'"),
            format!("$password\t= \"{secret}\""),
            format!("dscl . -passwd /Users/admin {secret}"),
            format!("security add-generic-password -a me -s svc -w {secret}"),
            format!("curl -u admin:{secret} https://x.example"),
            format!("git clone https://admin:{secret}@host.example/repo"),
            format!("PuTTY-User-Key-File-2: ssh-rsa\nPrivate-Lines: 1\n{secret}\nPrivate-MAC: abc"),
        ] {
            let hits = scan_text(&line);
            let redacted = replace_hits(&line, &hits, None);
            assert!(!redacted.contains(secret), "{line} -> {redacted}");
        }
        for harmless in [
            "Password: Alphanumeric",
            "Token: refresh weekly",
            "Configure password: https://aka.ms/x",
            "$password = Read-Host -AsSecureString",
            "# password: see vault",
            "$Secret = $env:X",
            "HKLM:\\SOFTWARE\\Policies\\PasswordPolicy",
        ] {
            assert_eq!(scan_text(harmless), vec![], "{harmless}");
        }
        // Base64 without padding, wrapped, URL-safe, UTF-16 without BOM, and not UTF-8.
        let script = "$password = \"K9mX-b64-secret\"\r\n";
        let utf16: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let mut latin1 = b"caf\xe9 ".to_vec();
        latin1.extend_from_slice(script.as_bytes());
        let std = base64::engine::general_purpose::STANDARD;
        let wrapped: String = std
            .encode(script.repeat(5))
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\r\n", String::from_utf8_lossy(c)))
            .collect();
        for encoded in [
            std.encode(script).trim_end_matches('=').to_string(),
            wrapped,
            base64::engine::general_purpose::URL_SAFE.encode(format!("{script}??>>")),
            std.encode(&utf16),
            std.encode(&latin1),
        ] {
            let mut p = json!({"scriptContent": encoded});
            let r = redact_payload(&fp(), &mut p);
            assert!(r.count() >= 1, "{encoded}");
            let text = match p["scriptContent"].as_str() {
                Some(b64) => {
                    String::from_utf8_lossy(&decode_base64(b64).unwrap()).replace('\0', "")
                }
                None => p["scriptContent"].to_string(),
            };
            assert!(!text.contains("K9mX-b64-secret"), "{text}");
        }
        // Secret-named properties of every shape; keys; '@' subtrees; OMA quirks.
        let mut p = json!({
            "wifiPassword": "kqzmxleakbb", "adminPassword": 84736251, "requirePassword": true,
            "password": ["K9mX-arr"], "clientSecret": {"value": "K9mX-obj"},
            "networkKey": "K9mX-netkey", "@annotation": {"preSharedKey": "K9mX-at"},
            "password=K9mX-key": true,
            "settings": [{"appConfigKey": "password", "appConfigKeyValue": "K9mX-appcfg"}],
            "omaSettings": [
                {"omaUri": "./A/B", "isEncrypted": "true", "value": "K9mX-strenc"},
                {"@odata.type": "#microsoft.graph.omaSettingBase64", "omaUri": "./Vendor/MSFT/X/Password", "value": "SzltWC1iNjQ="},
                {"omaUri": "./Users/y/Password", "value": "K9mX-notype"}
            ],
            "groupSettings": [{"settingInstance": {"settingDefinitionId": "grp_child_adminpassword", "simpleSettingValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationStringSettingValue", "value": "K9mX-sc"}}}]
        });
        redact_payload(&fp(), &mut p);
        let text = p.to_string();
        assert!(!text.contains("K9mX"), "{text}");
        assert!(!text.contains("84736251"), "{text}");
        assert_eq!(p["requirePassword"], true);
    }

    #[test]
    fn redact_text_for_messages() {
        assert_eq!(
            redact_text("unknown type password=abc123"),
            "unknown type password=[REDACTED:pattern.password_assignment]"
        );
        assert!(matches!(
            redact_text("nothing here"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
