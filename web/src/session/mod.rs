//! Sessions: who is signed in, from the access-token cookie, refreshed with the refresh
//! cookie when it has expired. One middleware resolves the session for every page and writes
//! the session cookies; handlers only say when a session starts or ends ([`SessionChange`]).

pub mod cookies;
pub mod refresh;

use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};
use axum_extra::extract::CookieJar;
use contracts::{Claims, Role};
use platform::auth::AuthError;
use uuid::Uuid;

use crate::app::AppState;
use crate::clients::customer::{CustomerCallError, Tokens};
use crate::error::WebError;
use cookies::SetCookies;

/// The signed-in shopper or operator, from the access token's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUser {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: Role,
}

impl CurrentUser {
    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }
}

impl From<Claims> for CurrentUser {
    fn from(claims: Claims) -> Self {
        Self {
            id: claims.sub,
            name: claims.name,
            email: claims.email,
            role: claims.role,
        }
    }
}

/// The session of the request being handled, put in its extensions by [`resolve_session`].
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The session's id (its access token's `sid`), which form tokens are bound to.
    pub id: Option<Uuid>,
    pub user: Option<CurrentUser>,
    /// The verified access token of `user`, for calls made on their behalf.
    pub access_token: Option<String>,
    /// The refresh token in force (already rotated when this request refreshed).
    pub refresh_token: Option<String>,
}

/// Returned by a handler (as a response part) to start or end the session; the middleware
/// writes the cookies.
#[derive(Debug, Clone)]
pub enum SessionChange {
    Start(Tokens),
    End,
}

impl IntoResponseParts for SessionChange {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

/// Resolves the session before the handler runs, and sets or clears the session cookies
/// after it (the handler's [`SessionChange`] wins over a refresh done here).
pub async fn resolve_session(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let secure = state.settings.secure_cookies;
    let jar = CookieJar::from_headers(request.headers());
    let (session, refreshed) = resolve(&state, &jar).await;
    request.extensions_mut().insert(session);
    let mut response = next.run(request).await;
    let change = response.extensions_mut().remove::<SessionChange>().or(refreshed);
    let cookies = match change {
        // A new session changes every CSRF token by itself: they are bound to it (`csrf`).
        Some(SessionChange::Start(tokens)) => cookies::session(&tokens, secure),
        Some(SessionChange::End) => cookies::cleared_session(secure),
        None => return response,
    };
    (SetCookies(cookies), response).into_response()
}

async fn resolve(state: &AppState, jar: &CookieJar) -> (Session, Option<SessionChange>) {
    let secure = state.settings.secure_cookies;
    let access = jar
        .get(cookies::ACCESS.get(secure))
        .map(|c| c.value())
        .filter(|v| !v.is_empty());
    let refresh = jar
        .get(cookies::REFRESH.get(secure))
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty());
    if let Some(token) = access {
        match state.verifier.verify(token).await {
            Ok(claims) => {
                platform::http::record_user(&claims.sub);
                return (
                    Session {
                        id: Some(claims.sid),
                        user: Some(claims.into()),
                        access_token: Some(token.to_owned()),
                        refresh_token: refresh,
                    },
                    None,
                );
            }
            Err(AuthError::KeysUnavailable(cause)) => {
                // Customer is down: show the page signed out, but keep the cookies.
                tracing::warn!(%cause, "cannot verify the session");
                return (
                    Session {
                        id: None,
                        user: None,
                        access_token: None,
                        refresh_token: refresh,
                    },
                    None,
                );
            }
            Err(_) => {} // expired or invalid: try the refresh token
        }
    }
    let Some(refresh) = refresh else {
        let clear = access.is_some().then_some(SessionChange::End);
        return (Session::default(), clear);
    };
    match state.refreshes.refresh(&state.customer, &refresh).await {
        Ok(tokens) => match state.verifier.verify(&tokens.access_token).await {
            Ok(claims) => {
                let session = Session {
                    id: Some(claims.sid),
                    user: Some(claims.into()),
                    access_token: Some(tokens.access_token.clone()),
                    refresh_token: Some(tokens.refresh_token.clone()),
                };
                (session, Some(SessionChange::Start(tokens)))
            }
            Err(e) => {
                tracing::warn!(error = %e, "a freshly issued access token does not verify");
                (Session::default(), None)
            }
        },
        Err(CustomerCallError::SessionEnded) => (Session::default(), Some(SessionChange::End)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot refresh the session");
            (
                Session {
                    id: None,
                    user: None,
                    access_token: None,
                    refresh_token: Some(refresh),
                },
                None,
            )
        }
    }
}

fn session(parts: &Parts) -> Option<&Session> {
    parts.extensions.get::<Session>()
}

/// A handler taking `CurrentUser` sends visitors who are not signed in to the login page.
impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        session(parts)
            .and_then(|s| s.user.clone())
            .ok_or_else(|| WebError::LoginRequired {
                next: parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned(),
            })
    }
}

/// `Option<CurrentUser>`: the signed-in user, if any.
impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(session(parts).and_then(|s| s.user.clone()))
    }
}

/// The signed-in shopper or operator with the access token to call the services as them; a
/// handler taking it sends visitors to the login page.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: CurrentUser,
    pub access_token: String,
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        let access_token = session(parts)
            .and_then(|s| s.access_token.clone())
            .ok_or_else(|| WebError::Internal("a signed-in user without an access token".into()))?;
        Ok(Self { user, access_token })
    }
}

/// `Option<SignedIn>`: the signed-in user and their token, if any.
impl<S: Send + Sync> OptionalFromRequestParts<S> for SignedIn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(session(parts).and_then(|s| {
            Some(Self {
                user: s.user.clone()?,
                access_token: s.access_token.clone()?,
            })
        }))
    }
}
