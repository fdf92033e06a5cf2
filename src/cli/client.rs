//! The CLI's client of a manager's HTTP API (`--url` / `MYHA_URL`, token from `MYHA_TOKEN`).
//! HTTP/1.1, over TLS for `https://` (`--ca-file`, and `--cert-file` / `--key-file` for a
//! manager that asks for a client certificate), with a timeout on every request; the token
//! goes in a header, never on the command line.

use axum::body::Bytes;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::time::Duration;

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request failed; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `http(s)://host:port`.
    #[error("--url {0:?}: expected http://host:port or https://host:port")]
    BadUrl(String),
    /// An argument cannot be sent as given.
    #[error("{0}")]
    BadArgument(String),
    /// The manager cannot be reached.
    #[error("cannot reach the manager at {url}: {why}")]
    Unreachable {
        /// the URL
        url: String,
        /// why
        why: String,
    },
    /// The manager answered with an error.
    #[error("{error} (HTTP {status})")]
    Refused {
        /// the HTTP status
        status: u16,
        /// its `error` text
        error: String,
    },
    /// The answer is not what the API sends.
    #[error("unexpected answer from the manager: {0}")]
    BadResponse(String),
}

impl ClientError {
    /// The process exit code: 64 bad arguments or unknown cluster/node, 77 no or wrong token,
    /// 75 conflicts with a running action, 69 manager or cluster unavailable.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::BadUrl(_) | ClientError::BadArgument(_) => 64,
            ClientError::Refused {
                status: 400 | 404 | 405 | 422,
                ..
            } => 64,
            ClientError::Refused { status: 401 | 403, .. } => 77,
            ClientError::Refused { status: 409, .. } => 75,
            _ => 69,
        }
    }
}

/// A client of one manager.
pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// The CLI's TLS files (`--ca-file`, `--cert-file`, `--key-file` or their `MYHA_…` variables).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientTls {
    /// The CA that signed the managers' API certificate (default: the system's roots).
    #[arg(long, global = true, env = "MYHA_CA_FILE")]
    pub ca_file: Option<String>,
    /// A client certificate (PEM), for managers that require one.
    #[arg(long, global = true, env = "MYHA_CERT_FILE")]
    pub cert_file: Option<String>,
    /// Its private key (PEM).
    #[arg(long, global = true, env = "MYHA_KEY_FILE")]
    pub key_file: Option<String>,
}

/// The TLS files of this process's command line: set once, at start, by the CLI.
static TLS: std::sync::OnceLock<ClientTls> = std::sync::OnceLock::new();

/// Use these TLS files for every client of this process.
pub fn use_tls(tls: ClientTls) {
    let _ = TLS.set(tls);
}

