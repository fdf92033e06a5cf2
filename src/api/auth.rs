//! The action endpoints' bearer token. Compared in constant time; never logged, never echoed.

use super::error::ApiError;
use crate::config::Secret;
use axum::http::HeaderMap;

fn same(a: &[u8], b: &[u8]) -> bool {
    // length is not secret; the content is compared without an early exit
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `Ok` when the request carries `Authorization: Bearer <the configured token>`.
pub fn check(token: Option<&Secret>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Err(ApiError::Unauthorized(
            "this manager has no [api] token configured: action endpoints are disabled".into(),
        ));
    };
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized(
            "missing Authorization: Bearer <token> (MYHA_TOKEN for the CLI)".into(),
        ));
    };
    let given = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into()))?;
    if same(given.trim().as_bytes(), token.expose().as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("wrong token".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(v: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = v {
            h.insert(axum::http::header::AUTHORIZATION, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_the_configured_bearer_token_passes() {
        let t = Secret::new("0123456789abcdef");
        assert!(check(Some(&t), &headers(Some("Bearer 0123456789abcdef"))).is_ok());
        for (h, why) in [
            (None, "missing"),
            (Some("Bearer 0123456789abcdeX"), "wrong token"),
            (Some("Bearer 0123456789abcdef0"), "wrong token"),
            (Some("Basic 0123456789abcdef"), "Bearer <token>"),
        ] {
            let e = check(Some(&t), &headers(h)).unwrap_err().to_string();
            assert!(e.contains(why), "{h:?}: {e}");
            assert!(!e.contains("0123456789abcdef"), "the token leaked: {e}");
        }
        let e = check(None, &headers(Some("Bearer 0123456789abcdef")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no [api] token"), "{e}");
    }
}
