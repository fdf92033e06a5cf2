//! Where backups are kept: [`BackupStore`], one trait for every kind of store. [`DirStore`]
//! keeps each backup as one tar archive in a directory (local disk or a mounted share),
//! written under a temporary name and renamed when complete, so a half-written archive never
//! looks like a backup.

use std::future::Future;
use std::path::{Path, PathBuf};

/// A store operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// Reading or writing the store failed.
    #[error("backup store {store}: {what}: {why}")]
    Io {
        /// the store's location
        store: String,
        /// what was being done
        what: String,
        /// why it failed
        why: String,
    },
    /// The backup is not in the store.
    #[error("backup store {store}: no backup {key}")]
    Missing {
        /// the store's location
        store: String,
        /// the backup's key
        key: String,
    },
}

/// A place to keep backups.
pub trait BackupStore: Send + Sync {
    /// Where it is, for people and for the catalogue.
    fn location(&self) -> String;

    /// Can it be written now? Checked before a backup starts, so an unreachable store fails
    /// fast instead of after hours of copying.
    fn check(&self) -> impl Future<Output = Result<(), ArchiveError>> + Send;

    /// Store the directory `dir` as backup `key`; returns its size in bytes.
    fn put_dir(&self, key: &str, dir: &Path) -> impl Future<Output = Result<u64, ArchiveError>> + Send;

    /// Unpack backup `key` into the (empty) directory `dir`.
    fn get_dir(&self, key: &str, dir: &Path) -> impl Future<Output = Result<(), ArchiveError>> + Send;

    /// Remove backup `key` (absent is fine).
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), ArchiveError>> + Send;
}

/// Backups as tar archives in a directory.
#[derive(Debug, Clone)]
pub struct DirStore {
    dir: PathBuf,
}

impl DirStore {
    /// A store in `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirStore { dir: dir.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.tar"))
    }

    fn err(&self, what: impl Into<String>, why: impl ToString) -> ArchiveError {
        ArchiveError::Io {
            store: self.location(),
            what: what.into(),
            why: why.to_string(),
        }
    }
}

/// Write `dir` as a tar archive to `file` (synced); its size.
pub(super) fn pack(dir: &Path, file: &Path) -> std::io::Result<u64> {
    let f = std::fs::File::create(file)?;
    let mut b = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, f));
    b.follow_symlinks(false);
    b.append_dir_all(".", dir)?;
    let mut w = b.into_inner()?;
    std::io::Write::flush(&mut w)?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    // complete on disk before anyone takes it for a backup
    f.sync_all()?;
    Ok(f.metadata()?.len())
}

/// Unpack the tar archive `file` into `dir`.
pub(super) fn unpack(file: &Path, dir: &Path) -> std::io::Result<()> {
    let f = std::fs::File::open(file)?;
    let mut a = tar::Archive::new(std::io::BufReader::with_capacity(1 << 20, f));
    a.set_preserve_permissions(true);
    a.unpack(dir)
}

/// Keys become file names and object keys: only what a backup id contains.
pub(super) fn safe(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !key.starts_with('.')
}

impl BackupStore for DirStore {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    async fn check(&self) -> Result<(), ArchiveError> {
        let dir = self.dir.clone();
        let probe = dir.join(".myha-write-check");
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&probe, b"ok")?;
            std::fs::remove_file(&probe)
        })
        .await
        .map_err(|e| self.err("check", e))?
        .map_err(|e| self.err("cannot write", e))
    }

    async fn put_dir(&self, key: &str, dir: &Path) -> Result<u64, ArchiveError> {
        if !safe(key) {
            return Err(self.err(format!("store {key:?}"), "not a backup id"));
        }
        let done = self.path(key);
        let partial = self.dir.join(format!(".{key}.tar.partial"));
        let src = dir.to_path_buf();
        let (p, d) = (partial.clone(), done.clone());
        let r = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            let size = pack(&src, &p)?;
            std::fs::rename(&p, &d)?;
            Ok(size)
        })
        .await
        .map_err(|e| self.err(format!("store {key}"), e))?;
        r.map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            self.err(format!("store {key} in {}", done.display()), e)
        })
    }

    async fn get_dir(&self, key: &str, dir: &Path) -> Result<(), ArchiveError> {
        let src = self.path(key);
        if !safe(key) || !src.exists() {
            return Err(ArchiveError::Missing {
                store: self.location(),
                key: key.to_string(),
            });
        }
        let dst = dir.to_path_buf();
        tokio::task::spawn_blocking(move || unpack(&src, &dst))
            .await
            .map_err(|e| self.err(format!("fetch {key}"), e))?
            .map_err(|e| self.err(format!("fetch {key}"), e))
    }

    async fn delete(&self, key: &str) -> Result<(), ArchiveError> {
        if !safe(key) {
            return Err(self.err(format!("delete {key:?}"), "not a backup id"));
        }
        match tokio::fs::remove_file(self.path(key)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(self.err(format!("delete {key}"), e)),
            _ => Ok(()),
        }
    }
}