impl ApiClient {
    /// For `url` (`http://host:port`), with the token from `MYHA_TOKEN` if set.
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let base = url.trim_end_matches('/');
        let ok = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .is_some_and(|hp| !hp.is_empty() && !hp.contains('/'));
        if !ok {
            return Err(ClientError::BadUrl(url.to_string()));
        }
        let t = TLS.get().cloned().unwrap_or_default();
        let tls = crate::tls::client_config(t.ca_file.as_deref(), t.cert_file.as_deref(), t.key_file.as_deref())
            .map_err(|e| ClientError::BadArgument(e.to_string()))?;
        let token = std::env::var("MYHA_TOKEN").ok().filter(|t| !t.is_empty());
        Ok(ApiClient::with_tls(base, token, tls))
    }

    /// A client of `base` (checked) with `tls` for https.
    fn with_tls(base: &str, token: Option<String>, tls: rustls::ClientConfig) -> Self {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        ApiClient {
            base: base.to_string(),
            token,
            http: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// `GET path` → JSON.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, path, None, TIMEOUT).await
    }

    /// `POST path` with a JSON body → JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(Method::POST, path, Some(body), TIMEOUT).await
    }

    /// Like [`ApiClient::post`], for a call the manager may hold open for `wait`.
    pub async fn post_waiting(&self, path: &str, body: &Value, wait: Duration) -> Result<Value, ClientError> {
        self.call(Method::POST, path, Some(body), wait + TIMEOUT).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        limit: Duration,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let bytes = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| ClientError::BadUrl(format!("{url}: {e}")))?;
        let unreachable = |why: String| ClientError::Unreachable {
            url: self.base.clone(),
            why,
        };
        let resp = tokio::time::timeout(limit, self.http.request(req))
            .await
            .map_err(|_| unreachable(format!("no answer within {limit:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status();
        let body = tokio::time::timeout(TIMEOUT, resp.into_body().collect())
            .await
            .map_err(|_| unreachable(format!("no complete answer within {TIMEOUT:?}")))?
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        let json: Value = serde_json::from_slice(&body)
            .map_err(|e| ClientError::BadResponse(format!("HTTP {status}, not JSON: {e}")))?;
        // 202: accepted, not finished (the body says how far it got)
        if status == StatusCode::OK || status == StatusCode::ACCEPTED {
            return Ok(json);
        }
        Err(ClientError::Refused {
            status: status.as_u16(),
            error: json["error"].as_str().unwrap_or("(no error text)").to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    //! The API over TLS, both ends real (rustls), certificates made here (rcgen).
    use super::*;
    use crate::tls::{client_config, server_config, TlsListener};
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    use std::sync::Arc;

    struct Ca {
        cert: rcgen::Certificate,
        key: KeyPair,
    }

    fn ca() -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Ca {
            cert: p.self_signed(&key).unwrap(),
            key,
        }
    }

    /// A certificate `ca` signed, as (cert PEM file, key PEM file).
    fn leaf(dir: &std::path::Path, name: &str, ca: &Ca, client: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        p.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
        let (c, k) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c.display().to_string(), k.display().to_string())
    }

    fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    /// An API answering /health over TLS on a loopback port; its URL.
    async fn serve(cfg: rustls::ServerConfig) -> String {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let app = axum::Router::new().route(
            "/api/v1/health",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
        );
        let l = TlsListener::new(tcp, Arc::new(cfg)).unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        format!("https://127.0.0.1:{port}")
    }

    fn client(url: &str, ca: Option<&str>, cert: Option<(&str, &str)>) -> ApiClient {
        let tls = client_config(ca, cert.map(|c| c.0), cert.map(|c| c.1)).unwrap();
        ApiClient::with_tls(url, None, tls)
    }

    #[tokio::test]
    async fn the_api_speaks_https_and_asks_for_client_certificates_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let (ours, theirs) = (ca(), ca());
        let ca_file = write(dir.path(), "ca.crt", &ours.cert.pem());
        let (crt, key) = leaf(dir.path(), "api", &ours, false);

        let url = serve(server_config(&crt, &key, None).unwrap()).await;
        assert_eq!(
            client(&url, Some(&ca_file), None).get("/api/v1/health").await.unwrap()["ok"],
            true
        );
        // a client that does not trust the CA refuses the server
        let e = client(&url, None, None).get("/api/v1/health").await.unwrap_err();
        assert!(matches!(e, ClientError::Unreachable { .. }), "{e}");
        // plain HTTP to the TLS port gets no answer
        let plain = url.replace("https://", "http://");
        assert!(client(&plain, Some(&ca_file), None)
            .get("/api/v1/health")
            .await
            .is_err());

        // mutual TLS: only a client certificate the client CA signed is let in
        let client_ca = write(dir.path(), "clients.crt", &ours.cert.pem());
        let url = serve(server_config(&crt, &key, Some(&client_ca)).unwrap()).await;
        let (good_c, good_k) = leaf(dir.path(), "dba", &ours, true);
        let (bad_c, bad_k) = leaf(dir.path(), "stranger", &theirs, true);
        let ok = client(&url, Some(&ca_file), Some((&good_c, &good_k)));
        assert_eq!(ok.get("/api/v1/health").await.unwrap()["ok"], true);
        for (who, c) in [
            ("no certificate", client(&url, Some(&ca_file), None)),
            ("another CA's", client(&url, Some(&ca_file), Some((&bad_c, &bad_k)))),
        ] {
            assert!(c.get("/api/v1/health").await.is_err(), "{who} was let in");
        }
    }

    #[test]
    fn unusable_tls_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let ours = ca();
        let (crt, key) = leaf(dir.path(), "api", &ours, false);
        let (_, other_key) = leaf(dir.path(), "other", &ours, false);
        let junk = write(dir.path(), "junk.pem", "not a certificate\n");
        for (r, want) in [
            (
                server_config("/nonexistent.crt", &key, None),
                "api.tls_cert_file: /nonexistent.crt",
            ),
            (server_config(&junk, &key, None), "api.tls_cert_file"),
            (server_config(&crt, &junk, None), "api.tls_key_file"),
            (server_config(&crt, &other_key, None), "does not match the certificate"),
            (server_config(&crt, &key, Some(&junk)), "api.client_ca_file"),
        ] {
            let e = r.unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        let e = client_config(Some(&junk), None, None).unwrap_err().to_string();
        assert!(e.contains("--ca-file"), "{e}");
        let e = client_config(None, Some(&crt), None).unwrap_err().to_string();
        assert!(e.contains("--cert-file needs --key-file"), "{e}");
    }
}
