//! Drift: what a tenant's policy configures differently from its baseline policy, setting
//! by setting, how much each difference matters, and which tenant policy a baseline
//! policy is compared with.
//!
//! Rules that keep drift honest (users' worst complaint about drift tools is false drift):
//! - Only configuration is compared. Identity and server metadata per the registry
//!   ([`is_metadata_field`]), `@odata` annotations, `id`s inside nested objects, and the
//!   display name (identity: it is what matching uses) and the description (documentation)
//!   never are. Assignments are not
//!   settings: group ids differ between tenants.
//! - Settings catalog settings are keyed by their `settingDefinitionId` path, never by
//!   position; OMA-URI settings by `omaUri` (case-insensitive). Lists of values are sets;
//!   lists of objects (group collections, rule lists) are sets of their contents; when
//!   exactly one entry differs on each side, the two are compared setting by setting.
//! - Values compare by meaning: `1`, `1.0` and `"1"` are equal, as are `true`, `"true"`
//!   and `"True"`; `null`, `""`, `[]` and `{}` all mean "not configured".
//! - Secrets (redaction markers) compare by fingerprint: equal fingerprints, equal
//!   secrets. A value masked at the source cannot be compared and never drifts.
//! - A missing policy is one finding. A missing (or unexpected) setting with children is
//!   one finding for the parent; nothing below a reported path is reported again.
use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    canonical::canonical_json,
    contracts::{is_metadata_field, Contract},
    secrets::is_marker,
};

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// The compliance weight of one check of this severity: the only place weights live.
    pub fn weight(self) -> u64 {
        match self {
            Severity::Critical => 10,
            Severity::High => 5,
            Severity::Medium => 3,
            Severity::Low => 1,
            Severity::Info => 0,
        }
    }

    /// 5 (CRITICAL) down to 1 (INFO), for sorting.
    pub fn rank(self) -> i16 {
        match self {
            Severity::Critical => 5,
            Severity::High => 4,
            Severity::Medium => 3,
            Severity::Low => 2,
            Severity::Info => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Info => "INFO",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What kind of drift.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DriftKind {
    /// No tenant policy matches the baseline policy.
    MissingPolicy,
    /// A setting has another value than the baseline's.
    SettingMismatch,
    /// The baseline configures a setting the tenant policy does not.
    MissingSetting,
    /// The tenant policy configures a setting the baseline does not.
    UnexpectedSetting,
    /// The matching tenant policy was deleted in the tenant.
    GhostPolicy,
    /// Several tenant policies match; none is guessed (map one explicitly).
    AmbiguousMatch,
}

impl DriftKind {
    pub const ALL: [DriftKind; 6] = [
        DriftKind::MissingPolicy,
        DriftKind::SettingMismatch,
        DriftKind::MissingSetting,
        DriftKind::UnexpectedSetting,
        DriftKind::GhostPolicy,
        DriftKind::AmbiguousMatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::MissingPolicy => "MISSING_POLICY",
            DriftKind::SettingMismatch => "SETTING_MISMATCH",
            DriftKind::MissingSetting => "MISSING_SETTING",
            DriftKind::UnexpectedSetting => "UNEXPECTED_SETTING",
            DriftKind::GhostPolicy => "GHOST_POLICY",
            DriftKind::AmbiguousMatch => "AMBIGUOUS_MATCH",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

// ---------------------------------------------------------------------------------------
// Severity registry
// ---------------------------------------------------------------------------------------

/// Default severity of a contract type's settings (and of the policy as a whole).
pub fn contract_severity(collection: &str) -> Severity {
    match collection {
        "deviceManagement/deviceCompliancePolicies"
        | "deviceManagement/compliancePolicies"
        | "deviceManagement/deviceManagementScripts"
        | "deviceManagement/deviceHealthScripts"
        | "deviceManagement/deviceShellScripts"
        | "deviceManagement/intents"
        | "deviceAppManagement/iosManagedAppProtections"
        | "deviceAppManagement/androidManagedAppProtections"
        | "deviceAppManagement/windowsManagedAppProtections"
        | "deviceAppManagement/mdmWindowsInformationProtectionPolicies" => Severity::High,
        "deviceManagement/notificationMessageTemplates"
        | "deviceManagement/termsAndConditions"
        | "deviceManagement/assignmentFilters"
        | "deviceManagement/deviceCustomAttributeShellScripts" => Severity::Low,
        _ => Severity::Medium,
    }
}

/// Setting categories by keyword in the (lower-cased) path, first match wins; a path
/// matching none has its contract's default.
pub const SETTING_CATEGORIES: &[(&str, Severity, &[&str])] = &[
    ("documentation", Severity::Info, &["description", "notes"]),
    (
        "core protection",
        Severity::Critical,
        &[
            "bitlocker",
            "tamperprotection",
            "attacksurfacereduction",
            "credentialguard",
            "lsacfgflags",
            "realtimeprotection",
            "realtimemonitoring",
            "storagerequireencryption",
            "securebootenabled",
        ],
    ),
    (
        "security",
        Severity::High,
        &[
            "defender",
            "antivirus",
            "firewall",
            "password",
            "passcode",
            "laps",
            "devicelock",
            "userrights",
            "localusersandgroups",
            "smartscreen",
            "deviceguard",
            "hvci",
            "encryption",
            "osminimumversion",
            "osmaximumversion",
            "requirehealthy",
            "codeintegrity",
            "signatureoutofdate",
            "credential",
            "remotedesktop",
        ],
    ),
    (
        "experience",
        Severity::Low,
        &[
            "experience",
            "spotlight",
            "wallpaper",
            "notification",
            "startmenu",
            "taskbar",
            "copilot",
            "deliveryoptimization",
            "telemetry",
            "timezone",
        ],
    ),
];

/// The registry's severity for a setting path of a contract type (`""`: the policy).
pub fn default_severity(collection: &str, path: &str) -> Severity {
    if !path.is_empty() {
        let lower = path.to_ascii_lowercase();
        for (_, severity, keywords) in SETTING_CATEGORIES {
            if keywords.iter().any(|k| lower.contains(k)) {
                return *severity;
            }
        }
    }
    contract_severity(collection)
}

/// Whether `path` is `parent` or lies below it (`""` covers everything).
pub fn path_covers(parent: &str, path: &str) -> bool {
    parent.is_empty()
        || path == parent
        || (path.len() > parent.len()
            && path.starts_with(parent)
            && matches!(path.as_bytes()[parent.len()], b'/' | b'.' | b'['))
}

/// A baseline item's own rules: severity per path (the longest covering path wins; `""`
/// is the whole policy) and paths left out of the comparison.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemRules {
    pub severity_overrides: Vec<(String, Severity)>,
    pub ignored_paths: Vec<String>,
}

impl ItemRules {
    fn severity(&self, collection: &str, path: &str) -> Severity {
        self.severity_overrides
            .iter()
            .filter(|(p, _)| path_covers(p, path))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, s)| *s)
            .unwrap_or_else(|| default_severity(collection, path))
    }

    fn ignored(&self, path: &str) -> bool {
        self.ignored_paths.iter().any(|p| path_covers(p, path))
    }
}

// ---------------------------------------------------------------------------------------
// Comparable settings
// ---------------------------------------------------------------------------------------

/// One comparable setting.
#[derive(Clone, Debug)]
pub enum Setting {
    /// A value: `key` is its meaning (see the module doc), `shown` what the export says.
    Value { key: String, shown: Value },
    /// An unordered list of values (keys sorted).
    Set { keys: Vec<String>, shown: Value },
    /// A redacted secret.
    Secret {
        fingerprint: Option<String>,
        shown: Value,
    },
    /// An unordered list of objects, each flattened (paths relative to the entry);
    /// `join` is the separator its children's paths use (`/` or `.`).
    Group { entries: Vec<Entry>, join: char },
}

/// One entry of a [`Setting::Group`]: its settings and a digest of them (paths name an
/// entry by the digest's first 8 hex digits).
#[derive(Clone, Debug)]
pub struct Entry {
    pub settings: Settings,
    pub digest: String,
}

/// A policy's comparable settings by path.
pub type Settings = BTreeMap<String, Setting>;

/// The meaning of a scalar, as a comparison key; `None` for "not configured".
fn scalar_key(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(format!("b:{b}")),
        Value::Number(n) => Some(number_key(n.as_f64().unwrap_or(f64::NAN), &n.to_string())),
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => {
            if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
                return Some(format!("b:{}", s.eq_ignore_ascii_case("true")));
            }
            let t = s.trim();
            let numeric = !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
                && t.bytes().any(|b| b.is_ascii_digit());
            match t.parse::<f64>() {
                Ok(f) if numeric && f.is_finite() => Some(number_key(f, t)),
                _ => Some(format!("s:{s}")),
            }
        }
        other => Some(format!("j:{}", canonical_json(other))),
    }
}

