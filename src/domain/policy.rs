//! Policy payloads: canonical form and hash, flattened settings, assignments.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{
    canonical::canonical_json,
    contracts::{is_metadata_field, Contract},
};

/// Removes `@odata.*` annotations and `#action` keys at every depth.
fn strip_annotations(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    !(k.starts_with('@') || k.contains("@odata.") || k.starts_with('#'))
                })
                .map(|(k, v)| (k.clone(), strip_annotations(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_annotations).collect()),
        other => other.clone(),
    }
}

/// The configuration part of a payload: identity/metadata fields removed per the registry,
/// annotations removed everywhere; settings catalog entries lose their positional `id` and
/// are ordered by definition id (their order carries no meaning). Assignments are included,
/// normalised (ids removed, sorted), so a changed assignment is a new version.
pub fn canonical_payload(contract: &Contract, payload: &Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(map) = payload {
        for (k, v) in map {
            if is_metadata_field(contract, k) {
                continue;
            }
            if contract.settings_catalog && k == "settings" {
                let mut items: Vec<Value> = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|item| {
                                let mut item = strip_annotations(item);
                                if let Some(o) = item.as_object_mut() {
                                    o.remove("id");
                                }
                                item
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                items.sort_by_cached_key(canonical_json);
                out.insert(k.clone(), Value::Array(items));
                continue;
            }
            out.insert(k.clone(), strip_annotations(v));
        }
    }
    let assignments = normalized_assignments(payload);
    if !assignments.is_empty() {
        out.insert("assignments".into(), Value::Array(assignments));
    }
    Value::Object(out)
}

fn normalized_assignments(payload: &Value) -> Vec<Value> {
    let mut items: Vec<Value> = payload
        .get("assignments")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| {
                    let mut x = strip_annotations(x);
                    if let Some(o) = x.as_object_mut() {
                        o.remove("id");
                        o.remove("sourceId");
                    }
                    x
                })
                .collect()
        })
        .unwrap_or_default();
    items.sort_by_cached_key(canonical_json);
    items
}

/// `sha256:` + hex of the canonical payload.
pub fn payload_hash(canonical: &Value) -> String {
    let mut h = Sha256::new();
    h.update(canonical_json(canonical).as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn is_annotation(k: &str) -> bool {
    k.starts_with('@') || k.contains("@odata.") || k.starts_with('#')
}

/// `payload_hash(&canonical_payload(contract, payload))`, computed by streaming the
/// canonical text into the hash instead of building a second tree and a string: the
/// import's hot path.
pub fn canonical_hash(contract: &Contract, payload: &Value) -> String {
    use super::canonical::{put_canonical, put_json_str, put_object, HashSink, Sink};
    let mut hasher = HashSink::default();
    let Value::Object(map) = payload else {
        put_canonical(&Value::Object(Map::new()), &is_annotation, &mut hasher);
        return hasher.finish();
    };
    let assignments = normalized_assignments(payload);
    let mut keys: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !is_metadata_field(contract, k))
        .collect();
    if !assignments.is_empty() {
        keys.push("assignments");
    }
    keys.sort_unstable();
    hasher.put("{");
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            hasher.put(",");
        }
        put_json_str(key, &mut hasher);
        hasher.put(":");
        if *key == "assignments" {
            put_canonical(
                &Value::Array(assignments.clone()),
                &is_annotation,
                &mut hasher,
            );
            continue;
        }
        let Some(v) = map.get(*key) else { continue };
        if contract.settings_catalog && *key == "settings" {
            // Each entry's canonical text (without annotations and its positional id) is
            // both its sort key and what is hashed.
            let mut items: Vec<String> = v
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|item| {
                            let mut text = String::new();
                            match item {
                                Value::Object(o) => put_object(
                                    o,
                                    &|k| k == "id" || is_annotation(k),
                                    &is_annotation,
                                    &mut text,
                                ),
                                other => put_canonical(other, &is_annotation, &mut text),
                            }
                            text
                        })
                        .collect()
                })
                .unwrap_or_default();
            items.sort_unstable();
            hasher.put("[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    hasher.put(",");
                }
                hasher.put(item);
            }
            hasher.put("]");
            continue;
        }
        put_canonical(v, &is_annotation, &mut hasher);
    }
    hasher.put("}");
    hasher.finish()
}