/// The store `[backup] store` names: a directory or an S3 bucket.
pub enum AnyBackupStore {
    /// A directory.
    Dir(DirStore),
    /// An S3 bucket.
    S3(super::s3::S3Store),
}

impl AnyBackupStore {
    /// Open the configured store (S3 credentials and region from `[ec2]`).
    pub async fn open(cfg: &crate::config::Config, b: &crate::config::BackupConfig) -> Result<Self, ArchiveError> {
        if !b.store.starts_with("s3://") {
            return Ok(AnyBackupStore::Dir(DirStore::new(&b.store)));
        }
        // validation requires [ec2] with an S3 store
        let ec2 = cfg.ec2.as_ref().ok_or_else(|| ArchiveError::Io {
            store: b.store.clone(),
            what: "open the S3 store".into(),
            why: "no [ec2] section: its region and credentials are the store's".into(),
        })?;
        let secret = ec2.secret_access_key_value.as_ref().map(|s| s.expose().to_string());
        let credentials = ec2.access_key_id.as_deref().zip(secret.as_deref());
        let target = super::s3::S3Target {
            url: &b.store,
            region: &ec2.region,
            endpoint: b.s3_endpoint.as_deref(),
            credentials,
            work_dir: &b.work_dir,
        };
        Ok(AnyBackupStore::S3(super::s3::S3Store::new(&target).await?))
    }
}

impl BackupStore for AnyBackupStore {
    fn location(&self) -> String {
        match self {
            AnyBackupStore::Dir(s) => s.location(),
            AnyBackupStore::S3(s) => s.location(),
        }
    }

    async fn check(&self) -> Result<(), ArchiveError> {
        match self {
            AnyBackupStore::Dir(s) => s.check().await,
            AnyBackupStore::S3(s) => s.check().await,
        }
    }

    async fn put_dir(&self, key: &str, dir: &Path) -> Result<u64, ArchiveError> {
        match self {
            AnyBackupStore::Dir(s) => s.put_dir(key, dir).await,
            AnyBackupStore::S3(s) => s.put_dir(key, dir).await,
        }
    }

    async fn get_dir(&self, key: &str, dir: &Path) -> Result<(), ArchiveError> {
        match self {
            AnyBackupStore::Dir(s) => s.get_dir(key, dir).await,
            AnyBackupStore::S3(s) => s.get_dir(key, dir).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<(), ArchiveError> {
        match self {
            AnyBackupStore::Dir(s) => s.delete(key).await,
            AnyBackupStore::S3(s) => s.delete(key).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_directory_goes_in_and_comes_back_whole() {
        let root = tempfile::tempdir().unwrap();
        let src = root.path().join("src");
        std::fs::create_dir_all(src.join("app")).unwrap();
        std::fs::write(src.join("app/t.ibd"), vec![7u8; 100_000]).unwrap();
        std::fs::write(src.join("xtrabackup_binlog_info"), "mysql-bin.000001\t4\t0-1-7\n").unwrap();
        let store = DirStore::new(root.path().join("store"));
        store.check().await.unwrap();
        let size = store.put_dir("c1-20261122T101010Z-db2", &src).await.unwrap();
        assert!(size > 100_000);
        // no partial file is left, only the archive
        let names: Vec<String> = std::fs::read_dir(root.path().join("store"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["c1-20261122T101010Z-db2.tar"]);
        let dst = root.path().join("dst");
        std::fs::create_dir_all(&dst).unwrap();
        store.get_dir("c1-20261122T101010Z-db2", &dst).await.unwrap();
        assert_eq!(std::fs::read(dst.join("app/t.ibd")).unwrap(), vec![7u8; 100_000]);
        store.delete("c1-20261122T101010Z-db2").await.unwrap();
        assert!(matches!(
            store.get_dir("c1-20261122T101010Z-db2", &dst).await,
            Err(ArchiveError::Missing { .. })
        ));
        assert!(store.put_dir("../escape", &src).await.is_err());
    }

    #[tokio::test]
    async fn an_unwritable_store_fails_the_check() {
        let f = tempfile::NamedTempFile::new().unwrap();
        // a regular file where the directory should be
        let store = DirStore::new(f.path().join("sub"));
        assert!(matches!(store.check().await, Err(ArchiveError::Io { .. })));
    }
}