/// Whether two values mean the same, as drift compares them (`8`, `8.0` and `"8"` are
/// equal; lists are sets; `null`, `""` and `[]` are "not configured").
pub fn equivalent(a: Option<&Value>, b: Option<&Value>) -> bool {
    fn key(v: Option<&Value>) -> Option<String> {
        match v? {
            Value::Array(items) => {
                let mut keys: Vec<String> = items.iter().filter_map(|i| key(Some(i))).collect();
                if keys.is_empty() {
                    return None;
                }
                keys.sort_unstable();
                Some(format!("l:{}", keys.join("\u{1}")))
            }
            Value::Object(map) if map.is_empty() => None,
            other => scalar_key(other),
        }
    }
    key(a) == key(b)
}

fn number_key(f: f64, text: &str) -> String {
    if !f.is_finite() {
        return format!("d:{text}");
    }
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        format!("d:{}", f as i64)
    } else {
        format!("d:{f}")
    }
}

fn is_annotation(k: &str) -> bool {
    k.starts_with('@') || k.contains("@odata.") || k.starts_with('#')
}

fn secret_of(marker: &Value) -> Setting {
    let fingerprint = marker
        .get("fingerprint")
        .and_then(Value::as_str)
        .map(str::to_string);
    Setting::Secret {
        fingerprint,
        shown: marker.clone(),
    }
}

fn join(prefix: &str, sep: char, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}{sep}{key}")
    }
}

fn digest_of(settings: &Settings) -> String {
    let mut h = Sha256::new();
    for (path, s) in settings {
        h.update(path.as_bytes());
        h.update([0]);
        match s {
            Setting::Value { key, .. } => h.update(key.as_bytes()),
            Setting::Set { keys, .. } => {
                for k in keys {
                    h.update(k.as_bytes());
                    h.update([1]);
                }
            }
            Setting::Secret { fingerprint, .. } => {
                h.update(fingerprint.as_deref().unwrap_or("masked").as_bytes())
            }
            Setting::Group { entries, .. } => {
                let mut d: Vec<&str> = entries.iter().map(|e| e.digest.as_str()).collect();
                d.sort_unstable();
                for x in d {
                    h.update(x.as_bytes());
                }
            }
        }
        h.update([2]);
    }
    hex::encode(h.finalize())
}

