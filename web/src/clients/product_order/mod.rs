//! The product-order service: catalog, carts, checkout and orders.

mod checkout;
mod health;
mod low_stock;
mod orders;
mod reconciliation;
mod sagas;
mod shapes;

use std::collections::BTreeMap;
use std::time::Duration;

use api::ErrorCode;
use api::catalog::{Cart, Product, ProductPage, StockChange, StockChanges};
use axum::body::Bytes;
use platform::http::WithRequestId;
use reqwest::header::AUTHORIZATION;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error_detail;
pub use health::{CheckoutFigures, FailureReason, OutboxFigures, ProductOrderHealth, SagaFigures, StepCount};
pub use low_stock::LowStock;
pub use orders::{OpsOrder, OpsOrderDetail, OpsOrderPage, OpsOrderQuery, OrderStatusEntry};
pub use shapes::{NewProduct, ProductChanges, ProductQuery, Sort};

/// The header naming a guest's cart.
const CART_TOKEN_HEADER: &str = "x-cart-token";

/// Calls product-order at its base URL; cheap to clone.
#[derive(Clone)]
pub struct ProductOrderClient {
    base_url: String,
    http: reqwest::Client,
}

/// Who a call is made as.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    Anonymous,
    /// A signed-in shopper or operator, by access token.
    Bearer(&'a str),
    /// A guest, by cart token.
    Guest(&'a str),
}

#[derive(Serialize)]
struct SetQuantity {
    quantity: i64,
}

#[derive(Serialize)]
struct AddToCart {
    product_id: Uuid,
    quantity: i64,
}

#[derive(Serialize)]
struct MergeRequest<'a> {
    cart_token: &'a str,
}

/// A request product-order refused, with its reasons.
#[derive(Debug, Clone, Default)]
pub struct Refusal {
    pub status: u16,
    /// None when product-order sent no error body.
    pub code: Option<ErrorCode>,
    pub message: String,
    /// Messages by field name.
    pub fields: BTreeMap<String, String>,
}

impl Refusal {
    /// The message for `field`, else the general message.
    pub fn message_for(&self, field: &str) -> String {
        self.fields.get(field).cloned().unwrap_or_else(|| self.message.clone())
    }
}

/// Why a call to product-order did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProductOrderCallError {
    /// Input or action refused (422, 409): show the reasons.
    #[error("refused ({:?}): {}", .0.code, .0.message)]
    Refused(Refusal),
    #[error("not found")]
    NotFound,
    /// 401 or 403: the caller may not do this.
    #[error("not allowed")]
    Forbidden,
    /// Product-order could not be reached or failed on its side.
    #[error("product-order unavailable: {0}")]
    Unavailable(String),
    /// An answer this client does not expect.
    #[error("unexpected answer from product-order: {0}")]
    Unexpected(String),
}

type Result<T> = std::result::Result<T, ProductOrderCallError>;

impl ProductOrderClient {
    pub fn new(base_url: &str, http: reqwest::Client) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// A page of products.
    pub async fn products(&self, caller: Caller<'_>, query: &ProductQuery<'_>) -> Result<ProductPage> {
        let request = self.request(Method::GET, "/api/products", caller).query(query);
        answer(send(request).await?).await
    }

    /// One product (inactive ones only for operators).
    pub async fn product(&self, caller: Caller<'_>, id: Uuid) -> Result<Product> {
        let request = self.request(Method::GET, &format!("/api/products/{id}"), caller);
        answer(send(request).await?).await
    }

    pub async fn create_product(&self, token: &str, product: &NewProduct) -> Result<Product> {
        let request = self
            .request(Method::POST, "/api/products", Caller::Bearer(token))
            .json(product);
        answer(send(request).await?).await
    }

    pub async fn update_product(&self, token: &str, id: Uuid, changes: &ProductChanges) -> Result<Product> {
        let request = self
            .request(Method::PATCH, &format!("/api/products/{id}"), Caller::Bearer(token))
            .json(changes);
        answer(send(request).await?).await
    }

    /// Uploads `image` (its bytes, whatever their format: product-order checks them) as the
    /// product's picture.
    pub async fn upload_product_image(&self, token: &str, id: Uuid, image: Vec<u8>) -> Result<Product> {
        let path = format!("/api/products/{id}/image");
        let request = self.request(Method::PUT, &path, Caller::Bearer(token)).body(image);
        answer(send(request).await?).await
    }

    pub async fn remove_product_image(&self, token: &str, id: Uuid) -> Result<Product> {
        let path = format!("/api/products/{id}/image");
        answer(send(self.request(Method::DELETE, &path, Caller::Bearer(token))).await?).await
    }

