//! The ZIP side of evidence packs: [`PackWriter`] streams entries into an archive while
//! hashing each one for the manifest, and [`verify_pack`] checks a pack offline (every
//! digest, every size, nothing extra, nothing missing, and the manifest's signature).
use std::{
    collections::HashSet,
    io::{self, Read, Seek, Write},
};

use base64::Engine;
use ring::signature::{UnparsedPublicKey, ED25519};
use serde_json::Value;
use sha2::{Digest, Sha256};
use zip::{write::SimpleFileOptions, CompressionMethod, ZipArchive, ZipWriter};

use crate::domain::evidence::{
    key_id, signed_bytes, ManifestFile, ManifestSignature, ALGORITHM, MANIFEST_PATH,
};

/// Largest manifest [`verify_pack`] reads (a pack of 10 tenants x 700 policies has a
/// manifest of about 1.5 MB).
const MAX_MANIFEST_BYTES: u64 = 24 * 1024 * 1024;

/// Writes a pack entry by entry. Each entry is compressed into the archive and hashed as
/// it is written, so nothing is held in memory but the current write buffer.
pub struct PackWriter<W: Write + Seek> {
    zip: ZipWriter<W>,
    options: SimpleFileOptions,
    files: Vec<ManifestFile>,
    paths: HashSet<String>,
    current: Option<(String, Sha256, u64)>,
}

impl<W: Write + Seek> PackWriter<W> {
    /// Entries carry `modified` (the build time) so equal content gives equal archives.
    pub fn new(inner: W, modified: chrono::DateTime<chrono::Utc>) -> Self {
        use chrono::{Datelike, Timelike};
        let stamp = zip::DateTime::from_date_and_time(
            u16::try_from(modified.year()).unwrap_or(1980),
            modified.month() as u8,
            modified.day() as u8,
            modified.hour() as u8,
            modified.minute() as u8,
            modified.second() as u8,
        )
        .unwrap_or_default();
        Self {
            zip: ZipWriter::new(inner),
            options: SimpleFileOptions::default()
                .compression_method(CompressionMethod::Deflated)
                .last_modified_time(stamp)
                .unix_permissions(0o644)
                .large_file(true),
            files: Vec::new(),
            paths: HashSet::new(),
            current: None,
        }
    }

    /// Starts the entry `path` (ending the one in progress).
    pub fn begin(&mut self, path: &str) -> io::Result<()> {
        self.end()?;
        if path == MANIFEST_PATH || !self.paths.insert(path.to_string()) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("duplicate pack entry {path}"),
            ));
        }
        self.zip
            .start_file(path, self.options)
            .map_err(io::Error::other)?;
        self.current = Some((path.to_string(), Sha256::new(), 0));
        Ok(())
    }

    /// Ends the entry in progress and records it for the manifest.
    pub fn end(&mut self) -> io::Result<()> {
        if let Some((path, hasher, size)) = self.current.take() {
            self.files.push(ManifestFile {
                path,
                size,
                sha256: hex::encode(hasher.finalize()),
            });
        }
        Ok(())
    }

    /// One whole entry.
    pub fn add(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        self.begin(path)?;
        self.write_all(bytes)?;
        self.end()
    }

    /// The entries written so far, in order.
    pub fn files(&mut self) -> io::Result<&[ManifestFile]> {
        self.end()?;
        Ok(&self.files)
    }

    /// Writes the manifest as the last entry and closes the archive.
    pub fn finish(mut self, manifest: &[u8]) -> io::Result<W> {
        self.end()?;
        self.zip
            .start_file(MANIFEST_PATH, self.options)
            .map_err(io::Error::other)?;
        self.zip.write_all(manifest)?;
        self.zip.finish().map_err(io::Error::other)
    }
}

impl<W: Write + Seek> Write for PackWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some((_, hasher, size)) = self.current.as_mut() else {
            return Err(io::Error::other("no pack entry in progress"));
        };
        let n = self.zip.write(buf)?;
        hasher.update(&buf[..n]);
        *size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.zip.flush()
    }
}