/// One flattened setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlatSetting {
    /// Path: definition ids joined by `/` (settings catalog, `[i]` for group collections),
    /// dotted property names (classic), `omaSettings[<omaUri>]` for OMA settings.
    pub path: String,
    /// Settings catalog definition id.
    pub definition_id: Option<String>,
    pub value: Value,
    /// `choice`, `string`, `integer`, `boolean`, `number`, `object`, `list`, `collection`,
    /// `null`, or `secret` (the value is a redaction marker).
    pub value_type: String,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn simple_value_type(value: &Value) -> String {
    let t = value
        .get("@odata.type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let t = t.rsplit('.').next().unwrap_or("");
    let t = t
        .strip_prefix("deviceManagementConfiguration")
        .and_then(|t| t.strip_suffix("SettingValue"))
        .unwrap_or("");
    match t {
        "" => json_type(value.get("value").unwrap_or(&Value::Null)).to_string(),
        other => other.to_ascii_lowercase(),
    }
}

fn walk_instance(instance: &Value, prefix: &str, out: &mut Vec<FlatSetting>) {
    let Some(def) = instance.get("settingDefinitionId").and_then(Value::as_str) else {
        return;
    };
    let path = if prefix.is_empty() {
        def.to_string()
    } else {
        format!("{prefix}/{def}")
    };
    let push = |out: &mut Vec<FlatSetting>, value: Value, value_type: String| {
        out.push(FlatSetting {
            path: path.clone(),
            definition_id: Some(def.to_string()),
            value,
            value_type,
        })
    };
    if let Some(choice) = instance.get("choiceSettingValue") {
        push(
            out,
            choice.get("value").cloned().unwrap_or(Value::Null),
            "choice".into(),
        );
        for child in choice
            .get("children")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk_instance(child, &path, out);
        }
    } else if let Some(simple) = instance.get("simpleSettingValue") {
        push(
            out,
            simple.get("value").cloned().unwrap_or(Value::Null),
            simple_value_type(simple),
        );
    } else if let Some(values) = instance
        .get("simpleSettingCollectionValue")
        .and_then(Value::as_array)
    {
        let vals = values
            .iter()
            .map(|v| v.get("value").cloned().unwrap_or(Value::Null))
            .collect();
        push(out, Value::Array(vals), "collection".into());
    } else if let Some(values) = instance
        .get("choiceSettingCollectionValue")
        .and_then(Value::as_array)
    {
        let vals = values
            .iter()
            .map(|v| v.get("value").cloned().unwrap_or(Value::Null))
            .collect();
        push(out, Value::Array(vals), "collection".into());
        for (i, v) in values.iter().enumerate() {
            for child in v
                .get("children")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                walk_instance(child, &format!("{path}[{i}]"), out);
            }
        }
    } else if let Some(groups) = instance
        .get("groupSettingCollectionValue")
        .and_then(Value::as_array)
    {
        for (i, g) in groups.iter().enumerate() {
            for child in g
                .get("children")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                walk_instance(child, &format!("{path}[{i}]"), out);
            }
        }
    } else if let Some(group) = instance.get("groupSettingValue") {
        for child in group
            .get("children")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk_instance(child, &path, out);
        }
    }
}

fn walk_classic(key: &str, value: &Value, out: &mut Vec<FlatSetting>) {
    match value {
        // A redacted secret is one setting, compared by its fingerprint.
        marker if super::secrets::is_marker(marker) => out.push(FlatSetting {
            path: key.to_string(),
            definition_id: None,
            value_type: "secret".to_string(),
            value: marker.clone(),
        }),
        Value::Object(map) => {
            for (k, v) in map {
                if k.starts_with('@') || k.contains("@odata.") {
                    continue;
                }
                walk_classic(&format!("{key}.{k}"), v, out);
            }
        }
        Value::Array(items)
            if !items.is_empty()
                && items
                    .iter()
                    .all(|i| i.get("omaUri").and_then(Value::as_str).is_some()) =>
        {
            for item in items {
                let uri = item.get("omaUri").and_then(Value::as_str).unwrap_or("");
                let v = item.get("value").cloned().unwrap_or(Value::Null);
                out.push(FlatSetting {
                    path: format!("{key}[{uri}]"),
                    definition_id: None,
                    value_type: json_type(&v).to_string(),
                    value: v,
                });
            }
        }
        other => out.push(FlatSetting {
            path: key.to_string(),
            definition_id: None,
            value_type: json_type(other).to_string(),
            value: strip_annotations(other),
        }),
    }
}