/// A digest of everything a comparison compares: equal digests, no drift (whatever the
/// item's rules). Stored per policy version, it lets evaluations skip unchanged policies.
pub fn settings_digest(settings: &Settings) -> String {
    format!("sha256:{}", digest_of(settings))
}

fn entry(settings: Settings) -> Entry {
    let digest = digest_of(&settings);
    Entry { settings, digest }
}

/// A list's comparable form: a set of values, a set of flattened objects, or nothing.
fn list_setting(items: &[Value], join_char: char, nested: bool) -> Option<Setting> {
    let present: Vec<&Value> = items
        .iter()
        .filter(|v| scalar_key(v).is_some() || v.is_object())
        .collect();
    if present.is_empty() {
        return None;
    }
    if present.iter().all(|v| v.is_object() && !is_marker(v)) {
        let entries: Vec<Entry> = present
            .iter()
            .map(|v| {
                let mut s = Settings::new();
                classic_object(v.as_object(), "", &mut s, nested);
                entry(s)
            })
            .filter(|e| !e.settings.is_empty())
            .collect();
        if entries.is_empty() {
            return None;
        }
        return Some(Setting::Group {
            entries,
            join: join_char,
        });
    }
    let mut keys: Vec<String> = present
        .iter()
        .filter_map(|v| {
            if is_marker(v) {
                v.get("fingerprint")
                    .and_then(Value::as_str)
                    .map(|f| format!("x:{f}"))
            } else if v.is_object() {
                Some(format!("j:{}", canonical_json(v)))
            } else {
                scalar_key(v)
            }
        })
        .collect();
    keys.sort_unstable();
    Some(Setting::Set {
        keys,
        shown: Value::Array(present.into_iter().cloned().collect()),
    })
}

