//! Evidence packs outside the database: the ZIP format and its verification
//! ([`archive`]), where packs are stored ([`storage`]), the signing key ([`keys`]) and
//! short-lived signed download URLs ([`DownloadUrls`]).
pub mod archive;
pub mod keys;
pub mod storage;

use std::{path::PathBuf, sync::Arc};

use chrono::{DateTime, Utc};
use ring::hmac;
use uuid::Uuid;

/// How long a signed download URL works.
pub const DOWNLOAD_URL_TTL_SECS: i64 = 15 * 60;

/// What the evidence service needs: storage, signer and URL key.
pub struct EvidenceContext {
    pub data_dir: PathBuf,
    pub storage: Arc<dyn storage::PackStorage>,
    pub urls: DownloadUrls,
    /// Loaded (or generated) when a server or worker starts, or on first use; command-line
    /// tools that never sign do not create one.
    signer: tokio::sync::OnceCell<keys::Signer>,
}

impl EvidenceContext {
    pub fn new(
        data_dir: PathBuf,
        storage: Arc<dyn storage::PackStorage>,
        urls: DownloadUrls,
    ) -> Self {
        Self {
            data_dir,
            storage,
            urls,
            signer: tokio::sync::OnceCell::new(),
        }
    }

    /// The signing key of this process.
    pub async fn signer(&self, db: &crate::db::Db) -> crate::error::AppResult<&keys::Signer> {
        self.signer
            .get_or_try_init(|| keys::load_or_create_signer(db, &self.data_dir))
            .await
    }
}

/// Issues and checks signed download URLs: `/evidence-packs/<id>/download?expires=<unix
/// seconds>&signature=<hex HMAC-SHA256 of "<pack uuid>:<expires>">`.
pub struct DownloadUrls {
    key: hmac::Key,
}

impl DownloadUrls {
    /// The key is derived from a deployment secret, for this purpose only.
    pub fn new(secret: &[u8]) -> Self {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let derived = hmac::sign(&root, b"tenantatlas.evidence-download-url.v1");
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    fn message(pack: Uuid, expires: i64) -> String {
        format!("{pack}:{expires}")
    }

    /// The query string of a URL for `pack` valid until `expires`.
    pub fn sign(&self, pack: Uuid, expires: DateTime<Utc>) -> String {
        let exp = expires.timestamp();
        let tag = hmac::sign(&self.key, Self::message(pack, exp).as_bytes());
        format!("expires={exp}&signature={}", hex::encode(tag.as_ref()))
    }

    /// Whether `signature` was issued for `pack` and `expires` is still ahead of `now`.
    pub fn check(&self, pack: Uuid, expires: i64, signature: &str, now: DateTime<Utc>) -> bool {
        let Ok(tag) = hex::decode(signature) else {
            return false;
        };
        let genuine =
            hmac::verify(&self.key, Self::message(pack, expires).as_bytes(), &tag).is_ok();
        genuine && expires > now.timestamp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_urls_are_bound_to_pack_and_expiry() {
        let urls = DownloadUrls::new(b"secret");
        let pack = Uuid::new_v4();
        let now = Utc::now();
        let q = urls.sign(pack, now + chrono::Duration::minutes(5));
        let (exp, sig) = q
            .strip_prefix("expires=")
            .and_then(|r| r.split_once("&signature="))
            .unwrap();
        let exp: i64 = exp.parse().unwrap();
        assert!(urls.check(pack, exp, sig, now));
        assert!(!urls.check(Uuid::new_v4(), exp, sig, now), "another pack");
        assert!(!urls.check(pack, exp + 1, sig, now), "another expiry");
        assert!(
            !urls.check(pack, exp, sig, now + chrono::Duration::minutes(6)),
            "expired"
        );
        assert!(!urls.check(pack, exp, "zz", now));
        assert!(
            !DownloadUrls::new(b"other").check(pack, exp, sig, now),
            "another key"
        );
    }
}