/// The payload's settings, one entry per configured value.
pub fn flatten_settings(contract: &Contract, payload: &Value) -> Vec<FlatSetting> {
    let mut out = Vec::new();
    if contract.settings_catalog {
        for item in payload
            .get("settings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(instance) = item.get("settingInstance") {
                walk_instance(instance, "", &mut out);
            }
        }
    } else if let Value::Object(map) = payload {
        for (k, v) in map {
            if is_metadata_field(contract, k) {
                continue;
            }
            walk_classic(k, v, &mut out);
        }
    }
    // A redacted value reads the same wherever it sits: the marker, type `secret`.
    for s in &mut out {
        if super::secrets::is_marker(&s.value) {
            s.value_type = "secret".into();
        }
    }
    out
}

/// One assignment as exported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// e.g. `groupAssignmentTarget`, `exclusionGroupAssignmentTarget`, `allDevicesAssignmentTarget`.
    pub target_type: String,
    pub group_id: Option<String>,
    pub filter_id: Option<String>,
    /// `include`, `exclude` or `none`.
    pub filter_mode: Option<String>,
    pub intent: Option<String>,
}

/// The payload's assignments.
pub fn assignments(payload: &Value) -> Vec<Assignment> {
    payload
        .get("assignments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            let target = a.get("target").unwrap_or(&Value::Null);
            let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            let target_type = s(target, "@odata.type")
                .map(|t| t.rsplit('.').next().unwrap_or(&t).to_string())
                .unwrap_or_else(|| "unknown".into());
            Assignment {
                target_type,
                group_id: s(target, "groupId"),
                filter_id: s(target, "deviceAndAppManagementAssignmentFilterId")
                    .filter(|f| f != "00000000-0000-0000-0000-000000000000"),
                filter_mode: s(target, "deviceAndAppManagementAssignmentFilterType"),
                intent: s(a, "intent"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contracts::find_contract;
    use serde_json::json;

    fn sc() -> &'static Contract {
        find_contract("deviceManagement/configurationPolicies").unwrap()
    }

    #[test]
    fn metadata_and_order_do_not_change_the_hash() {
        let a = json!({"id": "1", "name": "P", "createdDateTime": "x", "platforms": "windows10",
        "settings": [
            {"id": "0", "settingInstance": {"settingDefinitionId": "a", "simpleSettingValue": {"value": 1}}},
            {"id": "1", "settingInstance": {"settingDefinitionId": "b", "simpleSettingValue": {"value": 2}}}
        ]});
        let b = json!({"platforms": "windows10", "name": "P", "id": "2", "lastModifiedDateTime": "y",
        "settings": [
            {"id": "7", "settingInstance": {"settingDefinitionId": "b", "simpleSettingValue": {"value": 2}}},
            {"id": "8", "settingInstance": {"settingDefinitionId": "a", "simpleSettingValue": {"value": 1}}}
        ]});
        assert_eq!(
            payload_hash(&canonical_payload(sc(), &a)),
            payload_hash(&canonical_payload(sc(), &b))
        );
        let c = json!({"name": "P", "platforms": "windows10", "settings": [
            {"settingInstance": {"settingDefinitionId": "a", "simpleSettingValue": {"value": 3}}},
            {"settingInstance": {"settingDefinitionId": "b", "simpleSettingValue": {"value": 2}}}]});
        assert_ne!(
            payload_hash(&canonical_payload(sc(), &a)),
            payload_hash(&canonical_payload(sc(), &c))
        );
    }

    #[test]
    fn the_streamed_hash_equals_the_hash_of_the_canonical_payload() {
        let p = json!({"id": "1", "name": "P \"x\" é", "platforms": "windows10", "x@odata.type": "t",
            "settings": [
                {"id": "1", "@odata.type": "s", "settingInstance": {"settingDefinitionId": "b", "simpleSettingValue": {"@odata.type": "#v", "value": "z\n"}}},
                {"id": "0", "settingInstance": {"settingDefinitionId": "a", "choiceSettingValue": {"value": 1, "children": []}}}
            ],
            "assignments": [{"id": "q", "target": {"@odata.type": "#g", "groupId": "g2"}}, {"id": "r", "target": {"groupId": "g1"}}]});
        assert_eq!(
            canonical_hash(sc(), &p),
            payload_hash(&canonical_payload(sc(), &p))
        );
        let classic = find_contract("deviceManagement/deviceConfigurations").unwrap();
        let c = json!({"id": "x", "displayName": "D", "omaSettings": [{"@odata.type": "#o", "omaUri": "./a", "value": 1}], "assignments": []});
        assert_eq!(
            canonical_hash(classic, &c),
            payload_hash(&canonical_payload(classic, &c))
        );
    }

    #[test]
    fn settings_catalog_flattens_choices_children_and_groups() {
        let p = json!({"settings": [{"settingInstance": {
        "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
        "settingDefinitionId": "ntp",
        "choiceSettingValue": {"value": "ntp_1", "children": [
            {"settingDefinitionId": "ntp_server", "simpleSettingValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationStringSettingValue", "value": "time.windows.com"}},
            {"settingDefinitionId": "ntp_list", "simpleSettingCollectionValue": [{"value": "a"}, {"value": "b"}]},
            {"settingDefinitionId": "grp", "groupSettingCollectionValue": [{"children": [
                {"settingDefinitionId": "leaf", "simpleSettingValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationIntegerSettingValue", "value": 5}}]}]}
        ]}}}]});
        let flat = flatten_settings(sc(), &p);
        let paths: Vec<_> = flat
            .iter()
            .map(|f| (f.path.as_str(), f.value_type.as_str()))
            .collect();
        assert_eq!(
            paths,
            vec![
                ("ntp", "choice"),
                ("ntp/ntp_server", "string"),
                ("ntp/ntp_list", "collection"),
                ("ntp/grp[0]/leaf", "integer"),
            ]
        );
        assert_eq!(flat[1].value, json!("time.windows.com"));
        assert_eq!(flat[1].definition_id.as_deref(), Some("ntp_server"));
    }

    #[test]
    fn classic_policies_flatten_by_dotted_path_and_oma_uri() {
        let c = find_contract("deviceManagement/deviceConfigurations").unwrap();
        let p = json!({"id": "x", "displayName": "D", "passwordMinimumLength": 8,
            "nested": {"a": {"b": true}},
            "omaSettings": [{"omaUri": "./Device/Vendor/MSFT/Policy/Config/X", "value": 1}],
            "roleScopeTagIds": ["0"]});
        let flat = flatten_settings(c, &p);
        let paths: Vec<_> = flat.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&"passwordMinimumLength"));
        assert!(paths.contains(&"nested.a.b"));
        assert!(paths.contains(&"omaSettings[./Device/Vendor/MSFT/Policy/Config/X]"));
        assert!(!paths
            .iter()
            .any(|p| p.starts_with("roleScopeTagIds") || *p == "id"));
    }

    #[test]
    fn assignments_are_read_as_exported() {
        let p = json!({"assignments": [{"id": "x", "intent": "apply", "target": {
            "@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": "g1",
            "deviceAndAppManagementAssignmentFilterId": "f1", "deviceAndAppManagementAssignmentFilterType": "include"}}]});
        let a = assignments(&p);
        assert_eq!(a[0].target_type, "groupAssignmentTarget");
        assert_eq!(a[0].group_id.as_deref(), Some("g1"));
        assert_eq!(a[0].filter_mode.as_deref(), Some("include"));
    }
}
