//! Export folders as IntuneManagement writes them (one folder per kind, one JSON object
//! per file), and the portal's JSON exports (a single object, an array, or a Graph
//! `{"value": [...]}` page). Files may be UTF-16 LE/BE with BOM or UTF-8 with or without BOM.
use std::{
    collections::BTreeSet,
    path::{Component, Path, PathBuf},
};

use serde_json::Value;

use super::{ItemProblem, PolicySource, RawPolicy, SourceItem, SourcePlan};
use crate::domain::{
    canonical::{count_members, minify_json},
    contracts::{self, classify, contracts_for_folder},
};

/// Largest file read (a settings catalog export of Office security is about 1 MB).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Why a configured path is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRefused(pub String);

/// Resolves `requested` (absolute, or relative to `root`) to a directory inside `root`.
/// Refuses `..` components, anything that resolves (through symlinks) outside the root,
/// and paths that are not existing directories.
pub fn resolve_under_root(root: &Path, requested: &str) -> Result<PathBuf, PathRefused> {
    let root = root
        .canonicalize()
        .map_err(|_| PathRefused("the server's import root does not exist".into()))?;
    let requested_path = Path::new(requested.trim());
    if requested.trim().is_empty() {
        return Err(PathRefused("must not be empty".into()));
    }
    if requested_path
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(PathRefused("must not contain '..'".into()));
    }
    let joined = if requested_path.is_absolute() {
        // Judged before touching the file system, so the answer says nothing about
        // whether a path outside the root exists.
        if !requested_path.starts_with(&root) {
            return Err(PathRefused(
                "must be inside the server's import root".into(),
            ));
        }
        requested_path.to_path_buf()
    } else {
        root.join(requested_path)
    };
    let resolved = joined
        .canonicalize()
        .map_err(|_| PathRefused("no such directory under the import root".into()))?;
    if !resolved.starts_with(&root) {
        return Err(PathRefused(
            "must be inside the server's import root".into(),
        ));
    }
    if !resolved.is_dir() {
        return Err(PathRefused("is not a directory".into()));
    }
    Ok(resolved)
}

/// Decodes a file's bytes: UTF-16 LE/BE with BOM, UTF-8 with or without BOM.
pub fn decode_text(bytes: &[u8]) -> Result<String, String> {
    fn utf16(bytes: &[u8], le: bool) -> Result<String, String> {
        if !bytes.len().is_multiple_of(2) {
            return Err("UTF-16 text with an odd number of bytes".into());
        }
        // Exports are mostly ASCII: eight units at a time are checked at once and copied as
        // bytes; anything else goes through the standard decoder.
        // Per unit: the high byte must be 0 and the low byte below 0x80.
        let ascii_mask: u128 = if le {
            0xFF80_FF80_FF80_FF80_FF80_FF80_FF80_FF80
        } else {
            0x80FF_80FF_80FF_80FF_80FF_80FF_80FF_80FF
        };
        let (lo, hi) = if le { (0, 1) } else { (1, 0) };
        let mut out: Vec<u8> = Vec::with_capacity(bytes.len() / 2);
        let mut rest = bytes;
        while !rest.is_empty() {
            if let Some((chunk, tail)) = rest.split_first_chunk::<16>() {
                if u128::from_le_bytes(*chunk) & ascii_mask == 0 {
                    let c = chunk;
                    out.extend_from_slice(&[
                        c[lo],
                        c[lo + 2],
                        c[lo + 4],
                        c[lo + 6],
                        c[lo + 8],
                        c[lo + 10],
                        c[lo + 12],
                        c[lo + 14],
                    ]);
                    rest = tail;
                    continue;
                }
            }
            let unit = u16::from_le_bytes([rest[lo], rest[hi]]);
            if unit < 0x80 {
                out.push(unit as u8);
                rest = &rest[2..];
                continue;
            }
            let (len, decoded) = if (0xD800..0xDC00).contains(&unit) && rest.len() >= 4 {
                let second = u16::from_le_bytes([rest[2 + lo], rest[2 + hi]]);
                (4, char::decode_utf16([unit, second]).next())
            } else {
                (2, char::decode_utf16([unit]).next())
            };
            match decoded {
                Some(Ok(c)) => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    rest = &rest[len..];
                }
                _ => return Err("invalid UTF-16 text".into()),
            }
        }
        String::from_utf8(out).map_err(|_| "invalid UTF-16 text".to_string())
    }
    match bytes {
        [] => Err("empty file".into()),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        [0xEF, 0xBB, 0xBF, rest @ ..] => {
            String::from_utf8(rest.to_vec()).map_err(|_| "invalid UTF-8 text".to_string())
        }
        _ => {
            if bytes.len() >= 2 && (bytes[0] == 0 || bytes[1] == 0) {
                return Err(
                    "looks like UTF-16 without a byte-order mark; re-export it with one".into(),
                );
            }
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                "not text: neither UTF-8 nor UTF-16 with a byte-order mark".to_string()
            })
        }
    }
}

