//! Who may call what: each route needs a role ([`Need`]), a request names its token in
//! `Authorization: Bearer …`, and the token's name is the "who" of what it does. Tokens are
//! compared in constant time, never logged, never echoed.

use super::error::ApiError;
use crate::config::{ApiConfig, ApiRole, ApiToken};
use axum::http::HeaderMap;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: liveness and the load balancers' checks (a 200/503 and one sentence), the
    /// API description.
    Open,
    /// A token of at least this role (reads: unless `[api] open_reads`).
    Role(ApiRole),
}

/// The caller a request was let in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name; "anonymous" for an open read.
    pub name: String,
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Access {
    tokens: Vec<ApiToken>,
    open_reads: bool,
}

impl Access {
    /// From `[api]` (resolved); none: every request that needs a role is refused.
    pub fn new(api: Option<&ApiConfig>) -> Self {
        api.map(|a| Access::with_tokens(a.tokens.clone(), a.open_reads))
            .unwrap_or_default()
    }

    /// These tokens.
    pub fn with_tokens(tokens: Vec<ApiToken>, open_reads: bool) -> Self {
        Access { tokens, open_reads }
    }

    /// Let the request in, or say why not: 401 without a valid token, 403 with one of a
    /// lower role.
    pub fn check(&self, need: Need, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let role = match need {
            Need::Open => return Ok(anonymous()),
            Need::Role(ApiRole::Read) if self.open_reads => return Ok(anonymous()),
            Need::Role(r) => r,
        };
        if self.tokens.is_empty() {
            return Err(ApiError::Unauthorized(
                "this manager has no [api] token configured: only the health and check endpoints answer".into(),
            ));
        }
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(ApiError::Unauthorized(format!(
                "missing Authorization: Bearer <token> (MYHA_TOKEN for the CLI): this needs the {role} role"
            )));
        };
        let given = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into()))?
            .trim()
            .as_bytes();
        // every token is compared, so the time taken does not say which one nearly matched
        let found = self
            .tokens
            .iter()
            .fold(None, |hit, t| match same(given, t.secret.expose().as_bytes()) {
                true => Some(t),
                false => hit,
            });
        match found {
            None => Err(ApiError::Unauthorized("wrong token".into())),
            Some(t) if t.role < role => Err(ApiError::Forbidden(format!(
                "token {:?} has the {} role; this needs {role}",
                t.name, t.role
            ))),
            Some(t) => Ok(Caller { name: t.name.clone() }),
        }
    }
}

fn anonymous() -> Caller {
    Caller {
        name: "anonymous".into(),
    }
}

fn same(a: &[u8], b: &[u8]) -> bool {
    // length is not secret; the content is compared without an early exit
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use axum::http::HeaderValue;

    fn headers(v: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = v {
            h.insert(axum::http::header::AUTHORIZATION, HeaderValue::from_static(v));
        }
        h
    }

    fn access(open_reads: bool) -> Access {
        let t = |name: &str, role, secret: &str| ApiToken {
            name: name.into(),
            role,
            secret: Secret::new(secret),
        };
        Access {
            tokens: vec![
                t("grafana", ApiRole::Read, "read-0123456789abcdef"),
                t("oncall", ApiRole::Operate, "operate-0123456789abcdef"),
                t("alice", ApiRole::Admin, "admin-0123456789abcdef"),
            ],
            open_reads,
        }
    }

    #[test]
    fn each_role_may_do_what_the_roles_below_it_may() {
        let a = access(false);
        let roles = [ApiRole::Read, ApiRole::Operate, ApiRole::Admin];
        for (token, name, up_to) in [
            ("Bearer read-0123456789abcdef", "grafana", 0),
            ("Bearer operate-0123456789abcdef", "oncall", 1),
            ("Bearer admin-0123456789abcdef", "alice", 2),
        ] {
            for (i, role) in roles.iter().enumerate() {
                let r = a.check(Need::Role(*role), &headers(Some(token)));
                if i <= up_to {
                    assert_eq!(r.unwrap().name, name);
                } else {
                    let e = r.unwrap_err();
                    assert!(matches!(e, ApiError::Forbidden(_)), "{token} for {role}: {e}");
                    assert!(e.to_string().contains(&format!("this needs {role}")), "{e}");
                    assert!(!e.to_string().contains("0123456789abcdef"), "the token leaked: {e}");
                }
            }
        }
    }

    #[test]
    fn no_or_a_wrong_token_is_401_and_open_routes_need_none() {
        let a = access(false);
        for (h, why) in [
            (None, "missing"),
            (Some("Bearer admin-0123456789abcdeX"), "wrong token"),
            (Some("Bearer admin-0123456789abcdef0"), "wrong token"),
            (Some("Basic admin-0123456789abcdef"), "Bearer <token>"),
        ] {
            let e = a.check(Need::Role(ApiRole::Read), &headers(h)).unwrap_err();
            assert!(matches!(e, ApiError::Unauthorized(_)), "{h:?}: {e}");
            assert!(e.to_string().contains(why), "{h:?}: {e}");
            assert!(!e.to_string().contains("0123456789abcdef"), "the token leaked: {e}");
        }
        assert_eq!(a.check(Need::Open, &headers(None)).unwrap().name, "anonymous");
        // open reads: reads without a token, actions still need theirs
        let a = access(true);
        assert_eq!(
            a.check(Need::Role(ApiRole::Read), &headers(None)).unwrap().name,
            "anonymous"
        );
        assert!(matches!(
            a.check(Need::Role(ApiRole::Operate), &headers(None)),
            Err(ApiError::Unauthorized(_))
        ));
        let e = Access::default()
            .check(
                Need::Role(ApiRole::Read),
                &headers(Some("Bearer admin-0123456789abcdef")),
            )
            .unwrap_err();
        assert!(e.to_string().contains("no [api] token"), "{e}");
    }
}