    /// An uploaded image's content type and bytes.
    pub async fn product_image(&self, id: Uuid, sha256: &str) -> Result<(String, Bytes)> {
        let path = format!("/api/products/{id}/images/{sha256}");
        let response = successful(send(self.request(Method::GET, &path, Caller::Anonymous)).await?).await?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ProductOrderCallError::Unavailable(format!("{path}: {}", e.without_url())))?;
        Ok((content_type, bytes))
    }

    /// A product's stock audit trail, newest first.
    pub async fn stock_changes(&self, token: &str, id: Uuid) -> Result<Vec<StockChange>> {
        let path = format!("/api/products/{id}/stock-changes");
        let request = self.request(Method::GET, &path, Caller::Bearer(token));
        Ok(answer::<StockChanges>(send(request).await?).await?.items)
    }

    /// The caller's cart.
    pub async fn cart(&self, caller: Caller<'_>) -> Result<Cart> {
        answer(send(self.request(Method::GET, "/api/cart", caller)).await?).await
    }

    /// The caller's cart, answered within `limit` (for the header badge: a slow service must
    /// not hold up every page).
    pub async fn cart_within(&self, caller: Caller<'_>, limit: Duration) -> Result<Cart> {
        let request = self.request(Method::GET, "/api/cart", caller).timeout(limit);
        answer(send(request).await?).await
    }

    /// Sets how many of a product the caller's cart holds.
    pub async fn set_cart_quantity(&self, caller: Caller<'_>, product_id: Uuid, quantity: i64) -> Result<Cart> {
        let path = format!("/api/cart/items/{product_id}");
        let request = self.request(Method::PUT, &path, caller).json(&SetQuantity { quantity });
        answer(send(request).await?).await
    }

    /// Adds `quantity` of a product to the caller's cart (product-order adds atomically).
    pub async fn add_to_cart(&self, caller: Caller<'_>, product_id: Uuid, quantity: i64) -> Result<Cart> {
        let request = self
            .request(Method::POST, "/api/cart/items", caller)
            .json(&AddToCart { product_id, quantity });
        answer(send(request).await?).await
    }

    pub async fn remove_from_cart(&self, caller: Caller<'_>, product_id: Uuid) -> Result<Cart> {
        let path = format!("/api/cart/items/{product_id}");
        answer(send(self.request(Method::DELETE, &path, caller)).await?).await
    }

    /// Moves the guest cart named by `cart_token` into the signed-in shopper's cart.
    pub async fn merge_cart(&self, token: &str, cart_token: &str) -> Result<Cart> {
        let request = self
            .request(Method::POST, "/api/cart/merge", Caller::Bearer(token))
            .json(&MergeRequest { cart_token });
        answer(send(request).await?).await
    }

    fn request(&self, method: Method, path: &str, caller: Caller<'_>) -> RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .with_request_id();
        match caller {
            Caller::Anonymous => request,
            Caller::Bearer(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
            Caller::Guest(token) => request.header(CART_TOKEN_HEADER, token),
        }
    }
}

async fn send(request: RequestBuilder) -> Result<reqwest::Response> {
    request.send().await.map_err(|e| {
        let what = e.url().map(|u| u.path().to_owned()).unwrap_or_default();
        ProductOrderCallError::Unavailable(format!("{what}: {}", e.without_url()))
    })
}

/// The body of a 2xx answer; anything else as an error.
async fn answer<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let response = successful(response).await?;
    let path = response.url().path().to_owned();
    response
        .json()
        .await
        .map_err(|e| ProductOrderCallError::Unexpected(format!("{path}: {}", e.without_url())))
}

/// A 2xx answer; anything else as an error.
async fn successful(response: reqwest::Response) -> Result<reqwest::Response> {
    let status = response.status();
    let path = response.url().path().to_owned();
    match status {
        s if s.is_success() => Ok(response),
        StatusCode::NOT_FOUND => Err(ProductOrderCallError::NotFound),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(ProductOrderCallError::Forbidden),
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT | StatusCode::PAYLOAD_TOO_LARGE => {
            let detail = error_detail(response).await;
            Err(ProductOrderCallError::Refused(Refusal {
                status: status.as_u16(),
                code: detail.code,
                message: detail.message,
                fields: detail.fields,
            }))
        }
        _ => {
            let detail = error_detail(response).await;
            let message = format!("{path} answered {status}: {}", detail.message);
            if status.is_server_error() {
                Err(ProductOrderCallError::Unavailable(message))
            } else {
                Err(ProductOrderCallError::Unexpected(message))
            }
        }
    }
}