fn classic_value(path: &str, v: &Value, out: &mut Settings) {
    match v {
        m if is_marker(m) => {
            out.insert(path.to_string(), secret_of(m));
        }
        Value::Object(map) => classic_object(Some(map), path, out, true),
        Value::Array(items)
            if !items.is_empty()
                && items
                    .iter()
                    .all(|i| i.get("omaUri").and_then(Value::as_str).is_some()) =>
        {
            for item in items {
                let uri = item
                    .get("omaUri")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_ascii_lowercase();
                let p = format!("{path}[{uri}]");
                match item.get("value") {
                    Some(m) if is_marker(m) => {
                        out.insert(p, secret_of(m));
                    }
                    Some(Value::Object(_)) | Some(Value::Array(_)) => {
                        if let Some(value) = item.get("value") {
                            classic_value(&format!("{p}.value"), value, out)
                        }
                    }
                    Some(value) => {
                        if let Some(key) = scalar_key(value) {
                            out.insert(
                                p,
                                Setting::Value {
                                    key,
                                    shown: value.clone(),
                                },
                            );
                        }
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = list_setting(items, '.', true) {
                out.insert(path.to_string(), s);
            }
        }
        scalar => {
            if let Some(key) = scalar_key(scalar) {
                out.insert(
                    path.to_string(),
                    Setting::Value {
                        key,
                        shown: scalar.clone(),
                    },
                );
            }
        }
    }
}

/// Flattens an object's properties below `prefix`. Inside nested objects an `id` is the
/// server's identity of the entry, never configuration.
fn classic_object(
    map: Option<&Map<String, Value>>,
    prefix: &str,
    out: &mut Settings,
    nested: bool,
) {
    let Some(map) = map else { return };
    for (k, v) in map {
        if is_annotation(k) || (nested && k == "id") {
            continue;
        }
        classic_value(&join(prefix, '.', k), v, out);
    }
}

fn sc_instance(instance: &Value, prefix: &str, out: &mut Settings) {
    let Some(def) = instance.get("settingDefinitionId").and_then(Value::as_str) else {
        return;
    };
    let path = join(prefix, '/', &def.to_ascii_lowercase());
    let children = |v: &Value| -> Vec<Value> {
        v.get("children")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if let Some(choice) = instance.get("choiceSettingValue") {
        if let Some(value) = choice.get("value") {
            if let Some(key) = scalar_key(value) {
                out.insert(
                    path.clone(),
                    Setting::Value {
                        key,
                        shown: value.clone(),
                    },
                );
            }
        }
        for child in children(choice) {
            sc_instance(&child, &path, out);
        }
    } else if let Some(simple) = instance.get("simpleSettingValue") {
        let value = if is_marker(simple) {
            simple
        } else {
            simple.get("value").unwrap_or(&Value::Null)
        };
        if is_marker(value) {
            out.insert(path, secret_of(value));
        } else if let Some(key) = scalar_key(value) {
            out.insert(
                path,
                Setting::Value {
                    key,
                    shown: value.clone(),
                },
            );
        }
    } else if let Some(values) = instance
        .get("simpleSettingCollectionValue")
        .and_then(Value::as_array)
    {
        let vals: Vec<Value> = values
            .iter()
            .map(|v| {
                if is_marker(v) {
                    v.clone()
                } else {
                    v.get("value").cloned().unwrap_or(Value::Null)
                }
            })
            .collect();
        if let Some(s) = list_setting(&vals, '/', false) {
            out.insert(path, s);
        }
    } else if let Some(values) = instance
        .get("choiceSettingCollectionValue")
        .and_then(Value::as_array)
    {
        let vals: Vec<Value> = values
            .iter()
            .map(|v| v.get("value").cloned().unwrap_or(Value::Null))
            .collect();
        if let Some(s) = list_setting(&vals, '/', false) {
            out.insert(path.clone(), s);
        }
        for v in values {
            let label = v.get("value").and_then(Value::as_str).unwrap_or("");
            for child in children(v) {
                sc_instance(&child, &format!("{path}[{label}]"), out);
            }
        }
    } else if let Some(groups) = instance
        .get("groupSettingCollectionValue")
        .and_then(Value::as_array)
    {
        let entries: Vec<Entry> = groups
            .iter()
            .map(|g| {
                let mut s = Settings::new();
                for child in children(g) {
                    sc_instance(&child, "", &mut s);
                }
                entry(s)
            })
            .filter(|e| !e.settings.is_empty())
            .collect();
        if !entries.is_empty() {
            out.insert(path, Setting::Group { entries, join: '/' });
        }
    } else if let Some(group) = instance.get("groupSettingValue") {
        for child in children(group) {
            sc_instance(&child, &path, out);
        }
    }
}

/// A policy payload's comparable settings.
pub fn comparable_settings(contract: &Contract, payload: &Value) -> Settings {
    let mut out = Settings::new();
    if contract.settings_catalog {
        for item in payload
            .get("settings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(instance) = item.get("settingInstance") {
                sc_instance(instance, "", &mut out);
            }
        }
    } else if let Value::Object(map) = payload {
        for (k, v) in map {
            if is_metadata_field(contract, k)
                || k == contract.name_field
                || k == "displayName"
                || k == "description"
            {
                continue;
            }
            classic_value(k, v, &mut out);
        }
    }
    out
}

fn shown(s: &Setting) -> Value {
    match s {
        Setting::Value { shown, .. }
        | Setting::Set { shown, .. }
        | Setting::Secret { shown, .. } => shown.clone(),
        Setting::Group { entries, join } => {
            Value::Array(entries.iter().map(|e| entry_shown(e, *join)).collect())
        }
    }
}

fn entry_shown(e: &Entry, _join: char) -> Value {
    Value::Object(
        e.settings
            .iter()
            .map(|(k, v)| (k.clone(), shown(v)))
            .collect(),
    )
}

fn same(a: &Setting, b: &Setting) -> bool {
    match (a, b) {
        (Setting::Value { key: x, .. }, Setting::Value { key: y, .. }) => x == y,
        (Setting::Set { keys: x, .. }, Setting::Set { keys: y, .. }) => x == y,
        (Setting::Secret { fingerprint: x, .. }, Setting::Secret { fingerprint: y, .. }) => {
            match (x, y) {
                (Some(x), Some(y)) => x == y,
                // Masked at the source: nothing to compare.
                _ => true,
            }
        }
        (Setting::Group { entries: x, .. }, Setting::Group { entries: y, .. }) => {
            let mut dx: Vec<&str> = x.iter().map(|e| e.digest.as_str()).collect();
            let mut dy: Vec<&str> = y.iter().map(|e| e.digest.as_str()).collect();
            dx.sort_unstable();
            dy.sort_unstable();
            dx == dy
        }
        _ => false,
    }
}

/// The path label of an expected group entry: `[0]` when it is the only one.
fn entry_label(entries: &[Entry], e: &Entry) -> String {
    if entries.len() == 1 {
        "[0]".to_string()
    } else {
        format!("[#{}]", short(&e.digest))
    }
}

fn short(digest: &str) -> &str {
    digest.get(..8).unwrap_or(digest)
}

/// One difference found, before severities.
#[derive(Clone, Debug, PartialEq)]
struct Raw {
    kind: DriftKind,
    path: String,
    expected: Option<Value>,
    actual: Option<Value>,
}

fn diff(expected: &Settings, actual: &Settings, prefix: &str, sep: char, out: &mut Vec<Raw>) {
    let abs = |p: &str| {
        if prefix.is_empty() {
            p.to_string()
        } else {
            format!("{prefix}{sep}{p}")
        }
    };
    let mut e = expected.iter().peekable();
    let mut a = actual.iter().peekable();
    loop {
        let order = match (e.peek(), a.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((ke, _)), Some((ka, _))) => ke.cmp(ka),
        };
        match order {
            std::cmp::Ordering::Less => {
                if let Some((k, v)) = e.next() {
                    out.push(Raw {
                        kind: DriftKind::MissingSetting,
                        path: abs(k),
                        expected: Some(shown(v)),
                        actual: None,
                    });
                }
            }
            std::cmp::Ordering::Greater => {
                if let Some((k, v)) = a.next() {
                    out.push(Raw {
                        kind: DriftKind::UnexpectedSetting,
                        path: abs(k),
                        expected: None,
                        actual: Some(shown(v)),
                    });
                }
            }
            std::cmp::Ordering::Equal => {
                let (Some((k, ev)), Some((_, av))) = (e.next(), a.next()) else {
                    break;
                };
                if same(ev, av) {
                    continue;
                }
                let path = abs(k);
                match (ev, av) {
                    (
                        Setting::Group {
                            entries: xe,
                            join: j,
                        },
                        Setting::Group { entries: xa, .. },
                    ) => diff_entries(xe, xa, &path, *j, out),
                    _ => out.push(Raw {
                        kind: DriftKind::SettingMismatch,
                        path,
                        expected: Some(shown(ev)),
                        actual: Some(shown(av)),
                    }),
                }
            }
        }
    }
}

/// Entries matched by content; one leftover on each side is compared inside.
fn diff_entries(expected: &[Entry], actual: &[Entry], path: &str, sep: char, out: &mut Vec<Raw>) {
    let mut pool: HashMap<&str, usize> = HashMap::new();
    for a in actual {
        *pool.entry(a.digest.as_str()).or_default() += 1;
    }
    let mut missing: Vec<&Entry> = Vec::new();
    for e in expected {
        match pool.get_mut(e.digest.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => missing.push(e),
        }
    }
    let mut extra: Vec<&Entry> = Vec::new();
    for a in actual {
        if let Some(n) = pool.get_mut(a.digest.as_str()) {
            if *n > 0 {
                *n -= 1;
                extra.push(a);
            }
        }
    }
    if let ([e], [a]) = (missing.as_slice(), extra.as_slice()) {
        let label = format!("{path}{}", entry_label(expected, e));
        diff(&e.settings, &a.settings, &label, sep, out);
        return;
    }
    for e in missing {
        out.push(Raw {
            kind: DriftKind::MissingSetting,
            path: format!("{path}{}", entry_label(expected, e)),
            expected: Some(entry_shown(e, sep)),
            actual: None,
        });
    }
    for a in extra {
        out.push(Raw {
            kind: DriftKind::UnexpectedSetting,
            path: format!("{path}[#{}]", short(&a.digest)),
            expected: None,
            actual: Some(entry_shown(a, sep)),
        });
    }
}

/// Every expected leaf path (the checks), with group entries labelled as in findings.
fn checks_of(settings: &Settings, prefix: &str, sep: char, out: &mut Vec<String>) {
    for (k, v) in settings {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}{sep}{k}")
        };
        match v {
            Setting::Group { entries, join } => {
                for e in entries {
                    checks_of(
                        &e.settings,
                        &format!("{path}{}", entry_label(entries, e)),
                        *join,
                        out,
                    );
                }
            }
            _ => out.push(path),
        }
    }
}

