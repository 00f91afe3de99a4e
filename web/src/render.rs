//! Page or partial, chosen in one place: full page loads get the layout around the main
//! content, htmx requests (`HX-Request: true`, not boosted) only the main content.

use std::convert::Infallible;

use askama::Template;
use axum::extract::{FromRequestParts, Request};
use axum::http::header::{LOCATION, RETRY_AFTER, VARY};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::assets;
use crate::cart::HeaderCart;
use crate::csrf::CsrfToken;
use crate::error::WebError;
use crate::session::{CurrentUser, Session};

/// What every page needs besides its own content.
#[derive(Debug, Clone, Default)]
pub struct PageContext {
    pub user: Option<CurrentUser>,
    /// For the hidden `csrf_token` field of forms and htmx's `X-CSRF-Token` header.
    pub csrf_token: String,
    /// The request came from htmx.
    pub htmx: bool,
    /// htmx wants only the main content (not a boosted full-page navigation).
    pub partial: bool,
    /// The id of the element htmx swaps the answer into (`HX-Target`), when it has one: a
    /// page whose parts poll answers such a request with that part only.
    pub target: Option<String>,
    /// Units in the visitor's cart, for the header badge; None when not known.
    pub cart_count: Option<i64>,
}

impl PageContext {
    /// The context of a request that went through the session and CSRF middleware.
    pub fn of(request: &Request) -> Self {
        Self::from_request(request.headers(), request.extensions())
    }

    /// htmx asks for the part of the page whose id is `id` (a poll of that part).
    pub fn targets(&self, id: &str) -> bool {
        self.partial && self.target.as_deref() == Some(id)
    }

    fn from_request(headers: &HeaderMap, extensions: &Extensions) -> Self {
        let is_true = |name: &str| headers.get(name).is_some_and(|v| v.as_bytes() == b"true");
        let htmx = is_true("hx-request");
        Self {
            user: extensions.get::<Session>().and_then(|s| s.user.clone()),
            csrf_token: extensions
                .get::<CsrfToken>()
                .map(|t| t.value.clone())
                .unwrap_or_default(),
            htmx,
            partial: htmx && !is_true("hx-boosted"),
            target: htmx
                .then(|| headers.get("hx-target").and_then(|v| v.to_str().ok()))
                .flatten()
                .map(str::to_owned),
            cart_count: extensions.get::<HeaderCart>().map(|cart| cart.0.item_count),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageContext {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_request(&parts.headers, &parts.extensions))
    }
}

#[derive(Template)]
#[template(path = "base.html")]
struct Layout<'a> {
    title: &'a str,
    user: Option<&'a CurrentUser>,
    csrf_token: &'a str,
    asset_version: &'a str,
    cart_badge: CartBadge,
    /// The main content, already rendered (and escaped) by its own template.
    main: &'a str,
}

/// Answers `main` as a page titled `title`, or as a partial for htmx.
pub fn page(ctx: &PageContext, status: StatusCode, title: &str, main: &impl Template) -> Response {
    match main.render() {
        Ok(html) => page_html(ctx, status, title, html),
        Err(e) => WebError::from(e).into_response(),
    }
}

/// The main content of a page for htmx, with the page's title, which htmx puts on the tab
/// (a page that updates itself, like a checkout's status, changes its title too).
#[derive(Template)]
#[template(source = "<title>{{ title }} · Shop</title>\n{{ main|safe }}", ext = "html")]
struct Partial<'a> {
    title: &'a str,
    main: &'a str,
}

/// Like [`page`], for main content already rendered.
pub fn page_html(ctx: &PageContext, status: StatusCode, title: &str, main: String) -> Response {
    let rendered = if ctx.partial {
        Partial { title, main: &main }.render()
    } else {
        let layout = Layout {
            title,
            user: ctx.user.as_ref(),
            csrf_token: &ctx.csrf_token,
            asset_version: assets::version(),
            cart_badge: CartBadge::new(ctx.cart_count),
            main: &main,
        };
        layout.render()
    };
    let html = match rendered {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "rendering the layout failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.").into_response();
        }
    };
    (status, [(VARY, HeaderValue::from_static("HX-Request"))], Html(html)).into_response()
}

/// A refused page (429) that also tells the browser, in `Retry-After`, when to try again.
pub fn retry_later(retry_after: u64, refused: Response) -> Response {
    ([(RETRY_AFTER, retry_after.to_string())], refused).into_response()
}

/// Answers a fragment for htmx to place as it was told (no layout, never a page).
pub fn fragment(status: StatusCode, fragment: &impl Template) -> Response {
    match fragment.render() {
        Ok(html) => (status, [(VARY, HeaderValue::from_static("HX-Request"))], Html(html)).into_response(),
        Err(e) => WebError::from(e).into_response(),
    }
}

/// The cart badge in the header (`#cart-count`): the number of units in the cart, empty when
/// the cart is empty or its content unknown. Rendered out of band (`hx-swap-oob`) into htmx
/// answers that change the cart.
#[derive(Template, Debug, Clone, Copy)]
#[template(path = "partials/cart_badge.html")]
pub struct CartBadge {
    pub count: Option<i64>,
    pub oob: bool,
}

impl CartBadge {
    /// The badge inside the header.
    pub fn new(count: Option<i64>) -> Self {
        Self { count, oob: false }
    }

    /// The badge replacing the header's from an htmx answer.
    pub fn out_of_band(count: i64) -> Self {
        Self {
            count: Some(count),
            oob: true,
        }
    }
}

/// Sends the browser to `location` after a form post: 303 for plain forms, `HX-Redirect`
/// for htmx (which would otherwise follow the redirect in the background).
pub fn see_other(ctx: &PageContext, location: &str) -> Response {
    let Ok(value) = HeaderValue::try_from(location) else {
        return WebError::Internal(format!("redirect to an invalid location {location:?}")).into_response();
    };
    if ctx.htmx {
        (StatusCode::OK, [("hx-redirect", value)]).into_response()
    } else {
        (StatusCode::SEE_OTHER, [(LOCATION, value)]).into_response()
    }
}
