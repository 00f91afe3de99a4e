//! Static files, embedded in the binary and cached for a year: pages link them with
//! `?v=<version>`, which changes whenever their content does.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;

const APP_CSS: &str = include_str!("../static/app.css");
const HTMX: &[u8] = include_bytes!("../static/htmx.min.js");
const APP_JS: &str = include_str!("../static/app.js");
const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = DefaultHasher::new();
    APP_CSS.hash(&mut hasher);
    HTMX.hash(&mut hasher);
    APP_JS.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
});

/// Changes whenever an embedded file does.
pub fn version() -> &'static str {
    &VERSION
}

pub fn router() -> Router {
    Router::new()
        .route(
            "/static/app.css",
            get(|| async {
                (
                    [
                        (CONTENT_TYPE, "text/css; charset=utf-8"),
                        (CACHE_CONTROL, CACHE_FOREVER),
                    ],
                    APP_CSS,
                )
            }),
        )
        .route("/static/htmx.min.js", get(|| async { script(HTMX) }))
        .route("/static/app.js", get(|| async { script(APP_JS.as_bytes()) }))
}

fn script(body: &'static [u8]) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, CACHE_FOREVER),
        ],
        body,
    )
}