/// One difference, with its severity and the weight of the checks it stands for.
#[derive(Clone, Debug, PartialEq)]
pub struct Drift {
    pub kind: DriftKind,
    /// `None` for policy-level drift.
    pub path: Option<String>,
    pub expected: Option<Value>,
    pub actual: Option<Value>,
    pub severity: Severity,
    pub weight: u64,
}

/// The result of comparing one baseline policy with one tenant policy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    pub drifts: Vec<Drift>,
    /// Checks made (expected settings plus the policy itself, plus unexpected settings).
    pub check_count: u32,
    /// Their severity weight: the compliance score's denominator.
    pub check_weight: u64,
}

/// A baseline policy prepared once for comparison with any number of tenant policies.
#[derive(Clone, Debug)]
pub struct ExpectedPolicy {
    pub contract: &'static Contract,
    pub settings: Settings,
    pub rules: ItemRules,
    /// (path, severity) of every check, sorted by path.
    checks: Vec<(String, Severity)>,
    pub policy_severity: Severity,
    /// Weight of the policy and all its checks.
    pub total_weight: u64,
}

impl ExpectedPolicy {
    pub fn new(contract: &'static Contract, payload: &Value, rules: ItemRules) -> Self {
        let settings = comparable_settings(contract, payload);
        let mut paths = Vec::new();
        checks_of(&settings, "", '/', &mut paths);
        let checks: Vec<(String, Severity)> = paths
            .into_iter()
            .filter(|p| !rules.ignored(p))
            .map(|p| {
                let s = rules.severity(contract.collection, &p);
                (p, s)
            })
            .collect();
        let policy_severity = rules.severity(contract.collection, "");
        let total_weight =
            policy_severity.weight() + checks.iter().map(|(_, s)| s.weight()).sum::<u64>();
        Self {
            contract,
            settings,
            rules,
            checks,
            policy_severity,
            total_weight,
        }
    }

    /// Number of checks: the policy and each expected setting.
    pub fn check_count(&self) -> u32 {
        u32::try_from(self.checks.len() + 1).unwrap_or(u32::MAX)
    }

    /// The tenant policy has the same settings digest: every check passes.
    pub fn unchanged(&self) -> Comparison {
        Comparison {
            drifts: Vec::new(),
            check_count: self.check_count(),
            check_weight: self.total_weight,
        }
    }

    /// No tenant policy to compare with: one policy-level finding standing for every check.
    pub fn absent(&self, kind: DriftKind, actual: Option<Value>) -> Comparison {
        Comparison {
            drifts: vec![Drift {
                kind,
                path: None,
                expected: None,
                actual,
                severity: self.policy_severity,
                weight: self.total_weight,
            }],
            check_count: self.check_count(),
            check_weight: self.total_weight,
        }
    }

