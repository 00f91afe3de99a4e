//! Uploaded product images, passed through from product-order so that its address stays
//! internal. Served outside the page middleware: an image needs no session, and a response
//! that set a cookie could not be cached.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::error::{WebError, parse_id};

/// What product-order stores; anything else it answered would not be served as an image.
const IMAGE_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];
/// A year, never revalidated: the address names the content.
const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

pub fn router() -> Router<AppState> {
    Router::new().route("/products/{id}/images/{sha256}", get(product_image))
}

async fn product_image(
    State(state): State<AppState>,
    Path((id, sha256)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    if !is_sha256(&sha256) {
        return Err(WebError::NotFound);
    }
    let (content_type, bytes) = state.product_order.product_image(id, &sha256).await?;
    if !IMAGE_TYPES.contains(&content_type.as_str()) {
        return Err(WebError::Internal(format!(
            "product-order served image {sha256} as {content_type:?}"
        )));
    }
    Ok((
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_str(&content_type).map_err(|e| WebError::Internal(e.to_string()))?,
            ),
            (CACHE_CONTROL, HeaderValue::from_static(CACHE_FOREVER)),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'")),
        ],
        bytes,
    )
        .into_response())
}

/// A hex SHA-256 as product-order writes it: 64 lower-case hex digits, nothing that could
/// change the path it is put in.
fn is_sha256(raw: &str) -> bool {
    raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::is_sha256;

    #[test]
    fn only_content_hashes_pass() {
        assert!(is_sha256(&"0123456789abcdef".repeat(4)));
        assert!(!is_sha256(&"0123456789ABCDEF".repeat(4)));
        assert!(!is_sha256("abc"));
        assert!(!is_sha256(&format!("../{}", "a".repeat(61))));
    }
}
