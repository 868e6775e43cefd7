//! The ZIP side of evidence packs: [`PackWriter`] streams entries into an archive while
//! hashing each one for the manifest, and [`verify_pack`] checks a pack offline (every
//! digest, every size, nothing extra, nothing missing, and the manifest's signature).
use std::{
    collections::HashSet,
    io::{self, Read, Seek, Write},
};

use base64::Engine;
use ring::signature::{UnparsedPublicKey, ED25519};
use sha2::{Digest, Sha256};
use zip::{write::SimpleFileOptions, CompressionMethod, ZipWriter};

use crate::domain::evidence::{key_id, ManifestFile, ALGORITHM, MANIFEST_PATH};

/// Largest manifest [`verify_pack`] reads (a pack of 10 tenants x 700 policies has a
/// manifest of about 1.5 MB).
const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

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

/// The manifest, parsed strictly: unknown members and duplicate keys are refused (a reader
/// that takes the first of two equal keys must not see something the signature did not
/// cover). Fields are declared in byte order of their JSON names, so serialising the
/// unsigned part compactly gives exactly the canonical form the signature covers.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictManifest {
    files: Vec<ManifestFile>,
    format: String,
    pack: StrictPack,
    signature: StrictSignature,
}

/// [`StrictManifest`] without its signature, for the canonical bytes.
#[derive(serde::Serialize)]
struct Unsigned<'a> {
    files: &'a [ManifestFile],
    format: &'a str,
    pack: &'a StrictPack,
}

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StrictPack {
    built_at: String,
    created_at: String,
    created_by: String,
    id: String,
    period_end: String,
    period_start: String,
    software: StrictSoftware,
    tenants: Vec<StrictTenant>,
    title: String,
    workspace: StrictWorkspace,
}

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct StrictSoftware {
    name: String,
    version: String,
}

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StrictTenant {
    display_name: String,
    entra_tenant_id: String,
    id: String,
}

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct StrictWorkspace {
    id: String,
    name: String,
    slug: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StrictSignature {
    algorithm: String,
    key_id: String,
    public_key: String,
    value: String,
}

/// One entry as the central directory describes it.
struct Entry {
    name: String,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    /// Where its compressed bytes start.
    data_start: u64,
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

/// Extra-field ids of a local or central header, with their data.
fn extra_fields(extra: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut e = 0usize;
    while e + 4 <= extra.len() {
        let id = le16(extra, e).unwrap_or(0);
        let size = usize::from(le16(extra, e + 2).unwrap_or(0));
        let data = extra.get(e + 4..e + 4 + size).unwrap_or(&[]);
        out.push((id, data));
        e += 4 + size;
    }
    out
}

/// Reads the archive's structure itself (ZIP libraries differ on duplicate names, on
/// bytes between entries and on alternative names) and accepts only the layout
/// TenantAtlas writes: entries back to back from the first byte, each local header
/// agreeing with the central directory, the central directory right after the last
/// entry, the end record ending the file, no comments, no alternative-name fields, no
/// name twice. So every ZIP tool, whether it reads the directory or streams the entries,
/// sees the same files.
fn read_layout<R: Read + Seek>(r: &mut R) -> Result<Vec<Entry>, Mismatch> {
    let bad = |why: &str| mismatch("(archive)", why.to_string());
    let io_bad = |e: io::Error| mismatch("(archive)", format!("cannot be read: {e}"));
    let len = r.seek(io::SeekFrom::End(0)).map_err(io_bad)?;
    if len < 22 {
        return Err(bad("not a ZIP (too short)"));
    }
    // No comment: the end record is the last 22 bytes.
    let eocd_at = len - 22;
    let eocd = read_at(r, eocd_at, 22).map_err(io_bad)?;
    if le32(&eocd, 0) != Some(0x0605_4b50) {
        return Err(bad(
            "not a ZIP written by TenantAtlas (no end record at its end: a comment or appended bytes?)",
        ));
    }
    let mut count = u64::from(le16(&eocd, 10).unwrap_or(0));
    let mut cd_size = u64::from(le32(&eocd, 12).unwrap_or(0));
    let mut cd_offset = u64::from(le32(&eocd, 16).unwrap_or(0));
    let mut cd_end = eocd_at;
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
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
        if z64_at + 56 != eocd_at - 20 {
            return Err(bad("bytes between the ZIP64 end record and its locator"));
        }
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
    let cd = read_at(r, cd_offset, cd_size as usize).map_err(io_bad)?;
    let mut entries: Vec<(u64, Entry, u16)> = Vec::new();
    let mut names = HashSet::new();
    let mut at = 0usize;
    while at < cd.len() {
        let damaged = || bad("a damaged central directory");
        if le32(&cd, at) != Some(0x0201_4b50) {
            return Err(damaged());
        }
        let field = |o: usize| le16(&cd, at + o).map(usize::from);
        let (Some(flags), Some(method), Some(name_len), Some(extra_len), Some(comment_len)) = (
            le16(&cd, at + 8),
            le16(&cd, at + 10),
            field(28),
            field(30),
            field(32),
        ) else {
            return Err(damaged());
        };
        let raw_name = cd.get(at + 46..at + 46 + name_len).ok_or_else(damaged)?;
        let extra = cd
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or_else(damaged)?;
        let name = std::str::from_utf8(raw_name)
            .map_err(|_| bad("an entry name that is not UTF-8"))?
            .to_string();
        if comment_len != 0 {
            return Err(mismatch(&name, "carries a comment"));
        }
        let crc = le32(&cd, at + 16).ok_or_else(damaged)?;
        let mut compressed = u64::from(le32(&cd, at + 20).ok_or_else(damaged)?);
        let mut size = u64::from(le32(&cd, at + 24).ok_or_else(damaged)?);
        let mut local_offset = u64::from(le32(&cd, at + 42).ok_or_else(damaged)?);
        for (id, data) in extra_fields(extra) {
            match id {
                // ZIP64: 8-byte values replace the 0xFFFFFFFF ones, in this order.
                0x0001 => {
                    let mut v = 0;
                    for slot in [&mut size, &mut compressed, &mut local_offset] {
                        if *slot == 0xFFFF_FFFF {
                            *slot = le64(data, v).ok_or_else(|| bad("a damaged ZIP64 field"))?;
                            v += 8;
                        }
                    }
                }
                // Alternative names some tools show instead of the entry's own.
                0x7075 | 0x6375 => {
                    return Err(mismatch(&name, "carries an alternative name field"));
                }
                _ => {}
            }
        }
        if !names.insert(name.clone()) {
            return Err(mismatch(&name, "appears more than once in the archive"));
        }
        entries.push((
            local_offset,
            Entry {
                name,
                method,
                crc,
                compressed,
                size,
                data_start: 0,
            },
            flags,
        ));
        at += 46 + name_len + extra_len + comment_len;
    }
    if entries.len() as u64 != count {
        return Err(bad(
            "the end record and the central directory disagree on the number of entries",
        ));
    }
    entries.sort_by_key(|e| e.0);
    let mut expected = 0u64;
    let mut out = Vec::with_capacity(entries.len());
    for (local_offset, mut e, flags) in entries {
        let name = e.name.clone();
        if local_offset != expected {
            return Err(mismatch(
                &name,
                "is preceded by bytes no entry accounts for",
            ));
        }
        let header = read_at(r, local_offset, 30)
            .ok()
            .filter(|h| le32(h, 0) == Some(0x0403_4b50))
            .ok_or_else(|| mismatch(&name, "has no local header where the directory says"))?;
        let local_flags = le16(&header, 6).unwrap_or(0);
        let local_method = le16(&header, 8).unwrap_or(0);
        let local_crc = le32(&header, 14).unwrap_or(0);
        let local_compressed = le32(&header, 18).unwrap_or(0);
        let local_size = le32(&header, 22).unwrap_or(0);
        let name_len = u64::from(le16(&header, 26).unwrap_or(0));
        let extra_len = u64::from(le16(&header, 28).unwrap_or(0));
        let local_name = read_at(r, local_offset + 30, name_len as usize)
            .map_err(|_| mismatch(&name, "has a damaged local header"))?;
        if local_name != name.as_bytes() {
            return Err(mismatch(&name, "has another name in its local header"));
        }
        let local_extra = read_at(r, local_offset + 30 + name_len, extra_len as usize)
            .map_err(|_| mismatch(&name, "has a damaged local header"))?;
        let fields = extra_fields(&local_extra);
        if fields.iter().any(|(id, _)| matches!(id, 0x7075 | 0x6375)) {
            return Err(mismatch(&name, "carries an alternative name field"));
        }
        let zip64 = fields.iter().any(|(id, _)| *id == 0x0001);
        let descriptor = flags & 0x0008 != 0;
        if local_flags != flags || local_method != e.method {
            return Err(mismatch(
                &name,
                "has a local header that disagrees with the directory",
            ));
        }
        if !descriptor {
            let sizes_agree = (local_compressed == 0xFFFF_FFFF
                || u64::from(local_compressed) == e.compressed)
                && (local_size == 0xFFFF_FFFF || u64::from(local_size) == e.size);
            if local_crc != e.crc || !sizes_agree {
                return Err(mismatch(
                    &name,
                    "has a local header that disagrees with the directory",
                ));
            }
        }
        e.data_start = local_offset + 30 + name_len + extra_len;
        let mut end = e.data_start + e.compressed;
        if descriptor {
            // With or without its signature; 64-bit sizes when the entry is ZIP64.
            let d = read_at(r, end, 4).unwrap_or_default();
            let signed = le32(&d, 0) == Some(0x0807_4b50);
            let body = if zip64 || e.compressed > 0xFFFF_FFFF {
                20
            } else {
                12
            };
            end += body + if signed { 4 } else { 0 };
        }
        expected = end;
        out.push(e);
    }
    if expected != cd_offset {
        return Err(bad(
            "holds bytes between its last entry and its central directory",
        ));
    }
    Ok(out)
}

/// Streams one entry's content into `sink`, checking that its compressed data is exactly
/// one complete stream of the listed length and that size and CRC match the directory.
fn read_entry<R: Read + Seek>(
    r: &mut R,
    e: &Entry,
    limit: u64,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<u64, Mismatch> {
    let damaged = |why: String| mismatch(&e.name, format!("cannot be read (damaged): {why}"));
    r.seek(io::SeekFrom::Start(e.data_start))
        .map_err(|err| damaged(err.to_string()))?;
    let mut raw = r.take(e.compressed);
    let mut crc = crc32fast::Hasher::new();
    let mut produced = 0u64;
    let mut input = vec![0u8; 64 * 1024];
    let mut output = vec![0u8; 64 * 1024];
    match e.method {
        0 => loop {
            let n = raw
                .read(&mut input)
                .map_err(|err| damaged(err.to_string()))?;
            if n == 0 {
                break;
            }
            produced += n as u64;
            if produced > limit {
                return Err(mismatch(&e.name, "is larger than listed"));
            }
            crc.update(&input[..n]);
            sink(&input[..n]);
        },
        8 => {
            let mut inflate = flate2::Decompress::new(false);
            let (mut start, mut end, mut eof) = (0usize, 0usize, false);
            loop {
                if start == end && !eof {
                    end = raw
                        .read(&mut input)
                        .map_err(|err| damaged(err.to_string()))?;
                    start = 0;
                    eof = end == 0;
                }
                let (in0, out0) = (inflate.total_in(), inflate.total_out());
                let status = inflate
                    .decompress(
                        &input[start..end],
                        &mut output,
                        flate2::FlushDecompress::None,
                    )
                    .map_err(|err| damaged(err.to_string()))?;
                let used = (inflate.total_in() - in0) as usize;
                let made = (inflate.total_out() - out0) as usize;
                start += used;
                produced += made as u64;
                if produced > limit {
                    return Err(mismatch(&e.name, "is larger than listed"));
                }
                crc.update(&output[..made]);
                sink(&output[..made]);
                if status == flate2::Status::StreamEnd {
                    break;
                }
                if used == 0 && made == 0 && (eof || start < end) {
                    return Err(damaged("the compressed data ends early".into()));
                }
            }
            // The stream must end exactly at the listed length: no bytes hidden after it.
            let mut rest = [0u8; 1];
            let more = raw
                .read(&mut rest)
                .map_err(|err| damaged(err.to_string()))?;
            if start < end || more > 0 || inflate.total_in() != e.compressed {
                return Err(mismatch(&e.name, "holds bytes after its compressed data"));
            }
        }
        _ => {
            return Err(mismatch(
                &e.name,
                "uses a compression method TenantAtlas does not write",
            ))
        }
    }
    if produced != e.size || crc.finalize() != e.crc {
        return Err(damaged("size or CRC differs from the directory".into()));
    }
    Ok(produced)
}

/// Verifies a pack: its layout (see [`read_layout`]), the manifest's shape and signature
/// (against `pinned` when given), then every listed file's size and SHA-256, then that the
/// archive holds nothing unlisted (folder entries aside).
pub fn verify_pack<R: Read + Seek>(
    mut reader: R,
    pinned: Option<&[u8]>,
) -> Result<Verified, Mismatch> {
    let entries = read_layout(&mut reader)?;
    let by_name: std::collections::HashMap<&str, &Entry> =
        entries.iter().map(|e| (e.name.as_str(), e)).collect();

    let manifest_entry = by_name
        .get(MANIFEST_PATH)
        .ok_or_else(|| mismatch(MANIFEST_PATH, "missing from the pack"))?;
    if manifest_entry.size > MAX_MANIFEST_BYTES {
        return Err(mismatch(
            MANIFEST_PATH,
            "is larger than any manifest TenantAtlas writes",
        ));
    }
    let mut manifest_text = Vec::new();
    read_entry(&mut reader, manifest_entry, MAX_MANIFEST_BYTES, &mut |b| {
        manifest_text.extend_from_slice(b)
    })?;
    let strict: StrictManifest = serde_json::from_slice(&manifest_text)
        .map_err(|e| mismatch(MANIFEST_PATH, format!("is not a TenantAtlas manifest: {e}")))?;
    drop(manifest_text);
    if strict.signature.algorithm != ALGORITHM {
        return Err(mismatch(
            MANIFEST_PATH,
            format!("is not signed with {ALGORITHM}"),
        ));
    }
    let embedded = parse_public_key(&strict.signature.public_key)
        .map_err(|e| mismatch(MANIFEST_PATH, format!("names an unusable key: {e}")))?;
    if strict.signature.key_id != key_id(&embedded) {
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
        .decode(strict.signature.value.trim())
        .map_err(|_| mismatch(MANIFEST_PATH, "has a signature that is not base64"))?;
    let canonical = serde_json::to_vec(&Unsigned {
        files: &strict.files,
        format: &strict.format,
        pack: &strict.pack,
    })
    .map_err(|e| mismatch(MANIFEST_PATH, format!("cannot be re-encoded: {e}")))?;
    UnparsedPublicKey::new(&ED25519, key)
        .verify(&canonical, &sig)
        .map_err(|_| {
            mismatch(
                MANIFEST_PATH,
                "the signature does not verify (the manifest was changed)",
            )
        })?;

    let files = strict.files;
    let mut listed = HashSet::new();
    for file in &files {
        if file.path == MANIFEST_PATH || !listed.insert(file.path.as_str()) {
            return Err(mismatch(
                &file.path,
                "is listed more than once in the manifest",
            ));
        }
        let entry = by_name.get(file.path.as_str()).ok_or_else(|| {
            mismatch(
                &file.path,
                "is listed in the manifest but missing from the pack",
            )
        })?;
        let mut hasher = Sha256::new();
        let size =
            read_entry(&mut reader, entry, file.size, &mut |b| hasher.update(b)).map_err(|m| {
                if m.reason == "is larger than listed" {
                    mismatch(
                        &file.path,
                        format!(
                            "size differs from the manifest ({} bytes listed)",
                            file.size
                        ),
                    )
                } else {
                    m
                }
            })?;
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
    // A folder entry (as `zip -r` adds) carries no content.
    if let Some(extra) = entries.iter().find(|e| {
        e.name != MANIFEST_PATH
            && !listed.contains(e.name.as_str())
            && !(e.name.ends_with('/') && e.size == 0)
    }) {
        return Err(mismatch(
            &extra.name,
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
    use crate::domain::evidence::signed_bytes;
    use ring::signature::{Ed25519KeyPair, KeyPair};
    use serde_json::{json, Value};
    use std::io::Cursor;
    use zip::ZipArchive;

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
    fn the_strict_form_serialises_to_the_canonical_bytes_the_signer_signs() {
        let meta = json!({"workspace": {"slug": "w", "name": "W \"quoted\" é", "id": "w"},
            "title": "t\n", "tenants": [{"id": "t", "entraTenantId": "e", "displayName": "T"}],
            "software": {"version": "0", "name": "TenantAtlas"}, "periodStart": "a",
            "periodEnd": "b", "id": "p", "createdBy": "c", "createdAt": "d", "builtAt": "e"});
        let files = vec![ManifestFile {
            path: "a/b".into(),
            sha256: "00".into(),
            size: 7,
        }];
        let manifest = json!({"pack": meta, "format": "f", "files": files,
            "signature": {"algorithm": ALGORITHM, "keyId": "k", "publicKey": "p", "value": "v"}});
        let strict: StrictManifest = serde_json::from_value(manifest.clone()).unwrap();
        let typed = serde_json::to_vec(&Unsigned {
            files: &strict.files,
            format: &strict.format,
            pack: &strict.pack,
        })
        .unwrap();
        assert_eq!(typed, signed_bytes(&manifest));
    }

    #[test]
    fn garbage_is_not_a_pack() {
        let err = verify_pack(Cursor::new(b"not a zip".to_vec()), None).unwrap_err();
        assert_eq!(err.path, "(archive)");
        assert!(parse_public_key("abc").is_err());
    }
}
