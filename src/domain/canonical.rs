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

/// A SHA-256 fed in large blocks: canonical text arrives in many tiny pieces.
pub struct HashSink {
    buf: Vec<u8>,
    hasher: sha2::Sha256,
}

impl Default for HashSink {
    fn default() -> Self {
        Self {
            buf: Vec::with_capacity(Self::BLOCK),
            hasher: sha2::Sha256::default(),
        }
    }
}

impl HashSink {
    const BLOCK: usize = 32 * 1024;

    /// `sha256:` + hex of everything written.
    pub fn finish(mut self) -> String {
        sha2::Digest::update(&mut self.hasher, &self.buf);
        format!(
            "sha256:{}",
            hex::encode(sha2::Digest::finalize(self.hasher))
        )
    }
}

impl Sink for HashSink {
    fn put(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
        if self.buf.len() >= Self::BLOCK {
            sha2::Digest::update(&mut self.hasher, &self.buf);
            self.buf.clear();
        }
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
        Value::Object(map) => put_object(map, &|k| skip(k), skip, sink),
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
        Value::Null => sink.put("null"),
        Value::Bool(true) => sink.put("true"),
        Value::Bool(false) => sink.put("false"),
        Value::Number(n) => sink.put(&n.to_string()),
    }
}

/// Writes an object canonically, leaving out its own keys for which `skip_here` is true
/// and, below it, keys for which `skip` is true.
pub fn put_object(
    map: &serde_json::Map<String, Value>,
    skip_here: &dyn Fn(&str) -> bool,
    skip: &dyn Fn(&str) -> bool,
    sink: &mut dyn Sink,
) {
    // serde_json's map is a BTreeMap (no `preserve_order`): it iterates in key order,
    // which is the canonical order (checked by a test).
    sink.put("{");
    let mut first = true;
    for (key, v) in map.iter().filter(|(k, _)| !skip_here(k)) {
        if !first {
            sink.put(",");
        }
        first = false;
        put_json_str(key, sink);
        sink.put(":");
        put_canonical(v, skip, sink);
    }
    sink.put("}");
}

/// JSON text without insignificant whitespace, and the number of object members in it
/// (colons outside strings). `text` must already be valid JSON (the caller parses the
/// result); this only removes the spaces, tabs and line breaks between tokens.
pub fn minify_json(text: &str) -> (String, usize) {
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut members = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\n' | b'\r' | b'\t' => i += 1,
            b'"' => {
                // Copy the whole string literal, escapes included.
                let start = i;
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\\' => i += 2,
                        _ => i += 1,
                    }
                }
                out.extend_from_slice(&bytes[start..i.min(bytes.len())]);
            }
            b => {
                if b == b':' {
                    members += 1;
                }
                // Runs of other token bytes (numbers, literals, punctuation) at once.
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b' ' | b'\n' | b'\r' | b'\t' | b'"') {
                    if bytes[i] == b':' && i > start {
                        members += 1;
                    }
                    i += 1;
                }
                out.extend_from_slice(&bytes[start..i]);
            }
        }
    }
    // Only whole ASCII bytes were removed, outside strings: still UTF-8.
    (
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        members,
    )
}

/// The number of object members in a value, at every depth.
pub fn count_members(value: &Value) -> usize {
    match value {
        Value::Object(map) => map.len() + map.values().map(count_members).sum::<usize>(),
        Value::Array(items) => items.iter().map(count_members).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod minify_tests {
    use super::*;

    #[test]
    fn whitespace_between_tokens_goes_and_strings_stay() {
        let text = "{\n    \"a b\": \"x : y \\\" \\\\\",\r\n\t\"n\": [ 1 , -2.5e3, true, null ],\n \"o\": { \"k\":{} } }";
        let (min, members) = minify_json(text);
        assert_eq!(
            min,
            r#"{"a b":"x : y \" \\","n":[1,-2.5e3,true,null],"o":{"k":{}}}"#
        );
        let parsed: Value = serde_json::from_str(&min).unwrap();
        assert_eq!(parsed, serde_json::from_str::<Value>(text).unwrap());
        assert_eq!(members, 4);
        assert_eq!(count_members(&parsed), 4);
    }

    #[test]
    fn duplicate_keys_show_as_a_member_count_mismatch() {
        let (min, members) = minify_json(r#"{"k": "secret", "k": "****"}"#);
        let parsed: Value = serde_json::from_str(&min).unwrap();
        assert_eq!(members, 2);
        assert_eq!(count_members(&parsed), 1);
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

    #[test]
    fn maps_iterate_in_key_order() {
        // put_object relies on it; serde_json's `preserve_order` feature would break it.
        let v: Value = serde_json::from_str(r#"{"b":1,"a":2,"B":3,"é":4,"aa":5}"#).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn hash_sink_equals_hashing_the_text() {
        use sha2::Digest;
        let big = json!({"k": "x".repeat(100_000), "l": [1, 2, 3]});
        let mut sink = HashSink::default();
        put_canonical(&big, &|_| false, &mut sink);
        let text = canonical_json(&big);
        assert_eq!(
            sink.finish(),
            format!(
                "sha256:{}",
                hex::encode(sha2::Sha256::digest(text.as_bytes()))
            )
        );
    }
}
