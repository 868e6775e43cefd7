//! Where built packs are kept: behind [`PackStorage`], so an S3-compatible store can be
//! added later; [`LocalStorage`] keeps them under the data directory.
use std::path::{Component, Path, PathBuf};

use tokio::io::AsyncRead;

use crate::error::{AppError, AppResult};

/// A readable stored pack and its size.
pub type StoredPack = (Box<dyn AsyncRead + Send + Unpin>, u64);

/// Storage of finished packs. Keys are relative, `/`-separated names the service makes up
/// (`evidence-packs/<workspace>/<pack>.zip`). The service puts a pack's object only while
/// the pack is not READY (a retried build replaces what a dead attempt left), so a READY
/// pack's object never changes.
#[async_trait::async_trait]
pub trait PackStorage: Send + Sync {
    /// A local file a build may write to before [`PackStorage::put`] takes it over.
    fn scratch_path(&self, name: &str) -> AppResult<PathBuf>;
    /// Stores the finished file at `built` under `key` (consuming the file).
    async fn put(&self, key: &str, built: &Path) -> AppResult<()>;
    /// Opens a stored pack; `None` when there is none under `key`.
    async fn open(&self, key: &str) -> AppResult<Option<StoredPack>>;
    /// Removes a stored pack (no error when it is already gone).
    async fn delete(&self, key: &str) -> AppResult<()>;
}

/// Packs as files under `<data dir>/`, built in `<data dir>/tmp/` and moved into place
/// (one rename on the same file system: a pack is either absent or complete).
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn resolve(&self, key: &str) -> AppResult<PathBuf> {
        let rel = Path::new(key);
        let plain = !key.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !plain {
            return Err(AppError::internal(format!("unusable storage key {key:?}")));
        }
        Ok(self.root.join(rel))
    }
}

/// Creates `dir` and its missing parents, owner-only (0700 on Unix).
pub async fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir).await
}

async fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).await
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        let mut perms = tokio::fs::metadata(path).await?.permissions();
        perms.set_readonly(true);
        tokio::fs::set_permissions(path, perms).await
    }
}

fn io_error(what: &str, err: std::io::Error) -> AppError {
    AppError::internal(format!("evidence storage: cannot {what}: {err}"))
}

#[async_trait::async_trait]
impl PackStorage for LocalStorage {
    fn scratch_path(&self, name: &str) -> AppResult<PathBuf> {
        self.resolve(&format!("tmp/{name}"))
    }

    async fn put(&self, key: &str, built: &Path) -> AppResult<()> {
        let target = self.resolve(key)?;
        if let Some(parent) = target.parent() {
            create_private_dir(parent)
                .await
                .map_err(|e| io_error("create the pack folder", e))?;
        }
        // Owner-readable only: a pack holds the whole configuration.
        restrict(built, 0o400)
            .await
            .map_err(|e| io_error("make the built pack read-only", e))?;
        // The service puts a pack only while it is not READY, so a file already here is
        // an earlier attempt's whose worker died before recording it: replaced.
        tokio::fs::rename(built, &target)
            .await
            .map_err(|e| io_error("move the built pack into place", e))?;
        Ok(())
    }

    async fn open(&self, key: &str) -> AppResult<Option<StoredPack>> {
        let path = self.resolve(key)?;
        match tokio::fs::File::open(&path).await {
            Ok(file) => {
                let size = file
                    .metadata()
                    .await
                    .map_err(|e| io_error("read the stored pack", e))?
                    .len();
                Ok(Some((Box::new(file), size)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("open the stored pack", e)),
        }
    }

    async fn delete(&self, key: &str) -> AppResult<()> {
        let path = self.resolve(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("delete the stored pack", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_leave_the_root() {
        let s = LocalStorage::new("/data");
        assert!(s.resolve("../etc/passwd").is_err());
        assert!(s.resolve("/etc/passwd").is_err());
        assert!(s.resolve("").is_err());
        assert!(s.resolve("a/./b").is_ok());
        assert_eq!(
            s.resolve("evidence-packs/w/p.zip").unwrap(),
            PathBuf::from("/data/evidence-packs/w/p.zip")
        );
    }
}
