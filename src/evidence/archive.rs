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
    signed_bytes, ManifestFile, ManifestSignature, ALGORITHM, MANIFEST_PATH,
};

/// Largest manifest [`verify_pack`] reads (a pack of 100,000 files stays far below it).
const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

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
    pub manifest: Value,
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

/// Verifies a pack: the manifest's signature (against `pinned` when given), then every
/// listed file's size and SHA-256, then that the archive holds nothing unlisted.
pub fn verify_pack<R: Read + Seek>(reader: R, pinned: Option<&[u8]>) -> Result<Verified, Mismatch> {
    let mut archive = ZipArchive::new(reader)
        .map_err(|e| mismatch("(archive)", format!("not a readable ZIP: {e}")))?;
    let mut names = Vec::with_capacity(archive.len());
    let mut seen = HashSet::new();
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| mismatch("(archive)", format!("entry {i} cannot be read: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| mismatch("(archive)", format!("entry {i} has no usable name: {e}")))?
            .to_string();
        if !seen.insert(name.clone()) {
            return Err(mismatch(&name, "appears more than once in the archive"));
        }
        names.push(name);
    }

    let manifest_text = {
        let entry = archive
            .by_name(MANIFEST_PATH)
            .map_err(|_| mismatch(MANIFEST_PATH, "missing from the pack"))?;
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
    let manifest: Value = serde_json::from_slice(&manifest_text)
        .map_err(|e| mismatch(MANIFEST_PATH, format!("is not valid JSON: {e}")))?;
    let signature: ManifestSignature = manifest
        .get("signature")
        .cloned()
        .ok_or_else(|| mismatch(MANIFEST_PATH, "carries no signature"))
        .and_then(|v| {
            serde_json::from_value(v)
                .map_err(|e| mismatch(MANIFEST_PATH, format!("has a malformed signature: {e}")))
        })?;
    if signature.algorithm != ALGORITHM {
        return Err(mismatch(
            MANIFEST_PATH,
            format!("is signed with {}, not {ALGORITHM}", signature.algorithm),
        ));
    }
    let embedded = parse_public_key(&signature.public_key)
        .map_err(|e| mismatch(MANIFEST_PATH, format!("names an unusable key: {e}")))?;
    let key = pinned.unwrap_or(&embedded);
    let sig = base64::engine::general_purpose::STANDARD
        .decode(signature.value.trim())
        .map_err(|_| mismatch(MANIFEST_PATH, "has a signature that is not base64"))?;
    UnparsedPublicKey::new(&ED25519, key)
        .verify(&signed_bytes(&manifest), &sig)
        .map_err(|_| {
            mismatch(
                MANIFEST_PATH,
                if pinned.is_some() {
                    "the signature does not verify with the given public key (the manifest was changed, or another key signed it)"
                } else {
                    "the signature does not verify (the manifest was changed)"
                },
            )
        })?;

    let files: Vec<ManifestFile> = manifest
        .get("files")
        .cloned()
        .ok_or_else(|| mismatch(MANIFEST_PATH, "lists no files"))
        .and_then(|v| {
            serde_json::from_value(v)
                .map_err(|e| mismatch(MANIFEST_PATH, format!("has a malformed file list: {e}")))
        })?;
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
        if hex::encode(hasher.finalize()) != file.sha256.to_ascii_lowercase() {
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
        key_id: signature.key_id,
        key_pinned: pinned.is_some(),
        manifest,
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
        let mut manifest = json!({"format": "t", "files": listed});
        let sig = key.sign(&signed_bytes(&manifest));
        let b64 = base64::engine::general_purpose::STANDARD;
        manifest["signature"] = json!({"algorithm": ALGORITHM, "keyId": "k",
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

    #[test]
    fn garbage_is_not_a_pack() {
        let err = verify_pack(Cursor::new(b"not a zip".to_vec()), None).unwrap_err();
        assert_eq!(err.path, "(archive)");
        assert!(parse_public_key("abc").is_err());
    }
}
