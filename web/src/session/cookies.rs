//! The cookies web sets, written as `Set-Cookie` values: all HttpOnly, SameSite=Lax, Path=/;
//! with `WEB_SECURE_COOKIES` (the default) also `Secure` and named with the `__Host-` prefix,
//! which browsers keep to this host over HTTPS (or localhost): no subdomain and no plain-HTTP
//! page can plant or overwrite them.

use axum::http::HeaderValue;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponseParts, ResponseParts};

use crate::clients::customer::Tokens;

/// A cookie's name, with the `__Host-` prefix when cookies are secure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieName(&'static str);

impl CookieName {
    const PREFIX: &'static str = "__Host-";

    pub fn get(self, secure: bool) -> &'static str {
        if secure { self.0 } else { &self.0[Self::PREFIX.len()..] }
    }
}

/// The access token (a JWT).
pub const ACCESS: CookieName = CookieName("__Host-shop_access");
/// The refresh token.
pub const REFRESH: CookieName = CookieName("__Host-shop_refresh");
/// The CSRF double-submit token.
pub const CSRF: CookieName = CookieName("__Host-shop_csrf");
/// A login's second-factor challenge, between its password and its code.
pub const CHALLENGE: CookieName = CookieName("__Host-shop_challenge");
/// A guest's cart token, until they log in and the cart joins their account's.
pub const CART: CookieName = CookieName("__Host-shop_cart");
/// How long a guest cart is remembered: 90 days.
pub const CART_MAX_AGE: u64 = 90 * 24 * 60 * 60;

/// A `Set-Cookie` value; `max_age` None makes a browser-session cookie.
pub fn set_cookie(name: CookieName, value: &str, max_age: Option<u64>, secure: bool) -> String {
    let name = name.get(secure);
    debug_assert!(is_cookie_value(value), "cookie {name} has an unsafe value");
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(secs) = max_age {
        cookie.push_str(&format!("; Max-Age={secs}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// A `Set-Cookie` value that makes the browser forget the cookie.
pub fn removal(name: CookieName, secure: bool) -> String {
    let mut cookie = set_cookie(name, "", Some(0), secure);
    cookie.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
    cookie
}

/// The two session cookies for freshly issued tokens.
pub fn session(tokens: &Tokens, secure: bool) -> Vec<String> {
    vec![
        set_cookie(ACCESS, &tokens.access_token, Some(tokens.expires_in), secure),
        set_cookie(REFRESH, &tokens.refresh_token, Some(tokens.refresh_expires_in), secure),
    ]
}

/// Removals of both session cookies.
pub fn cleared_session(secure: bool) -> Vec<String> {
    vec![removal(ACCESS, secure), removal(REFRESH, secure)]
}

/// True when `value` needs no quoting in a cookie (RFC 6265 cookie-octets).
pub fn is_cookie_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E))
}

/// `Set-Cookie` headers as a response part.
pub struct SetCookies(pub Vec<String>);

impl IntoResponseParts for SetCookies {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        for cookie in self.0 {
            match HeaderValue::try_from(cookie) {
                Ok(value) => {
                    res.headers_mut().append(SET_COOKIE, value);
                }
                Err(_) => tracing::error!("refused to set a cookie with an invalid header value"),
            }
        }
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens {
            access_token: "aaa.bbb.ccc".into(),
            expires_in: 900,
            refresh_token: "r-123_x".into(),
            refresh_expires_in: 1_209_600,
        }
    }

    #[test]
    fn session_cookies_are_http_only_lax_and_expire_with_their_token() {
        let [access, refresh] = <[String; 2]>::try_from(session(&tokens(), false)).unwrap();
        assert_eq!(
            access,
            "shop_access=aaa.bbb.ccc; Path=/; HttpOnly; SameSite=Lax; Max-Age=900"
        );
        assert_eq!(
            refresh,
            "shop_refresh=r-123_x; Path=/; HttpOnly; SameSite=Lax; Max-Age=1209600"
        );
    }

    #[test]
    fn secure_cookies_are_host_only_and_secure() {
        for cookie in session(&tokens(), true) {
            assert!(cookie.starts_with("__Host-shop_"), "{cookie}");
            assert!(cookie.ends_with("; Secure"), "{cookie}");
            assert!(!cookie.contains("Domain"), "{cookie}");
        }
        assert!(!set_cookie(CSRF, "abc", None, false).contains("Secure"));
        assert_eq!(
            set_cookie(CSRF, "abc", None, true),
            "__Host-shop_csrf=abc; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn removal_expires_at_once_with_the_same_path() {
        let cookie = removal(ACCESS, true);
        assert!(cookie.starts_with("__Host-shop_access=; Path=/;"), "{cookie}");
        assert!(cookie.contains("Max-Age=0"));
        assert!(cookie.contains("Secure"));
        assert!(cookie.contains("Expires=Thu, 01 Jan 1970"));
    }

    #[test]
    fn cookie_values_reject_separators() {
        assert!(is_cookie_value("eyJ.abc-_=="));
        assert!(!is_cookie_value("a;b"));
        assert!(!is_cookie_value("a b"));
        assert!(!is_cookie_value("a\"b"));
    }
}
