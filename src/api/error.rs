//! API errors: a status code and a JSON body `{"error": "…"}` that says what is wrong.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no token, or the wrong one.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: a valid token whose role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such cluster, node or route.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with what is going on.
    #[error("{0}")]
    Conflict(String),
    /// 422: understood, but the cluster cannot do it (a target that cannot be promoted).
    #[error("{0}")]
    Unprocessable(String),
    /// 503: cannot answer now (no probe round yet, coordinator unreachable).
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut r = (status, Json(json!({ "error": self.to_string() }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

/// The shared state could not be written: a 503, and nothing changed.
impl From<crate::coord::StoreError> for ApiError {
    fn from(e: crate::coord::StoreError) -> Self {
        ApiError::Unavailable(format!("nothing changed: cannot write the cluster state: {e}"))
    }
}