/// A folder of export files under the import root.
pub struct ExportDir {
    root: PathBuf,
}

impl ExportDir {
    /// `dir` must already be resolved with [`resolve_under_root`].
    pub fn new(dir: PathBuf) -> Self {
        Self { root: dir }
    }

    fn walk(
        &self,
        dir: &Path,
        depth: usize,
        top: Option<&str>,
        visited: &mut std::collections::HashSet<PathBuf>,
        plan: &mut SourcePlan,
    ) -> Result<(), String> {
        let taint = |plan: &mut SourcePlan| {
            plan.tainted.insert(top.map(str::to_string));
        };
        // A symlink loop would list the same folder again and again.
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        if !visited.insert(canonical) {
            plan.warnings.push((
                self.rel(dir),
                "folder already listed (symlink loop); skipped".into(),
            ));
            taint(plan);
            return Ok(());
        }
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", self.rel(dir)))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let rel = self.rel(&path);
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    plan.warnings.push((rel, format!("cannot read: {e}")));
                    taint(plan);
                    continue;
                }
            };
            // Symlinks are followed only while they stay inside the export folder.
            let target = if meta.file_type().is_symlink() {
                match path.canonicalize() {
                    Ok(t) if t.starts_with(&self.root) => t,
                    _ => {
                        plan.warnings.push((
                            rel,
                            "symlink points outside the export folder; skipped".into(),
                        ));
                        taint(plan);
                        continue;
                    }
                }
            } else {
                path.clone()
            };
            if target.is_dir() {
                if depth >= 4 {
                    plan.warnings
                        .push((rel, "nested too deeply; skipped".into()));
                    taint(plan);
                    continue;
                }
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_string();
                // Only folders directly under the root say what the export lists.
                let next_top = match top {
                    Some(t) => t.to_string(),
                    None => {
                        for c in contracts_for_folder(&name) {
                            plan.listed.insert(c.collection);
                        }
                        plan.folders.insert(name.clone());
                        name
                    }
                };
                if let Err(e) = self.walk(&target, depth + 1, Some(&next_top), visited, plan) {
                    plan.warnings.push((rel, e));
                    plan.tainted.insert(Some(next_top));
                }
                continue;
            }
            // FIFOs, sockets and devices would block or never end: regular files only.
            if !std::fs::metadata(&target).is_ok_and(|m| m.is_file()) {
                plan.warnings
                    .push((rel, "not a regular file; skipped".into()));
                taint(plan);
                continue;
            }
            let is_json = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("json"));
            if !is_json {
                // Scripts and notes next to exports are common; they are reported, and
                // they are not policies, so they do not block deletions.
                plan.warnings
                    .push((rel, "not a .json file; skipped".into()));
                continue;
            }
            let folder = path
                .parent()
                .filter(|p| *p != self.root)
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str())
                .map(str::to_string);
            plan.items.push(SourceItem {
                name: rel,
                path: target,
                folder,
                top_folder: top.map(str::to_string),
            });
        }
        Ok(())
    }

    fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }
}

