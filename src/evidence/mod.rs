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

/// Issues and checks signed download URLs: `/evidence-packs/<id>/download?by=<user
/// uuid>&expires=<unix seconds>&signature=<hex HMAC-SHA256 of "<pack>:<user>:<expires>">`.
/// A link names the user it was issued to: downloads through it are audited as theirs,
/// and it stops working when they lose the capability.
pub struct DownloadUrls {
    key: hmac::Key,
}

impl DownloadUrls {
    /// The key is derived from a deployment secret, for this purpose only.
    pub fn new(secret: &[u8]) -> Self {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let derived = hmac::sign(&root, b"tenantatlas.evidence-download-url.v2");
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    fn message(pack: Uuid, user: Uuid, expires: i64) -> String {
        format!("{pack}:{user}:{expires}")
    }

    /// The query string of a URL for `pack`, issued to `user`, valid until `expires`.
    pub fn sign(&self, pack: Uuid, user: Uuid, expires: DateTime<Utc>) -> String {
        let exp = expires.timestamp();
        let tag = hmac::sign(&self.key, Self::message(pack, user, exp).as_bytes());
        format!(
            "by={user}&expires={exp}&signature={}",
            hex::encode(tag.as_ref())
        )
    }

    /// Whether `signature` was issued for `pack` and `user`, and `expires` is still ahead
    /// of `now`.
    pub fn check(
        &self,
        pack: Uuid,
        user: Uuid,
        expires: i64,
        signature: &str,
        now: DateTime<Utc>,
    ) -> bool {
        let Ok(tag) = hex::decode(signature) else {
            return false;
        };
        let genuine = hmac::verify(
            &self.key,
            Self::message(pack, user, expires).as_bytes(),
            &tag,
        )
        .is_ok();
        genuine && expires > now.timestamp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_urls_are_bound_to_pack_user_and_expiry() {
        let urls = DownloadUrls::new(b"secret");
        let pack = Uuid::new_v4();
        let now = Utc::now();
        let user = Uuid::new_v4();
        let q = urls.sign(pack, user, now + chrono::Duration::minutes(5));
        let (exp, sig) = q
            .strip_prefix(&format!("by={user}&expires="))
            .and_then(|r| r.split_once("&signature="))
            .unwrap();
        let exp: i64 = exp.parse().unwrap();
        assert!(urls.check(pack, user, exp, sig, now));
        assert!(
            !urls.check(Uuid::new_v4(), user, exp, sig, now),
            "another pack"
        );
        assert!(
            !urls.check(pack, Uuid::new_v4(), exp, sig, now),
            "another user"
        );
        assert!(!urls.check(pack, user, exp + 1, sig, now), "another expiry");
        let later = now + chrono::Duration::minutes(6);
        assert!(!urls.check(pack, user, exp, sig, later), "expired");
        assert!(!urls.check(pack, user, exp, "zz", now));
        let other = DownloadUrls::new(b"other");
        assert!(!other.check(pack, user, exp, sig, now), "another key");
    }
}
