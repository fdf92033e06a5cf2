//! Backups as objects in S3 or any S3-compatible API (the lab's moto): `<prefix><id>.tar`.
//! The archive is written to the work dir first, then uploaded in parts (one PUT takes at most
//! 5 GB); the object appears under its key only when the multipart upload completes, so an
//! interrupted upload never looks like a backup (abort what is left; a bucket lifecycle rule
//! for incomplete uploads cleans up after a crash).

use super::store::{pack, safe, unpack, ArchiveError, BackupStore};
use crate::config::s3_url;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use std::path::{Path, PathBuf};

/// One part of a multipart upload (S3's minimum is 5 MB; 10 000 parts at most → 640 GB).
const PART: u64 = 64 << 20;

/// Where and how to reach the bucket.
pub struct S3Target<'a> {
    /// `s3://bucket/prefix`.
    pub url: &'a str,
    /// Region.
    pub region: &'a str,
    /// An S3-compatible endpoint (path-style addressing), or AWS's when `None`.
    pub endpoint: Option<&'a str>,
    /// Static credentials (`None`: the default AWS credential chain).
    pub credentials: Option<(&'a str, &'a str)>,
    /// Where archives are staged.
    pub work_dir: &'a Path,
}

/// A bucket and key prefix.
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    work_dir: PathBuf,
}

impl S3Store {
    /// A client for `t`.
    pub async fn new(t: &S3Target<'_>) -> Result<Self, ArchiveError> {
        let (bucket, prefix) = s3_url(t.url).ok_or_else(|| ArchiveError::Io {
            store: t.url.to_string(),
            what: "parse".into(),
            why: "expected s3://bucket/prefix".into(),
        })?;
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(t.region.to_string()));
        if let Some(ep) = t.endpoint {
            // S3-compatible servers address buckets by path, not by host name
            b = b.endpoint_url(ep).force_path_style(true);
        }
        match t.credentials {
            Some((id, secret)) => b = b.credentials_provider(Credentials::new(id, secret, None, None, "myha-config")),
            None => {
                let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .region(Region::new(t.region.to_string()))
                    .build()
                    .await;
                b = b.credentials_provider(chain);
            }
        }
        Ok(S3Store {
            client: aws_sdk_s3::Client::from_conf(b.build()),
            bucket,
            prefix,
            work_dir: t.work_dir.to_path_buf(),
        })
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}.tar", self.prefix)
    }

    fn err(&self, what: impl Into<String>, why: impl std::fmt::Display) -> ArchiveError {
        ArchiveError::Io {
            store: self.location(),
            what: what.into(),
            why: why.to_string(),
        }
    }

    fn staging(&self) -> Result<tempfile::TempDir, ArchiveError> {
        std::fs::create_dir_all(&self.work_dir).map_err(|e| self.err("stage", e))?;
        tempfile::Builder::new()
            .prefix("myha-s3-")
            .tempdir_in(&self.work_dir)
            .map_err(|e| self.err("stage", e))
    }

    async fn upload(&self, key: &str, file: &Path, size: u64) -> Result<(), ArchiveError> {
        let what = || format!("upload {key}");
        let up = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err(what(), aws_sdk_s3::error::DisplayErrorContext(e)))?;
        let upload_id = up.upload_id().unwrap_or_default().to_string();
        let mut parts = Vec::new();
        let mut offset = 0;
        let mut number = 1;
        let result: Result<(), ArchiveError> = async {
            while offset < size || number == 1 {
                let len = PART.min(size - offset);
                let body = ByteStream::read_from()
                    .path(file)
                    .offset(offset)
                    .length(Length::Exact(len))
                    .build()
                    .await
                    .map_err(|e| self.err(what(), e))?;
                let part = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| self.err(what(), aws_sdk_s3::error::DisplayErrorContext(e)))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(part.e_tag().map(String::from))
                        .build(),
                );
                offset += len;
                number += 1;
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map_err(|e| self.err(what(), aws_sdk_s3::error::DisplayErrorContext(e)))?;
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }
}

impl BackupStore for S3Store {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    async fn check(&self) -> Result<(), ArchiveError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("reach the bucket", aws_sdk_s3::error::DisplayErrorContext(e)))
    }

    async fn put_dir(&self, id: &str, dir: &Path) -> Result<u64, ArchiveError> {
        if !safe(id) {
            return Err(self.err(format!("store {id:?}"), "not a backup id"));
        }
        let stage = self.staging()?;
        let file = stage.path().join("backup.tar");
        let (src, f) = (dir.to_path_buf(), file.clone());
        let size = tokio::task::spawn_blocking(move || pack(&src, &f))
            .await
            .map_err(|e| self.err(format!("archive {id}"), e))?
            .map_err(|e| self.err(format!("archive {id}"), e))?;
        self.upload(&self.key(id), &file, size).await?;
        Ok(size)
    }

    async fn get_dir(&self, id: &str, dir: &Path) -> Result<(), ArchiveError> {
        let key = self.key(id);
        let missing = || ArchiveError::Missing {
            store: self.location(),
            key: id.to_string(),
        };
        if !safe(id) {
            return Err(missing());
        }
        let obj = match self.client.get_object().bucket(&self.bucket).key(&key).send().await {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Err(missing()),
            Err(e) => return Err(self.err(format!("fetch {key}"), aws_sdk_s3::error::DisplayErrorContext(e))),
        };
        let stage = self.staging()?;
        let file = stage.path().join("backup.tar");
        let mut out = tokio::fs::File::create(&file)
            .await
            .map_err(|e| self.err(format!("fetch {key}"), e))?;
        let mut body = obj.body.into_async_read();
        tokio::io::copy(&mut body, &mut out)
            .await
            .map_err(|e| self.err(format!("fetch {key}"), e))?;
        drop(out);
        let (f, d) = (file.clone(), dir.to_path_buf());
        tokio::task::spawn_blocking(move || unpack(&f, &d))
            .await
            .map_err(|e| self.err(format!("unpack {key}"), e))?
            .map_err(|e| self.err(format!("unpack {key}"), e))
    }

    async fn delete(&self, id: &str) -> Result<(), ArchiveError> {
        if !safe(id) {
            return Err(self.err(format!("delete {id:?}"), "not a backup id"));
        }
        let key = self.key(id);
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err(format!("delete {key}"), aws_sdk_s3::error::DisplayErrorContext(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        assert_eq!(s3_url("s3://b/p/q/"), Some(("b".into(), "p/q/".into())));
        assert_eq!(s3_url("s3://my-bucket"), Some(("my-bucket".into(), String::new())));
        for bad in ["s3://", "s3:///x", "s3://Upper/x", "/var/backups", "s3://a_b/x"] {
            assert_eq!(s3_url(bad), None, "{bad}");
        }
    }
}