/// A pack that verified.
#[derive(Debug)]
pub struct Verified {
    /// Files checked (the manifest not counted).
    pub files: usize,
    pub key_id: String,
    /// Whether the signature was checked against a key the caller supplied (rather than
    /// the one the manifest carries, which proves integrity but not who signed).
    pub key_pinned: bool,
}

/// Why a pack did not verify: the first file that does not match, and how.
#[derive(Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

fn mismatch(path: &str, reason: impl Into<String>) -> Mismatch {
    Mismatch {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// Decodes a public key given as base64 (32 bytes).
pub fn parse_public_key(text: &str) -> Result<Vec<u8>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| "the public key is not base64".to_string())?;
    if bytes.len() != 32 {
        return Err(format!(
            "an Ed25519 public key has 32 bytes, this one has {}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// The manifest's shape, checked strictly before anything else is read from it: unknown
/// members and duplicate keys are refused (a reader that takes the first of two equal keys
/// must not see something the signature did not cover).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StrictManifest {
    format: String,
    pack: StrictPack,
    files: Vec<ManifestFile>,
    signature: StrictSignature,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct StrictPack {
    id: String,
    title: String,
    workspace: StrictWorkspace,
    tenants: Vec<StrictTenant>,
    period_start: String,
    period_end: String,
    created_by: String,
    created_at: String,
    built_at: String,
    software: StrictSoftware,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StrictWorkspace {
    id: String,
    name: String,
    slug: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct StrictTenant {
    id: String,
    display_name: String,
    entra_tenant_id: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StrictSoftware {
    name: String,
    version: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StrictSignature {
    algorithm: String,
    key_id: String,
    public_key: String,
    value: String,
}

/// One central-directory record.
struct CentralEntry {
    name: Vec<u8>,
    local_offset: u64,
    compressed: u64,
    flags: u16,
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn read_at<R: Read + Seek>(r: &mut R, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    r.seek(io::SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

/// Reads the central directory itself (the ZIP library folds entries of equal names into
/// one) and checks the archive is laid out as TenantAtlas writes it: entries back to
/// back from the first byte, the central directory right after the last one, every local
/// header naming what the central directory names, no name twice. Bytes that a streaming
/// extractor would read but a central-directory reader would not are refused this way.
fn check_layout<R: Read + Seek>(r: &mut R) -> Result<usize, Mismatch> {
    let bad = |why: &str| mismatch("(archive)", why.to_string());
    let len = r
        .seek(io::SeekFrom::End(0))
        .map_err(|e| mismatch("(archive)", format!("cannot be read: {e}")))?;
    let tail_len = len.min(22 + 65_535) as usize;
    let tail = read_at(r, len - tail_len as u64, tail_len)
        .map_err(|e| mismatch("(archive)", format!("cannot be read: {e}")))?;
    let eocd = (0..=tail_len.saturating_sub(22))
        .rev()
        .find(|&i| le32(&tail, i) == Some(0x0605_4b50))
        .ok_or_else(|| bad("not a ZIP (no end of central directory)"))?;
    let eocd_at = len - tail_len as u64 + eocd as u64;
    let mut count = u64::from(le16(&tail, eocd + 10).unwrap_or(0));
    let mut cd_size = u64::from(le32(&tail, eocd + 12).unwrap_or(0));
    let mut cd_offset = u64::from(le32(&tail, eocd + 16).unwrap_or(0));
    let mut cd_end = eocd_at;
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        // ZIP64: the locator sits right before the end record.
        let locator = eocd_at
            .checked_sub(20)
            .and_then(|at| read_at(r, at, 20).ok())
            .filter(|l| le32(l, 0) == Some(0x0706_4b50))
            .ok_or_else(|| bad("a ZIP64 archive without its locator"))?;
        let z64_at = le64(&locator, 8).unwrap_or(u64::MAX);
        let z64 = read_at(r, z64_at, 56)
            .ok()
            .filter(|z| le32(z, 0) == Some(0x0606_4b50))
            .ok_or_else(|| bad("a ZIP64 archive without its end record"))?;
        count = le64(&z64, 32).unwrap_or(0);
        cd_size = le64(&z64, 40).unwrap_or(0);
        cd_offset = le64(&z64, 48).unwrap_or(0);
        cd_end = z64_at;
    }
    if cd_offset.checked_add(cd_size) != Some(cd_end) || cd_size > 256 * 1024 * 1024 {
        return Err(bad(
            "the central directory is not where the end record says",
        ));
    }
    let cd = read_at(r, cd_offset, cd_size as usize)
        .map_err(|e| mismatch("(archive)", format!("cannot be read: {e}")))?;
    let mut entries = Vec::new();
    let mut at = 0usize;
    while at < cd.len() {
        if le32(&cd, at) != Some(0x0201_4b50) {
            return Err(bad("a damaged central directory"));
        }
        let field = |o: usize| le16(&cd, at + o).map(usize::from);
        let (Some(flags), Some(name_len), Some(extra_len), Some(comment_len)) =
            (le16(&cd, at + 8), field(28), field(30), field(32))
        else {
            return Err(bad("a damaged central directory"));
        };
        let name = cd
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| bad("a damaged central directory"))?
            .to_vec();
        let extra = cd
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or_else(|| bad("a damaged central directory"))?;
        let mut compressed = u64::from(le32(&cd, at + 20).unwrap_or(0));
        let mut uncompressed_big = le32(&cd, at + 24) == Some(0xFFFF_FFFF);
        let mut local_offset = u64::from(le32(&cd, at + 42).unwrap_or(0));
        // ZIP64 extra field: the 8-byte values replace the 0xFFFFFFFF ones, in order.
        let mut e = 0usize;
        while e + 4 <= extra.len() {
            let id = le16(extra, e).unwrap_or(0);
            let size = usize::from(le16(extra, e + 2).unwrap_or(0));
            if id == 0x0001 {
                let mut v = e + 4;
                if uncompressed_big {
                    v += 8;
                    uncompressed_big = false;
                }
                if compressed == 0xFFFF_FFFF {
                    compressed = le64(extra, v).ok_or_else(|| bad("a damaged ZIP64 field"))?;
                    v += 8;
                }
                if local_offset == 0xFFFF_FFFF {
                    local_offset = le64(extra, v).ok_or_else(|| bad("a damaged ZIP64 field"))?;
                }
            }
            e += 4 + size;
        }
        entries.push(CentralEntry {
            name,
            local_offset,
            compressed,
            flags,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    if entries.len() as u64 != count {
        return Err(bad(
            "the end record and the central directory disagree on the number of entries",
        ));
    }
    let mut names = HashSet::new();
    for e in &entries {
        if !names.insert(e.name.clone()) {
            return Err(mismatch(
                &String::from_utf8_lossy(&e.name),
                "appears more than once in the archive",
            ));
        }
    }
    entries.sort_by_key(|e| e.local_offset);
    let mut expected = 0u64;
    for e in &entries {
        let shown = String::from_utf8_lossy(&e.name).into_owned();
        if e.local_offset != expected {
            return Err(mismatch(
                &shown,
                "is preceded by bytes no entry accounts for",
            ));
        }
        let header = read_at(r, e.local_offset, 30)
            .ok()
            .filter(|h| le32(h, 0) == Some(0x0403_4b50))
            .ok_or_else(|| mismatch(&shown, "has no local header where the directory says"))?;
        let name_len = u64::from(le16(&header, 26).unwrap_or(0));
        let extra_len = u64::from(le16(&header, 28).unwrap_or(0));
        let local_name = read_at(r, e.local_offset + 30, name_len as usize)
            .map_err(|_| mismatch(&shown, "has a damaged local header"))?;
        if local_name != e.name {
            return Err(mismatch(&shown, "has another name in its local header"));
        }
        let mut end = e.local_offset + 30 + name_len + extra_len + e.compressed;
        if e.flags & 0x0008 != 0 {
            // A data descriptor follows: with or without its signature, 32- or 64-bit sizes.
            let d = read_at(r, end, 4).unwrap_or_default();
            let signed = le32(&d, 0) == Some(0x0807_4b50);
            let body = if e.compressed > 0xFFFF_FFFF { 20 } else { 12 };
            end += body + if signed { 4 } else { 0 };
        }
        expected = end;
    }
    if expected != cd_offset {
        return Err(bad(
            "holds bytes between its last entry and its central directory",
        ));
    }
    Ok(entries.len())
}

/// Verifies a pack: its layout (see [`check_layout`]), the manifest's shape and signature
/// (against `pinned` when given), then every listed file's size and SHA-256, then that the
/// archive holds nothing unlisted (directory entries aside).
pub fn verify_pack<R: Read + Seek>(
    mut reader: R,
    pinned: Option<&[u8]>,
) -> Result<Verified, Mismatch> {
    check_layout(&mut reader)?;
    let mut archive = ZipArchive::new(reader)
        .map_err(|e| mismatch("(archive)", format!("not a readable ZIP: {e}")))?;
    let mut names = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| mismatch("(archive)", format!("entry {i} cannot be read: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| mismatch("(archive)", format!("entry {i} has no usable name: {e}")))?
            .to_string();
        // A folder entry (as `zip -r` adds) carries no content.
        let folder = name.ends_with('/') && entry.size() == 0;
        if !folder {
            names.push(name);
        }
    }

    let manifest_text = {
        let entry = archive
            .by_name(MANIFEST_PATH)
            .map_err(|_| mismatch(MANIFEST_PATH, "missing from the pack"))?;
        if entry.size() > MAX_MANIFEST_BYTES {
            return Err(mismatch(
                MANIFEST_PATH,
                "is larger than any manifest TenantAtlas writes",
            ));
        }
        let mut text = Vec::new();
        entry
            .take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| mismatch(MANIFEST_PATH, format!("cannot be read: {e}")))?;
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(mismatch(
                MANIFEST_PATH,
                "is larger than any manifest TenantAtlas writes",
            ));
        }
        text
    };
    let strict: StrictManifest = serde_json::from_slice(&manifest_text)
        .map_err(|e| mismatch(MANIFEST_PATH, format!("is not a TenantAtlas manifest: {e}")))?;
    let manifest: Value = serde_json::from_slice(&manifest_text)
        .map_err(|e| mismatch(MANIFEST_PATH, format!("is not valid JSON: {e}")))?;
    let signature = ManifestSignature {
        algorithm: strict.signature.algorithm,
        key_id: strict.signature.key_id,
        public_key: strict.signature.public_key,
        value: strict.signature.value,
    };
    if signature.algorithm != ALGORITHM {
        return Err(mismatch(
            MANIFEST_PATH,
            format!("is not signed with {ALGORITHM}"),
        ));
    }
    let embedded = parse_public_key(&signature.public_key)
        .map_err(|e| mismatch(MANIFEST_PATH, format!("names an unusable key: {e}")))?;
    if signature.key_id != key_id(&embedded) {
        return Err(mismatch(
            MANIFEST_PATH,
            "names a key id that is not its public key's",
        ));
    }
    if pinned.is_some_and(|p| p != embedded.as_slice()) {
        return Err(mismatch(
            MANIFEST_PATH,
            "is signed by another key than the given public key",
        ));
    }
    let key = pinned.unwrap_or(&embedded);
    let sig = base64::engine::general_purpose::STANDARD
        .decode(signature.value.trim())
        .map_err(|_| mismatch(MANIFEST_PATH, "has a signature that is not base64"))?;
    UnparsedPublicKey::new(&ED25519, key)
        .verify(&signed_bytes(&manifest), &sig)
        .map_err(|_| {
            mismatch(
                MANIFEST_PATH,
                "the signature does not verify (the manifest was changed)",
            )
        })?;
    drop(manifest);

    let files = strict.files;
    let mut listed = HashSet::new();
    for file in &files {
        if file.path == MANIFEST_PATH || !listed.insert(file.path.as_str()) {
            return Err(mismatch(
                &file.path,
                "is listed more than once in the manifest",
            ));
        }
        let entry = archive.by_name(&file.path).map_err(|_| {
            mismatch(
                &file.path,
                "is listed in the manifest but missing from the pack",
            )
        })?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut reader = entry.take(file.size.saturating_add(1));
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| mismatch(&file.path, format!("cannot be read (damaged): {e}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        if size != file.size {
            return Err(mismatch(
                &file.path,
                format!(
                    "size differs from the manifest ({} bytes listed)",
                    file.size
                ),
            ));
        }
        if hex::encode(hasher.finalize()) != file.sha256 {
            return Err(mismatch(&file.path, "SHA-256 differs from the manifest"));
        }
    }
    if let Some(extra) = names
        .iter()
        .find(|n| n.as_str() != MANIFEST_PATH && !listed.contains(n.as_str()))
    {
        return Err(mismatch(
            extra,
            "is in the pack but not listed in the manifest",
        ));
    }
    Ok(Verified {
        files: files.len(),
        key_id: key_id(key),
        key_pinned: pinned.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};
    use serde_json::json;
    use std::io::Cursor;

    fn key() -> Ed25519KeyPair {
        let rng = ring::rand::SystemRandom::new();
        let pk8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Ed25519KeyPair::from_pkcs8(pk8.as_ref()).unwrap()
    }

    fn pack(
        key: &Ed25519KeyPair,
        files: &[(&str, &[u8])],
        tamper: Option<(&str, &[u8])>,
    ) -> Vec<u8> {
        let mut w = PackWriter::new(Cursor::new(Vec::new()), chrono::Utc::now());
        for (path, bytes) in files {
            let bytes = match tamper {
                Some((p, replaced)) if p == *path => replaced,
                _ => *bytes,
            };
            w.begin(path).unwrap();
            w.write_all(bytes).unwrap();
        }
        let listed: Vec<ManifestFile> = {
            // The manifest lists the untampered content.
            let mut clean = PackWriter::new(Cursor::new(Vec::new()), chrono::Utc::now());
            for (path, bytes) in files {
                clean.add(path, bytes).unwrap();
            }
            clean.files().unwrap().to_vec()
        };
        let meta = json!({"id": "p", "title": "t", "workspace": {"id": "w", "name": "W", "slug": "w"},
            "tenants": [{"id": "t", "displayName": "T", "entraTenantId": "e"}], "periodStart": "a",
            "periodEnd": "b", "createdBy": "c", "createdAt": "d", "builtAt": "e",
            "software": {"name": "TenantAtlas", "version": "0"}});
        let mut manifest = json!({"format": "t", "pack": meta, "files": listed});
        let sig = key.sign(&signed_bytes(&manifest));
        let b64 = base64::engine::general_purpose::STANDARD;
        manifest["signature"] = json!({"algorithm": ALGORITHM, "keyId": key_id(key.public_key().as_ref()),
            "publicKey": b64.encode(key.public_key().as_ref()), "value": b64.encode(sig.as_ref())});
        w.finish(&serde_json::to_vec(&manifest).unwrap())
            .unwrap()
            .into_inner()
    }

    #[test]
    fn an_untouched_pack_verifies_with_its_key() {
        let k = key();
        let bytes = pack(&k, &[("a.json", b"{}"), ("dir/b.csv", b"x,y\r\n")], None);
        let ok = verify_pack(Cursor::new(&bytes), Some(k.public_key().as_ref())).unwrap();
        assert_eq!(ok.files, 2);
        assert!(ok.key_pinned);
        assert!(verify_pack(Cursor::new(&bytes), None).is_ok());
    }

    #[test]
    fn a_changed_file_is_named() {
        let k = key();
        let bytes = pack(
            &k,
            &[("a.json", b"{}"), ("dir/b.csv", b"x,y\r\n")],
            Some(("dir/b.csv", b"x,z\r\n")),
        );
        let err = verify_pack(Cursor::new(&bytes), None).unwrap_err();
        assert_eq!(err.path, "dir/b.csv");
        assert!(err.reason.contains("SHA-256"), "{err}");
    }

    #[test]
    fn another_key_does_not_verify() {
        let bytes = pack(&key(), &[("a.json", b"{}")], None);
        let other = key();
        let err = verify_pack(Cursor::new(&bytes), Some(other.public_key().as_ref())).unwrap_err();
        assert_eq!(err.path, MANIFEST_PATH);
    }

    #[test]
    fn duplicate_entries_are_refused_when_writing() {
        let mut w = PackWriter::new(Cursor::new(Vec::new()), chrono::Utc::now());
        w.add("a", b"1").unwrap();
        assert!(w.add("a", b"2").is_err());
        assert!(w.add(MANIFEST_PATH, b"{}").is_err());
    }

    fn replace_all(haystack: &mut [u8], from: &[u8], to: &[u8]) {
        let mut i = 0;
        while i + from.len() <= haystack.len() {
            if &haystack[i..i + from.len()] == from {
                haystack[i..i + from.len()].copy_from_slice(to);
            }
            i += 1;
        }
    }

    #[test]
    fn two_entries_of_one_name_are_refused() {
        let k = key();
        let mut bytes = pack(&k, &[("a.json", b"{}"), ("b.json", b"{}")], None);
        // The second entry renamed to the first one's name, everywhere it is written.
        replace_all(&mut bytes, b"b.json", b"a.json");
        let err = verify_pack(Cursor::new(&bytes), Some(k.public_key().as_ref())).unwrap_err();
        assert_eq!(err.path, "a.json");
        assert!(err.reason.contains("more than once"), "{err}");
    }

    #[test]
    fn bytes_outside_the_entries_are_refused() {
        let k = key();
        let bytes = pack(&k, &[("a.json", b"{}")], None);
        let mut prefixed = b"PK\x03\x04 smuggled".to_vec();
        prefixed.extend_from_slice(&bytes);
        assert!(verify_pack(Cursor::new(&prefixed), None).is_err());
    }

    #[test]
    fn a_key_id_that_is_not_the_keys_is_refused() {
        let k = key();
        let bytes = pack(&k, &[("a.json", b"{}")], None);
        let entries = {
            let mut a = ZipArchive::new(Cursor::new(&bytes)).unwrap();
            let mut out = Vec::new();
            for i in 0..a.len() {
                let mut e = a.by_index(i).unwrap();
                let mut d = Vec::new();
                e.read_to_end(&mut d).unwrap();
                out.push((e.name().unwrap().to_string(), d));
            }
            out
        };
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            let data = if name == MANIFEST_PATH {
                let mut m: Value = serde_json::from_slice(&data).unwrap();
                m["signature"]["keyId"] = json!("ed25519-0000000000000000");
                serde_json::to_vec(&m).unwrap()
            } else {
                data
            };
            w.start_file(name, SimpleFileOptions::default()).unwrap();
            w.write_all(&data).unwrap();
        }
        let bytes = w.finish().unwrap().into_inner();
        let err = verify_pack(Cursor::new(&bytes), None).unwrap_err();
        assert_eq!(err.path, MANIFEST_PATH);
        assert!(err.reason.contains("key id"), "{err}");
    }

    #[test]
    fn garbage_is_not_a_pack() {
        let err = verify_pack(Cursor::new(b"not a zip".to_vec()), None).unwrap_err();
        assert_eq!(err.path, "(archive)");
        assert!(parse_public_key("abc").is_err());
    }
}
