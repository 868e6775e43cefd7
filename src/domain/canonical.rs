//! Canonical JSON: object keys sorted, no insignificant whitespace. Hashes (audit chain,
//! later policy payloads) are computed over this form so they do not depend on how a map
//! happened to be ordered.
use serde_json::Value;

/// Serialises `value` canonically.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(*key) {
                    write_value(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_change_the_canonical_form() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[1,2],"x":"s"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":"s","y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&a), r#"{"a":{"x":"s","y":[1,2]},"b":1}"#);
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(canonical_json(&json!({"k": "a\"b\n"})), r#"{"k":"a\"b\n"}"#);
    }
}

/// Where canonical text goes: a string, or straight into a hash.
pub trait Sink {
    fn put(&mut self, s: &str);
}

impl Sink for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
}

impl Sink for sha2::Sha256 {
    fn put(&mut self, s: &str) {
        sha2::Digest::update(self, s.as_bytes());
    }
}

/// Writes `s` as a JSON string literal, escaped exactly as serde_json does.
pub fn put_json_str(s: &str, sink: &mut dyn Sink) {
    sink.put("\"");
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0x00..=0x1f => None,
            _ => continue,
        };
        sink.put(&s[start..i]);
        match esc {
            Some(e) => sink.put(e),
            None => sink.put(&format!("\\u{:04x}", b)),
        }
        start = i + 1;
    }
    sink.put(&s[start..]);
    sink.put("\"");
}

/// Writes `value` canonically, leaving out object keys for which `skip` is true (at every
/// depth). With `skip` always false this is [`canonical_json`].
pub fn put_canonical(value: &Value, skip: &dyn Fn(&str) -> bool, sink: &mut dyn Sink) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().filter(|k| !skip(k)).collect();
            keys.sort();
            sink.put("{");
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    sink.put(",");
                }
                put_json_str(key, sink);
                sink.put(":");
                if let Some(v) = map.get(*key) {
                    put_canonical(v, skip, sink);
                }
            }
            sink.put("}");
        }
        Value::Array(items) => {
            sink.put("[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sink.put(",");
                }
                put_canonical(item, skip, sink);
            }
            sink.put("]");
        }
        Value::String(s) => put_json_str(s, sink),
        other => sink.put(&other.to_string()),
    }
}

#[cfg(test)]
mod streaming_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn streaming_output_equals_canonical_json() {
        let v = json!({"z": "a\"b\\c\n\t\u{1}\u{7f}é😀", "a": [1, 2.5, -3, null, true, {"y": {}, "x": []}], "m": 1e300});
        let mut out = String::new();
        put_canonical(&v, &|_| false, &mut out);
        assert_eq!(out, canonical_json(&v));
    }
}