impl PolicySource for ExportDir {
    fn plan(&self) -> Result<SourcePlan, String> {
        let mut plan = SourcePlan::default();
        let mut visited = std::collections::HashSet::new();
        self.walk(&self.root, 0, None, &mut visited, &mut plan)?;
        Ok(plan)
    }

    fn read(&self, item: &SourceItem) -> Result<Vec<RawPolicy>, ItemProblem> {
        // Checked again at read time: since it was listed, the file may have become a
        // symlink out of the folder, or a FIFO (which would block forever).
        let resolved = item
            .path
            .canonicalize()
            .map_err(|e| ItemProblem(format!("cannot read: {e}")))?;
        if !resolved.starts_with(&self.root) {
            return Err(ItemProblem(
                "now points outside the export folder; skipped".into(),
            ));
        }
        let file =
            std::fs::File::open(&resolved).map_err(|e| ItemProblem(format!("cannot read: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| ItemProblem(format!("cannot read: {e}")))?;
        if !meta.is_file() {
            return Err(ItemProblem("not a regular file; skipped".into()));
        }
        let mut bytes = Vec::with_capacity(meta.len().min(MAX_FILE_BYTES) as usize);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_FILE_BYTES + 1),
            &mut bytes,
        )
        .map_err(|e| ItemProblem(format!("cannot read: {e}")))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(ItemProblem(format!(
                "larger than {} MB",
                MAX_FILE_BYTES / 1024 / 1024
            )));
        }
        let text = decode_text(&bytes).map_err(ItemProblem)?;
        if text.trim().is_empty() {
            return Err(ItemProblem("empty file".into()));
        }
        if text.contains("\\u0000") {
            return Err(ItemProblem(
                "contains a NUL character (\\u0000), which cannot be stored; fix the export".into(),
            ));
        }
        let (compact, members) = minify_json(&text);
        let parsed: Result<Value, _> = serde_json::from_str(&compact);
        // Errors are located in the text as exported.
        let value: Value = parsed
            .or_else(|_| serde_json::from_str(&text))
            .map_err(|e| {
                let kind = match e.classify() {
                    serde_json::error::Category::Eof => "truncated",
                    serde_json::error::Category::Syntax => "syntax error",
                    serde_json::error::Category::Data => "unexpected data",
                    serde_json::error::Category::Io => "read error",
                };
                ItemProblem(format!(
                    "invalid JSON ({kind}) at line {} column {}",
                    e.line(),
                    e.column()
                ))
            })?;
        let mut verbatim = None;
        let objects: Vec<Value> = match value {
            Value::Object(map) if map.contains_key("@odata.nextLink") => {
                drop(map);
                return Err(ItemProblem(
                    "a Graph page with @odata.nextLink is only part of a listing; export every page".into(),
                ));
            }
            Value::Array(items) => items,
            Value::Object(mut map)
                if map.get("value").is_some_and(Value::is_array) && !map.contains_key("id") =>
            {
                match map.remove("value") {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                }
            }
            obj @ Value::Object(_) => {
                // A single policy: its compact text can be stored as is.
                if count_members(&obj) == members {
                    verbatim = Some(compact);
                }
                vec![obj]
            }
            _ => return Err(ItemProblem("not a JSON object or array of objects".into())),
        };
        let mut out = Vec::with_capacity(objects.len());
        let mut ids = BTreeSet::new();
        for (i, payload) in objects.into_iter().enumerate() {
            let at = if out.is_empty() && i == 0 {
                String::new()
            } else {
                format!(" (item {i})")
            };
            if !payload.is_object() {
                return Err(ItemProblem(format!("item {i} is not a JSON object")));
            }
            let contract = classify(&payload, item.folder.as_deref()).ok_or_else(|| {
                let t = payload
                    .get("@odata.type")
                    .and_then(Value::as_str)
                    .unwrap_or("none");
                ItemProblem(format!("unknown policy type{at}: @odata.type {t}"))
            })?;
            let external_id = payload
                .get("id")
                .and_then(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .or_else(|| v.as_i64().map(|n| n.to_string()))
                })
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| ItemProblem(format!("no id{at}")))?;
            if !ids.insert((contract.collection, external_id.clone())) {
                return Err(ItemProblem(format!("duplicate id {external_id}{at}")));
            }
            let display_name =
                contracts::display_name(contract, &payload).unwrap_or_else(|| external_id.clone());
            out.push(RawPolicy {
                contract,
                platform: contracts::platform(contract, &payload),
                odata_type: payload
                    .get("@odata.type")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                external_id,
                display_name,
                payload,
                text: verbatim.take(),
                origin: item.name.clone(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_supported_encoding() {
        let text = "{\"a\":\"ü\"}";
        let mut le = vec![0xFF, 0xFE];
        le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
        let mut be = vec![0xFE, 0xFF];
        be.extend(text.encode_utf16().flat_map(|u| u.to_be_bytes()));
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend(text.as_bytes());
        for bytes in [le, be, bom, text.as_bytes().to_vec()] {
            assert_eq!(decode_text(&bytes).unwrap(), text);
        }
        assert!(decode_text(&[]).is_err());
        assert!(decode_text(&[0x00, 0x7B, 0x00]).is_err());
        assert!(decode_text(&[0xC3, 0x28, 0xFF]).is_err());
        let emoji = "{\"e\":\"😀ß\"}";
        let mut le = vec![0xFF, 0xFE];
        le.extend(emoji.encode_utf16().flat_map(|u| u.to_le_bytes()));
        assert_eq!(decode_text(&le).unwrap(), emoji);
        assert!(
            decode_text(&[0xFF, 0xFE, 0x00, 0xD8]).is_err(),
            "lone surrogate"
        );
    }

    #[test]
    fn utf16_fast_path_agrees_with_the_standard_decoder() {
        // Long ASCII runs (decoded eight units at a time) mixed with non-ASCII and
        // surrogate pairs at every offset of a chunk, both byte orders.
        for shift in 0..17 {
            let text = format!(
                "{}ü{}😀{}\u{7f}ħ€{}",
                "a".repeat(shift),
                "{\"k\": \"v\"}".repeat(3),
                "x".repeat(shift * 3),
                "z".repeat(16 - shift)
            );
            let mut le = vec![0xFF, 0xFE];
            le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
            let mut be = vec![0xFE, 0xFF];
            be.extend(text.encode_utf16().flat_map(|u| u.to_be_bytes()));
            assert_eq!(decode_text(&le).unwrap(), text, "LE shift {shift}");
            assert_eq!(decode_text(&be).unwrap(), text, "BE shift {shift}");
        }
        // A unit with a non-zero high byte but an ASCII-looking low byte is not ASCII.
        let mut le = vec![0xFF, 0xFE];
        le.extend(
            "aaaaaaaaĀaaaaaaa"
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes()),
        );
        assert_eq!(decode_text(&le).unwrap(), "aaaaaaaaĀaaaaaaa");
        let mut unpaired = vec![0xFF, 0xFE];
        unpaired.extend([0x3Du16, 0xD83D, 0x41].iter().flat_map(|u| u.to_le_bytes()));
        assert!(
            decode_text(&unpaired).is_err(),
            "high surrogate without its pair"
        );
    }

    #[test]
    fn paths_must_stay_under_the_root() {
        let base = std::env::temp_dir().join(format!("ta-root-{}", uuid::Uuid::new_v4()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("tenant-a")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(base.join("outside"), root.join("escape")).unwrap();
        assert!(resolve_under_root(&root, "tenant-a").is_ok());
        assert!(resolve_under_root(&root, root.join("tenant-a").to_str().unwrap()).is_ok());
        assert!(resolve_under_root(&root, "../outside").is_err());
        assert!(resolve_under_root(&root, "tenant-a/../tenant-a").is_err());
        assert!(resolve_under_root(&root, base.join("outside").to_str().unwrap()).is_err());
        #[cfg(unix)]
        assert!(resolve_under_root(&root, "escape").is_err());
        assert!(resolve_under_root(&root, "missing").is_err());
        assert!(resolve_under_root(&root, "").is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
