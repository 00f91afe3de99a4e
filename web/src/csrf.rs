//! Cross-site request forgery protection by a signed double submit, bound to the session:
//! the `shop_csrf` cookie holds a random nonce, and the token forms carry is an HMAC, under a
//! key every web instance shares (`WEB_CSRF_KEY`), of that nonce and the session (`sid`, none
//! for visitors). It must come back with every state-changing request, as the `csrf_token`
//! form field (urlencoded or multipart) or the `X-CSRF-Token` header (htmx), and a present
//! `Origin` must be our host. Someone who can plant a cookie, or saw a token of another
//! session, cannot make a token for this one; a login or logout changes the session and so
//! every token, while a refresh keeps both.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{HeaderMap, HeaderName};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::WebError;
use crate::multipart;
use crate::session::Session;
use crate::session::cookies::{self, SetCookies};

/// The form field carrying the token.
pub const FIELD: &str = "csrf_token";
/// The header carrying the token on htmx requests.
pub const HEADER: HeaderName = HeaderName::from_static("x-csrf-token");

/// Forms larger than this are refused before their token is looked for.
const MAX_FORM_BYTES: usize = 64 * 1024;
const TOKEN_BYTES: usize = 32;

/// The key form tokens are signed with.
#[derive(Clone)]
pub struct CsrfKey(Vec<u8>);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(..)")
    }
}

impl CsrfKey {
    /// Shortest `WEB_CSRF_KEY` taken, in bytes.
    pub const MIN_LEN: usize = 32;

    /// The key from a setting, refused when shorter than `MIN_LEN`.
    pub fn from_setting(text: &str) -> Result<Self, String> {
        if text.len() < Self::MIN_LEN {
            return Err(format!("must be at least {} characters long", Self::MIN_LEN));
        }
        Ok(Self(text.as_bytes().to_vec()))
    }

