//! The CLI's client of a manager's HTTP API (`--url` / `MYHA_URL`, token from `MYHA_TOKEN`).
//! Plain HTTP/1.1 with a timeout on every request; the token goes in a header, never on the
//! command line.

use axum::body::Bytes;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
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
    /// The URL is not `http://host:port`.
    #[error("--url {0:?}: expected http://host:port")]
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
    http: Client<HttpConnector, Full<Bytes>>,
}

impl ApiClient {
    /// For `url` (`http://host:port`), with the token from `MYHA_TOKEN` if set.
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let base = url.trim_end_matches('/');
        let ok = base
            .strip_prefix("http://")
            .is_some_and(|hp| !hp.is_empty() && !hp.contains('/'));
        if !ok {
            return Err(ClientError::BadUrl(url.to_string()));
        }
        Ok(ApiClient {
            base: base.to_string(),
            token: std::env::var("MYHA_TOKEN").ok().filter(|t| !t.is_empty()),
            http: Client::builder(TokioExecutor::new()).build_http(),
        })
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
