//! The Ed25519 key that signs evidence packs. Generated on first start; the private half
//! is a PKCS#8 file under `<data dir>/keys/` (mode 0600), never in the database, the API
//! or a log; the public half is registered in the database for `evidenceSigningKeys`.
use std::path::{Path, PathBuf};

use base64::Engine;
use diesel_async::AsyncConnection;
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::{
    db::Db,
    domain::evidence::key_id,
    error::{AppError, AppResult},
    store,
};

/// The process's signing key.
pub struct Signer {
    key_id: String,
    public_key: Vec<u8>,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    fn from_pkcs8(bytes: &[u8]) -> AppResult<Self> {
        let pair = Ed25519KeyPair::from_pkcs8(bytes).map_err(|_| {
            AppError::internal("the evidence signing key file is not an Ed25519 PKCS#8 key")
        })?;
        let public_key = pair.public_key().as_ref().to_vec();
        Ok(Self {
            key_id: key_id(&public_key),
            public_key,
            pair,
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public key, base64.
    pub fn public_key_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.public_key)
    }

    /// An Ed25519 signature of `message`, base64.
    pub fn sign_base64(&self, message: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.pair.sign(message).as_ref())
    }
}

fn keys_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("keys")
}

fn key_file(data_dir: &Path, id: &str) -> PathBuf {
    keys_dir(data_dir).join(format!("{id}.pk8"))
}

fn read_key(path: &Path) -> AppResult<Option<Signer>> {
    match std::fs::read(path) {
        Ok(bytes) => Signer::from_pkcs8(&bytes).map(Some).map_err(|_| {
            AppError::internal(format!(
                "the evidence signing key file {} is not an Ed25519 PKCS#8 key",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AppError::internal(format!(
            "cannot read the evidence signing key {}: {e}",
            path.display()
        ))),
    }
}

fn write_new_key(data_dir: &Path) -> AppResult<Signer> {
    use std::io::Write;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| AppError::internal("cannot generate an evidence signing key"))?;
    let signer = Signer::from_pkcs8(pkcs8.as_ref())?;
    let dir = keys_dir(data_dir);
    let fail = |what: &str, e: std::io::Error| {
        AppError::internal(format!("cannot {what} {}: {e}", dir.display()))
    };
    std::fs::create_dir_all(&dir).map_err(|e| fail("create", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| fail("restrict", e))?;
    }
    let path = key_file(data_dir, signer.key_id());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .map_err(|e| fail("write a signing key into", e))?;
    file.write_all(pkcs8.as_ref())
        .and_then(|()| file.sync_all())
        .map_err(|e| fail("write a signing key into", e))?;
    Ok(signer)
}

/// The newest registered key whose private half is in this data directory; when there is
/// none, a new key is generated, stored and registered (under a lock, so processes that
/// start together on one database and data directory agree on one key).
pub async fn load_or_create_signer(db: &Db, data_dir: &Path) -> AppResult<Signer> {
    let mut conn = db.conn().await?;
    let data_dir = data_dir.to_path_buf();
    conn.transaction::<_, AppError, _>(async |conn| {
        store::evidence::lock_key_generation(conn).await?;
        for key in store::evidence::list_signing_keys(conn).await? {
            if key.retired_at.is_some() {
                continue;
            }
            let path = key_file(&data_dir, &key.id);
            let found = tokio::task::spawn_blocking(move || read_key(&path))
                .await
                .map_err(AppError::internal)??;
            if let Some(signer) = found {
                if signer.public_key_base64() == key.public_key {
                    return Ok(signer);
                }
                tracing::warn!(key.id = %key.id, "an evidence signing key file does not match its registered public key; ignored");
            }
        }
        let registered = store::evidence::list_signing_keys(conn).await?;
        if registered.iter().any(|k| k.retired_at.is_none()) {
            tracing::warn!(
                data_dir = %data_dir.display(),
                "no registered evidence signing key has its private file in this data directory; generating another (share the data directory between processes to sign with one key)"
            );
        }
        let dir = data_dir.clone();
        let signer = tokio::task::spawn_blocking(move || write_new_key(&dir))
            .await
            .map_err(AppError::internal)??;
        store::evidence::insert_signing_key(conn, signer.key_id(), &signer.public_key_base64())
            .await?;
        tracing::info!(key.id = %signer.key_id(), "generated an evidence signing key");
        Ok(signer)
    })
    .await
}