    /// A key of this process alone: its forms are taken by no other web instance.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = vec![0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// The token of the browser whose cookie holds `nonce`, in `session` (None: a visitor).
    pub fn token(&self, nonce: &str, session: Option<Uuid>) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(b"shop-csrf-v1\0");
        mac.update(session.map(|id| *id.as_bytes()).unwrap_or_default().as_slice());
        mac.update(nonce.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// The request's CSRF token, for forms to render.
#[derive(Debug, Clone)]
pub struct CsrfToken {
    pub value: String,
    /// The browser's nonce, which the token signs.
    nonce: String,
    /// True when the browser sent no (valid) nonce cookie: nothing it submits can match.
    pub fresh: bool,
}

impl CsrfToken {
    /// The token the same browser holds in `session` (a page rendered by the response that
    /// starts that session).
    pub fn for_session(&self, key: &CsrfKey, session: Uuid) -> Self {
        Self {
            value: key.token(&self.nonce, Some(session)),
            ..self.clone()
        }
    }
}

/// Makes sure every visitor has a nonce cookie and every handler sees the token of the
/// request's session.
pub async fn issue_token(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let existing = CookieJar::from_headers(request.headers())
        .get(cookies::CSRF.get(state.settings.secure_cookies))
        .map(|c| c.value().to_owned())
        .filter(|v| is_well_formed(v));
    let (nonce, fresh) = match existing {
        Some(nonce) => (nonce, false),
        None => match new_token() {
            Ok(nonce) => (nonce, true),
            Err(e) => return WebError::Internal(format!("no randomness for a CSRF token: {e}")).into_response(),
        },
    };
    let session = request.extensions().get::<Session>().and_then(|s| s.id);
    let token = CsrfToken {
        value: state.csrf_key.token(&nonce, session),
        nonce,
        fresh,
    };
    let secure = state.settings.secure_cookies;
    let cookie = fresh.then(|| cookies::set_cookie(cookies::CSRF, &token.nonce, None, secure));
    request.extensions_mut().insert(token);
    let response = next.run(request).await;
    match cookie {
        Some(cookie) => (SetCookies(vec![cookie]), response).into_response(),
        None => response,
    }
}

/// Refuses state-changing requests without a matching token or from another origin.
pub async fn verify(request: Request, next: Next) -> Response {
    if request.method().is_safe() {
        return next.run(request).await;
    }
    match check(request).await {
        Ok(request) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

async fn check(request: Request) -> Result<Request, WebError> {
    if let Some(origin) = request.headers().get(ORIGIN) {
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if !same_origin(origin.to_str().unwrap_or_default(), host) {
            return Err(WebError::FormExpired("origin does not match host"));
        }
    }
    let expected = match request.extensions().get::<CsrfToken>() {
        Some(token) if !token.fresh => token.value.clone(),
        _ => return Err(WebError::FormExpired("no token cookie")),
    };
    if let Some(sent) = request.headers().get(HEADER) {
        return if tokens_match(sent.as_bytes(), expected.as_bytes()) {
            Ok(request)
        } else {
            Err(WebError::FormExpired("header token differs"))
        };
    }
    let boundary = multipart::boundary(request.headers());
    if boundary.is_none() && !is_form(request.headers()) {
        return Err(WebError::FormExpired("no token"));
    }
    let (parts, body) = request.into_parts();
    let operator = parts
        .extensions
        .get::<Session>()
        .and_then(|s| s.user.as_ref())
        .is_some_and(|u| u.is_operator());
    let limit = match boundary {
        Some(_) if operator => multipart::MAX_UPLOAD_BYTES,
        _ => MAX_FORM_BYTES,
    };
    let bytes = to_bytes(body, limit).await.map_err(|_| {
        WebError::BadRequest(format!(
            "The form is too large: send at most {} MiB.",
            limit.div_ceil(1024 * 1024)
        ))
    })?;
    let sent = match boundary {
        Some(boundary) => multipart::field(bytes.clone(), &boundary, FIELD)
            .await
            .map_err(|e| WebError::BadRequest(format!("The form could not be read: {e}")))?
            .map(|token| String::from_utf8_lossy(&token).into_owned()),
        None => url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == FIELD)
            .map(|(_, v)| v.into_owned()),
    };
    match sent {
        Some(sent) if tokens_match(sent.as_bytes(), expected.as_bytes()) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        Some(_) => Err(WebError::FormExpired("form token differs")),
        None => Err(WebError::FormExpired("no token")),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// 32 random bytes, base64url.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn is_well_formed(token: &str) -> bool {
    URL_SAFE_NO_PAD
        .decode(token)
        .is_ok_and(|bytes| bytes.len() == TOKEN_BYTES)
}

/// Compares in time independent of where the inputs differ.
pub fn tokens_match(sent: &[u8], expected: &[u8]) -> bool {
    if sent.len() != expected.len() || expected.is_empty() {
        return false;
    }
    sent.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// True when `origin` (`scheme://host[:port]`) names the same host and port as the `Host`
/// header (whose port defaults to the origin scheme's).
pub fn same_origin(origin: &str, host: &str) -> bool {
    let Ok(origin) = url::Url::parse(origin) else {
        return false;
    };
    if host.is_empty() || host.contains(['/', '@', '?', '#']) {
        return false;
    }
    let Ok(host) = url::Url::parse(&format!("{}://{host}", origin.scheme())) else {
        return false;
    };
    origin.host_str().is_some()
        && origin.host_str() == host.host_str()
        && origin.port_or_known_default() == host.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(tokens_match(b"abcdef", b"abcdef"));
        assert!(!tokens_match(b"abcdeg", b"abcdef"));
        assert!(!tokens_match(b"abcde", b"abcdef"));
        assert!(!tokens_match(b"", b""));
    }

    #[test]
    fn tokens_differ_by_key_session_and_nonce_and_never_show_the_nonce() {
        let key = CsrfKey::from_setting(&"k".repeat(32)).unwrap();
        let other_key = CsrfKey::from_setting(&"j".repeat(32)).unwrap();
        let (nonce, other_nonce) = (new_token().unwrap(), new_token().unwrap());
        let (session, other_session) = (Uuid::now_v7(), Uuid::now_v7());
        let token = key.token(&nonce, Some(session));
        assert_eq!(token, key.token(&nonce, Some(session)), "the same for the same inputs");
        assert_eq!(token.len(), 43);
        assert!(cookies::is_cookie_value(&token));
        for different in [
            other_key.token(&nonce, Some(session)),
            key.token(&other_nonce, Some(session)),
            key.token(&nonce, Some(other_session)),
            key.token(&nonce, None),
        ] {
            assert_ne!(token, different);
        }
        assert_ne!(key.token(&nonce, None), nonce);
        assert!(CsrfKey::from_setting("too short").is_err());
        assert!(!format!("{key:?}").contains('k'));
    }

    #[test]
    fn new_tokens_are_random_and_well_formed() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(is_well_formed(&a));
        assert!(cookies::is_cookie_value(&a));
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed("not base64 at all!"));
    }

    #[test]
    fn origin_must_name_the_host_and_port() {
        assert!(same_origin("http://localhost:8080", "localhost:8080"));
        assert!(same_origin("https://shop.example", "shop.example"));
        assert!(same_origin("https://shop.example", "shop.example:443"));
        assert!(same_origin("http://Shop.Example:80", "shop.example"));
        assert!(!same_origin("http://localhost:8081", "localhost:8080"));
        assert!(!same_origin("https://evil.example", "shop.example"));
        assert!(!same_origin("http://shop.example", "shop.example:443"));
        assert!(!same_origin("null", "shop.example"));
        assert!(!same_origin("http://shop.example", ""));
        assert!(!same_origin("http://shop.example", "shop.example@evil.example"));
    }
}
