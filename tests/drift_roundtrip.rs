//! No false drift: every corpus policy compared with itself after a re-export round trip
//! (ids, timestamps, group ids, key order and list order changed) has no drift, while a
//! changed value in it is found. Pure domain code; the API-level counterpart is in
//! `tests/findings.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{json, Value};
use tenantatlas::{
    domain::{
        contracts::classify,
        drift::{comparable_settings, ExpectedPolicy, ItemRules, Setting},
    },
    providers::export_dir::decode_text,
};

/// A re-export: new ids and group ids, new timestamps, every list reversed, keys rebuilt
/// in reverse order.
fn reexport(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, val) in map.iter().rev() {
                let new = match (k.as_str(), val) {
                    ("id" | "groupId", Value::String(_)) => json!(uuid::Uuid::new_v4().to_string()),
                    ("createdDateTime" | "lastModifiedDateTime", Value::String(_)) => {
                        json!("2026-11-30T08:00:00.1234567Z")
                    }
                    ("roleScopeTagIds", _) => json!(["7"]),
                    _ => reexport(val),
                };
                out.insert(k.clone(), new);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().rev().map(reexport).collect()),
        other => other.clone(),
    }
}

/// Changes the first configured scalar it finds (depth first), returning whether it did.
fn change_one_value(v: &mut Value, keys: &[&str]) -> bool {
    match v {
        Value::Object(map) => {
            for k in keys {
                if let Some(Value::String(s)) = map.get_mut(*k) {
                    s.push_str("_changed");
                    return true;
                }
                if let Some(Value::Number(n)) = map.get(*k).cloned() {
                    map.insert(k.to_string(), json!(n.as_f64().unwrap_or(0.0) + 7.0));
                    return true;
                }
                if let Some(Value::Bool(b)) = map.get(*k).cloned() {
                    map.insert(k.to_string(), json!(!b));
                    return true;
                }
            }
            map.values_mut().any(|x| change_one_value(x, keys))
        }
        Value::Array(items) => items.iter_mut().any(|x| change_one_value(x, keys)),
        _ => false,
    }
}

#[test]
fn every_corpus_policy_round_trips_without_drift_and_a_changed_value_is_found() {
    let Some(corpus) = common::corpus_dir() else {
        return;
    };
    let mut checked = 0;
    let mut mutated = 0;
    let mut settings_seen = 0;
    for folder in std::fs::read_dir(&corpus).unwrap() {
        let folder = folder.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        let folder_name = folder.file_name().unwrap().to_string_lossy().to_string();
        for file in std::fs::read_dir(&folder).unwrap() {
            let path = file.unwrap().path();
            let text = decode_text(&std::fs::read(&path).unwrap()).unwrap();
            let payload: Value = serde_json::from_str(&text).unwrap();
            let contract = classify(&payload, Some(&folder_name)).unwrap();
            let expected = ExpectedPolicy::new(contract, &payload, ItemRules::default());
            let settings = comparable_settings(contract, &payload);
            assert!(!settings.is_empty(), "{} has settings", path.display());
            settings_seen += settings.len();

            // Round trip: no drift.
            let again = reexport(&payload);
            let c = expected.compare(&comparable_settings(contract, &again));
            assert!(
                c.drifts.is_empty(),
                "{}: false drift {:#?}",
                path.display(),
                c.drifts
            );
            assert!(c.check_weight > 0);

            // A changed value: found, with expected and actual.
            let mut changed = again.clone();
            let keys: &[&str] = if contract.settings_catalog {
                &["value"]
            } else {
                &[
                    "passwordMinimumLength",
                    "qualityUpdatesDeferralPeriodInDays",
                    "approvalType",
                    "deploymentDeferralInDays",
                    "value",
                    "passwordRequired",
                    "bitLockerEnabled",
                    "deferredUpdatesPeriodInDays",
                    "allowDeviceHealthMonitoring",
                ]
            };
            if change_one_value(&mut changed, keys) {
                let c = expected.compare(&comparable_settings(contract, &changed));
                assert!(
                    !c.drifts.is_empty(),
                    "{}: a changed value goes unseen",
                    path.display()
                );
                assert!(c
                    .drifts
                    .iter()
                    .all(|d| d.expected.is_some() || d.actual.is_some()));
                mutated += 1;
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 70, "the corpus has 70 policies");
    assert_eq!(mutated, 70, "every policy had a value changed and found");
    assert!(settings_seen > 1000, "{settings_seen} settings compared");
}

#[test]
fn group_collections_of_the_corpus_are_compared_as_sets() {
    let Some(corpus) = common::corpus_dir() else {
        return;
    };
    // The firewall and local-group policies hold unordered group collections.
    let path = corpus.join("SettingsCatalog/Win - OIB - ES - Local Group Membership - D - Local Administrators - v3.7.json");
    let payload: Value =
        serde_json::from_str(&decode_text(&std::fs::read(path).unwrap()).unwrap()).unwrap();
    let contract = classify(&payload, Some("SettingsCatalog")).unwrap();
    let settings = comparable_settings(contract, &payload);
    assert!(
        settings
            .values()
            .any(|s| matches!(s, Setting::Group { .. })),
        "a group collection is read as a set"
    );
}