    /// Compares with a tenant policy's settings ([`comparable_settings`]).
    pub fn compare(&self, actual: &Settings) -> Comparison {
        let mut raw = Vec::new();
        diff(&self.settings, actual, "", '/', &mut raw);
        raw.retain(|r| !self.rules.ignored(&r.path));
        raw.sort_by(|a, b| a.path.cmp(&b.path));
        // Nothing below a reported path is reported again.
        let mut kept: Vec<Raw> = Vec::with_capacity(raw.len());
        for r in raw {
            if kept.last().is_some_and(|k| path_covers(&k.path, &r.path)) {
                continue;
            }
            kept.push(r);
        }
        let mut extra_count = 0u32;
        let mut extra_weight = 0u64;
        let drifts = kept
            .into_iter()
            .map(|r| {
                let severity = self.rules.severity(self.contract.collection, &r.path);
                let weight = match r.kind {
                    DriftKind::UnexpectedSetting => {
                        extra_count += 1;
                        extra_weight += severity.weight();
                        severity.weight()
                    }
                    // Every expected check at or below the path.
                    _ => self
                        .checks
                        .iter()
                        .filter(|(p, _)| path_covers(&r.path, p))
                        .map(|(_, s)| s.weight())
                        .sum::<u64>(),
                };
                Drift {
                    kind: r.kind,
                    path: Some(r.path),
                    expected: r.expected,
                    actual: r.actual,
                    severity,
                    weight,
                }
            })
            .collect();
        Comparison {
            drifts,
            check_count: self.check_count().saturating_add(extra_count),
            check_weight: self.total_weight + extra_weight,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------

/// A display name for matching: case and runs of whitespace ignored, and a trailing
/// version suffix (` - v3.1`, ` v2`, ` (v1.0.1)`) removed.
pub fn normalize_name(name: &str) -> String {
    let collapsed = name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let trimmed = collapsed.trim_end_matches([')', ']']).trim_end();
    let bytes = trimmed.as_bytes();
    let mut i = bytes.len();
    while i > 0 && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.') {
        i -= 1;
    }
    let digits = &trimmed[i..];
    let is_version = digits.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && i > 0
        && bytes[i - 1] == b'v'
        && (i == 1 || matches!(bytes[i - 2], b' ' | b'-' | b'_' | b'(' | b'['));
    if !is_version || i < 2 {
        return collapsed;
    }
    let stem = trimmed[..i - 1].trim_end_matches([' ', '-', '_', '(', '[']);
    if stem.is_empty() {
        collapsed
    } else {
        stem.to_string()
    }
}

/// A settings catalog policy's template id, when it has one.
pub fn template_id(payload: &Value) -> Option<String> {
    payload
        .get("templateReference")
        .and_then(|t| t.get("templateId"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// A baseline policy, as matching sees it.
#[derive(Clone, Debug)]
pub struct ItemKey {
    pub contract_type: String,
    pub match_name: String,
    pub template_id: Option<String>,
    /// Explicitly mapped tenant policy (`mapBaselinePolicy`).
    pub mapped: Option<Uuid>,
}

/// A tenant policy, as matching sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub id: Uuid,
    pub contract_type: String,
    pub match_name: String,
    pub template_id: Option<String>,
    pub active: bool,
}

/// How a baseline policy was matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchRule {
    Explicit,
    Template,
    Name,
}

/// The tenant policy a baseline policy is compared with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    Found(Uuid, MatchRule),
    Missing,
    /// Several candidates and no rule to choose: reported, never guessed.
    Ambiguous(Vec<Uuid>),
}

/// Narrows candidates: one left wins; among several, the only active one wins; when all
/// are deleted, the policy is a ghost whichever was its last copy.
fn pick(cands: &[&Candidate]) -> Option<Result<Uuid, Vec<Uuid>>> {
    match cands {
        [] => None,
        [one] => Some(Ok(one.id)),
        many => {
            let active: Vec<&&Candidate> = many.iter().filter(|c| c.active).collect();
            match active.as_slice() {
                [one] => Some(Ok(one.id)),
                [] => Some(Ok(many[0].id)),
                _ => Some(Err(active.iter().map(|c| c.id).collect())),
            }
        }
    }
}

/// Matches every baseline policy: same contract type and, in this order, the explicit
/// mapping, the same template id (narrowed by name when several share it), the same
/// normalised name. A tenant policy claimed by two baseline policies (other than by
/// explicit mapping) is ambiguous for both.
pub fn match_items(items: &[ItemKey], policies: &[Candidate]) -> Vec<Match> {
    let mut out: Vec<Match> = items
        .iter()
        .map(|item| {
            if let Some(id) = item.mapped {
                if policies
                    .iter()
                    .any(|p| p.id == id && p.contract_type == item.contract_type)
                {
                    return Match::Found(id, MatchRule::Explicit);
                }
            }
            let same_type: Vec<&Candidate> = policies
                .iter()
                .filter(|p| p.contract_type == item.contract_type)
                .collect();
            if let Some(t) = &item.template_id {
                let by_template: Vec<&Candidate> = same_type
                    .iter()
                    .copied()
                    .filter(|p| p.template_id.as_ref() == Some(t))
                    .collect();
                if by_template.len() == 1 {
                    return Match::Found(by_template[0].id, MatchRule::Template);
                }
                if by_template.len() > 1 {
                    let named: Vec<&Candidate> = by_template
                        .iter()
                        .copied()
                        .filter(|p| p.match_name == item.match_name)
                        .collect();
                    return match pick(&named) {
                        Some(Ok(id)) => Match::Found(id, MatchRule::Template),
                        Some(Err(ids)) => Match::Ambiguous(ids),
                        None => Match::Ambiguous(by_template.iter().map(|c| c.id).collect()),
                    };
                }
            }
            let named: Vec<&Candidate> = same_type
                .into_iter()
                .filter(|p| p.match_name == item.match_name)
                .collect();
            match pick(&named) {
                Some(Ok(id)) => Match::Found(id, MatchRule::Name),
                Some(Err(ids)) => Match::Ambiguous(ids),
                None => Match::Missing,
            }
        })
        .collect();
    let mut claims: HashMap<Uuid, usize> = HashMap::new();
    for m in &out {
        if let Match::Found(id, rule) = m {
            if *rule != MatchRule::Explicit {
                *claims.entry(*id).or_default() += 1;
            }
        }
    }
    let explicit: std::collections::HashSet<Uuid> = out
        .iter()
        .filter_map(|m| match m {
            Match::Found(id, MatchRule::Explicit) => Some(*id),
            _ => None,
        })
        .collect();
    for m in &mut out {
        if let Match::Found(id, rule) = m {
            let claimed = claims.get(id).copied().unwrap_or(0);
            if *rule != MatchRule::Explicit && (claimed > 1 || explicit.contains(id)) {
                *m = Match::Ambiguous(vec![*id]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contracts::find_contract;
    use serde_json::json;

    fn sc() -> &'static Contract {
        find_contract("deviceManagement/configurationPolicies").unwrap()
    }
    fn classic() -> &'static Contract {
        find_contract("deviceManagement/deviceCompliancePolicies").unwrap()
    }

    fn simple(def: &str, v: Value) -> Value {
        json!({"id": "0", "settingInstance": {"settingDefinitionId": def, "simpleSettingValue": {"value": v}}})
    }

    fn choice(def: &str, v: &str, children: Value) -> Value {
        json!({"settingInstance": {"settingDefinitionId": def, "choiceSettingValue": {"value": v, "children": children}}})
    }

    fn compare(contract: &'static Contract, e: &Value, a: &Value) -> Comparison {
        ExpectedPolicy::new(contract, e, ItemRules::default())
            .compare(&comparable_settings(contract, a))
    }

    #[test]
    fn order_ids_and_metadata_never_drift() {
        let e = json!({"id": "1", "name": "P", "lastModifiedDateTime": "x", "settings": [
            simple("a", json!(1)), simple("b", json!("x")),
            {"settingInstance": {"settingDefinitionId": "c", "simpleSettingCollectionValue": [{"value": "p"}, {"value": "q"}]}}
        ]});
        let a = json!({"id": "2", "name": "P - v2", "lastModifiedDateTime": "y", "settings": [
            {"settingInstance": {"settingDefinitionId": "c", "simpleSettingCollectionValue": [{"value": "q"}, {"value": "p"}]}},
            simple("b", json!("x")), simple("a", json!(1))
        ]});
        assert!(compare(sc(), &e, &a).drifts.is_empty());
    }

    #[test]
    fn equal_digests_mean_no_drift_and_a_change_changes_the_digest() {
        let e = json!({"settings": [simple("a", json!(1)), simple("b", json!("x"))]});
        let a = json!({"settings": [simple("b", json!("x")), simple("a", json!("1"))]});
        let d = |v: &Value| settings_digest(&comparable_settings(sc(), v));
        assert_eq!(d(&e), d(&a));
        let changed = json!({"settings": [simple("b", json!("y")), simple("a", json!(1))]});
        assert_ne!(d(&e), d(&changed));
    }

    #[test]
    fn numbers_and_booleans_compare_by_value() {
        let e = json!({"displayName": "C", "passwordMinimumLength": 8, "passwordRequired": true, "x": 1.0, "blank": null});
        let a = json!({"displayName": "C", "passwordMinimumLength": "8", "passwordRequired": "True", "x": 1, "blank": ""});
        assert!(compare(classic(), &e, &a).drifts.is_empty());
        let b = json!({"displayName": "C", "passwordMinimumLength": 12, "passwordRequired": true, "x": 1});
        let c = compare(classic(), &e, &b);
        assert_eq!(c.drifts.len(), 1);
        assert_eq!(c.drifts[0].kind, DriftKind::SettingMismatch);
        assert_eq!(c.drifts[0].path.as_deref(), Some("passwordMinimumLength"));
        assert_eq!(c.drifts[0].expected, Some(json!(8)));
        assert_eq!(c.drifts[0].actual, Some(json!(12)));
        assert_eq!(c.drifts[0].severity, Severity::High);
    }

    #[test]
    fn a_removed_parent_is_one_missing_setting_and_additions_are_unexpected() {
        let e = json!({"settings": [choice("p", "p_1", json!([
            {"settingDefinitionId": "p_a", "simpleSettingValue": {"value": 1}},
            {"settingDefinitionId": "p_b", "simpleSettingValue": {"value": 2}}])),
            simple("keep", json!(true))]});
        let a = json!({"settings": [simple("keep", json!(true)), simple("new", json!(5))]});
        let c = compare(sc(), &e, &a);
        let kinds: Vec<_> = c
            .drifts
            .iter()
            .map(|d| (d.kind, d.path.clone().unwrap()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (DriftKind::UnexpectedSetting, "new".to_string()),
                (DriftKind::MissingSetting, "p".to_string()),
            ]
        );
        // The missing parent stands for itself and both children.
        let p = &c.drifts[1];
        assert_eq!(p.weight, 3 * Severity::Medium.weight());
    }

    #[test]
    fn oma_settings_are_keyed_by_uri_and_secrets_by_fingerprint() {
        let dc = find_contract("deviceManagement/deviceConfigurations").unwrap();
        let m = |f: &str| json!({"@redacted": true, "classification": "oma.encrypted", "source": "SCHEMA", "fingerprint": f});
        let e = json!({"displayName": "D", "omaSettings": [
            {"id": "1", "omaUri": "./A", "value": 1}, {"omaUri": "./B", "value": m("hmac-sha256:aa")}]});
        let a = json!({"displayName": "D", "omaSettings": [
            {"omaUri": "./b", "value": m("hmac-sha256:aa")}, {"id": "9", "omaUri": "./a", "value": "1"}]});
        assert!(compare(dc, &e, &a).drifts.is_empty());
        let changed = json!({"displayName": "D", "omaSettings": [
            {"omaUri": "./A", "value": 1}, {"omaUri": "./B", "value": m("hmac-sha256:bb")}]});
        let c = compare(dc, &e, &changed);
        assert_eq!(c.drifts.len(), 1);
        assert_eq!(c.drifts[0].path.as_deref(), Some("omaSettings[./b]"));
    }

    #[test]
    fn group_collections_are_sets_and_one_changed_entry_is_compared_inside() {
        let g = |entries: Value| json!({"settings": [{"settingInstance": {"settingDefinitionId": "rules", "groupSettingCollectionValue": entries}}]});
        let entry = |name: &str, port: i64| {
            json!({"children": [
            {"settingDefinitionId": "rules_name", "simpleSettingValue": {"value": name}},
            {"settingDefinitionId": "rules_port", "simpleSettingValue": {"value": port}}]})
        };
        let e = g(json!([entry("a", 1), entry("b", 2)]));
        let reordered = g(json!([entry("b", 2), entry("a", 1)]));
        assert!(compare(sc(), &e, &reordered).drifts.is_empty());
        let changed = g(json!([entry("b", 2), entry("a", 9)]));
        let c = compare(sc(), &e, &changed);
        assert_eq!(c.drifts.len(), 1, "{:?}", c.drifts);
        assert_eq!(c.drifts[0].kind, DriftKind::SettingMismatch);
        assert!(c.drifts[0]
            .path
            .as_deref()
            .unwrap()
            .ends_with("/rules_port"));
        let single = g(json!([entry("a", 1)]));
        let c = compare(sc(), &single, &g(json!([entry("a", 3)])));
        assert_eq!(c.drifts[0].path.as_deref(), Some("rules[0]/rules_port"));
    }

    #[test]
    fn overrides_and_ignored_paths_apply_to_children() {
        let e = json!({"settings": [choice("p", "p_1", json!([
            {"settingDefinitionId": "p_a", "simpleSettingValue": {"value": 1}}])), simple("q", json!(1))]});
        let a = json!({"settings": [choice("p", "p_1", json!([
            {"settingDefinitionId": "p_a", "simpleSettingValue": {"value": 2}}])), simple("q", json!(2))]});
        let rules = ItemRules {
            severity_overrides: vec![("p".into(), Severity::Critical)],
            ignored_paths: vec!["q".into()],
        };
        let c = ExpectedPolicy::new(sc(), &e, rules).compare(&comparable_settings(sc(), &a));
        assert_eq!(c.drifts.len(), 1);
        assert_eq!(c.drifts[0].path.as_deref(), Some("p/p_a"));
        assert_eq!(c.drifts[0].severity, Severity::Critical);
    }

    #[test]
    fn names_lose_case_spacing_and_version_suffixes() {
        assert_eq!(
            normalize_name("Win - OIB - WUfB -  Ring 1 - Pilot - v3.0"),
            "win - oib - wufb - ring 1 - pilot"
        );
        assert_eq!(
            normalize_name("win - oib - wufb - ring 1 - pilot - V3.1.1"),
            "win - oib - wufb - ring 1 - pilot"
        );
        assert_eq!(normalize_name("Policy (v2)"), "policy");
        assert_eq!(normalize_name("Ring 1"), "ring 1");
        assert_eq!(normalize_name("v2"), "v2");
        assert_eq!(normalize_name("Driver v"), "driver v");
    }

    #[test]
    fn matching_prefers_mapping_then_template_then_name_and_never_guesses() {
        let cand = |n: &str, t: Option<&str>, active: bool| Candidate {
            id: Uuid::new_v4(),
            contract_type: "c".into(),
            match_name: n.into(),
            template_id: t.map(str::to_string),
            active,
        };
        let item = |n: &str, t: Option<&str>| ItemKey {
            contract_type: "c".into(),
            match_name: n.into(),
            template_id: t.map(str::to_string),
            mapped: None,
        };
        let p = vec![
            cand("ring 1", Some("t"), true),
            cand("ring 2", Some("t"), true),
            cand("solo", Some("u"), true),
            cand("dup", None, true),
            cand("dup", None, true),
            cand("old", None, false),
            cand("ghost", None, false),
            cand("ghost", None, false),
        ];
        let items = vec![
            item("ring 2", Some("t")),
            item("renamed", Some("u")),
            item("dup", None),
            item("gone", None),
            item("old", None),
            item("ghost", None),
        ];
        let m = match_items(&items, &p);
        assert_eq!(m[0], Match::Found(p[1].id, MatchRule::Template));
        assert_eq!(m[1], Match::Found(p[2].id, MatchRule::Template));
        assert_eq!(m[2], Match::Ambiguous(vec![p[3].id, p[4].id]));
        assert_eq!(m[3], Match::Missing);
        assert_eq!(m[4], Match::Found(p[5].id, MatchRule::Name));
        // Only deleted copies left: a ghost, not an ambiguity.
        assert_eq!(m[5], Match::Found(p[6].id, MatchRule::Name));
        let mut mapped = item("dup", None);
        mapped.mapped = Some(p[4].id);
        assert_eq!(
            match_items(&[mapped], &p)[0],
            Match::Found(p[4].id, MatchRule::Explicit)
        );
    }
}
