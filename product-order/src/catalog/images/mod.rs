//! Uploaded product images: operators put a JPEG, PNG or WebP on a product; anyone may fetch
//! it by its content address, which changes whenever the image does.

pub mod store;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use platform::FieldErrors;
use platform::auth::Operator;
use platform::http::AppPath;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::domain::{ImageKind, MAX_IMAGE_BYTES};
use super::product_body;
use crate::app::AppState;
use crate::error::{ProductOrderError, Result};
use api::catalog::Product as ProductBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_image, remove_image))
        .routes(routes!(image))
}

/// Where product-order serves a product's uploaded image.
pub fn path(product_id: Uuid, sha256: &str) -> String {
    format!("/api/products/{product_id}/images/{sha256}")
}

/// The image is the request body, whatever its `Content-Type` says: what it is is read from
/// its first bytes.
#[utoipa::path(put, path = "/api/products/{id}/image", tag = "operators", params(("id" = Uuid, Path, description = "The product's id")),
    request_body(description = "A JPEG, PNG or WebP image of at most 2 MiB.",
        content((ImageBytes = "image/jpeg"), (ImageBytes = "image/png"), (ImageBytes = "image/webp"), (ImageBytes = "application/octet-stream"))),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The product with its new image.", body = ProductBody),
        (status = 413, description = "Larger than 2 MiB (`image_too_large`, named in `fields`).", body = api::ErrorBody),
        (status = 422, description = "Empty, or not a JPEG, PNG or WebP (named in `fields`).", body = api::ErrorBody),
    ))]
async fn upload_image(
    State(state): State<AppState>,
    Operator(operator): Operator,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ProductBody>> {
    let ImageBytes(bytes) = read_image(&headers, body).await?;
    let kind = ImageKind::sniff(&bytes).ok_or_else(|| {
        let mut errors = FieldErrors::new();
        errors.add(
            "image",
            if bytes.is_empty() {
                "Choose an image file to upload."
            } else {
                "Upload a JPEG, PNG or WebP image; this file is none of those."
            },
        );
        ProductOrderError::Validation(errors)
    })?;
    let sha256 = format!("{:x}", Sha256::digest(&bytes));
    let mut tx = state.db.begin().await?;
    super::store::find_for_update(&mut tx, id)
        .await?
        .ok_or(ProductOrderError::NotFound)?;
    store::attach(&mut tx, id, &sha256, kind.content_type(), &bytes, operator.sub).await?;
    let product = super::store::find(&mut *tx, id)
        .await?
        .ok_or(ProductOrderError::NotFound)?;
    tx.commit().await?;
    tracing::info!(product_id = %id, operator = %operator.sub, bytes = bytes.len(), %sha256, "product image uploaded");
    Ok(Json(product_body(product)))
}

/// The product without its uploaded image.
#[utoipa::path(delete, path = "/api/products/{id}/image", tag = "operators", params(("id" = Uuid, Path, description = "The product's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The product without an uploaded image.", body = ProductBody)))]
async fn remove_image(
    State(state): State<AppState>,
    Operator(operator): Operator,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<ProductBody>> {
    let mut tx = state.db.begin().await?;
    super::store::find_for_update(&mut tx, id)
        .await?
        .ok_or(ProductOrderError::NotFound)?;
    store::detach(&mut tx, id).await?;
    let product = super::store::find(&mut *tx, id)
        .await?
        .ok_or(ProductOrderError::NotFound)?;
    tx.commit().await?;
    tracing::info!(product_id = %id, operator = %operator.sub, "product image removed");
    Ok(Json(product_body(product)))
}

/// An image's bytes, as a body of their own (not JSON).
struct ImageBytes(Vec<u8>);

impl utoipa::PartialSchema for ImageBytes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .into()
    }
}

impl utoipa::ToSchema for ImageBytes {}

/// A year, and never revalidated: the address names the content.
const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

/// An uploaded image, by its content address (cached for a year).
#[utoipa::path(get, path = "/api/products/{id}/images/{sha256}", tag = "catalog",
    params(("id" = Uuid, Path, description = "The product's id"), ("sha256" = String, Path, description = "The image's SHA-256, as `uploaded_image.path` gives it")),
    responses((status = 200, description = "The image.", content((ImageBytes = "image/jpeg"), (ImageBytes = "image/png"), (ImageBytes = "image/webp")))))]
async fn image(State(state): State<AppState>, AppPath((id, sha256)): AppPath<(Uuid, String)>) -> Result<Response> {
    let image = store::find(&state.db, id, &sha256)
        .await?
        .ok_or(ProductOrderError::NotFound)?;
    let content_type = HeaderValue::from_str(&image.content_type).map_err(anyhow::Error::from)?;
    Ok((
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, HeaderValue::from_static(CACHE_FOREVER)),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            // Opened on its own, the image may run nothing.
            (CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'")),
        ],
        image.bytes,
    )
        .into_response())
}

/// Past this the rest of a too-large upload is not read through: the connection is dropped.
const MAX_DRAINED_BYTES: usize = 4 * MAX_IMAGE_BYTES;

/// The body, up to `MAX_IMAGE_BYTES`. A larger one is refused after reading it through (up to a
/// bound), so the client gets the answer instead of a connection reset mid-upload.
async fn read_image(headers: &HeaderMap, body: Body) -> Result<ImageBytes> {
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|length| length > MAX_DRAINED_BYTES) {
        return Err(ProductOrderError::ImageTooLarge { max: MAX_IMAGE_BYTES });
    }
    let mut bytes = Vec::with_capacity(announced.unwrap_or(0).min(MAX_IMAGE_BYTES));
    let mut seen = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| platform::ApiError::bad_request(format!("The upload broke off: {e}")))?;
        seen += chunk.len();
        if seen > MAX_DRAINED_BYTES {
            break;
        }
        if seen <= MAX_IMAGE_BYTES {
            bytes.extend_from_slice(&chunk);
        }
    }
    if seen > MAX_IMAGE_BYTES {
        return Err(ProductOrderError::ImageTooLarge { max: MAX_IMAGE_BYTES });
    }
    Ok(ImageBytes(bytes))
}
