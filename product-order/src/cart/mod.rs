//! Carts: one per signed-in shopper, or per guest (a random token the web front keeps in a
//! cookie), joined into the shopper's cart at login.

pub mod store;

use api::catalog::{Cart as CartBody, CartItem};
use axum::Json;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use platform::FieldErrors;
use platform::auth::{Caller, TokenVerifier, bearer_token};
use platform::http::{AppJson, AppPath};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;

use crate::catalog::domain::Quantity;
use crate::catalog::store as catalog_store;
use crate::error::{ProductOrderError, Result};
use store::CartLine;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart))
        .routes(routes!(add_item))
        .routes(routes!(set_item, remove_item))
        .routes(routes!(merge_guest_cart))
}

/// The guest's cart token as sent. Any well-formed token names a cart (empty until something is
/// added), so the description calls it a parameter, not a credential.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
struct CartTokenHeader<'a> {
    /// A guest's cart token, for a cart without an account (a bearer token names the
    /// shopper's cart instead): 22 to 128 letters, digits, `-` or `_`.
    #[param(rename = "X-Cart-Token", value_type = String, required = false, pattern = "^[A-Za-z0-9_-]{22,128}$")]
    token: Option<&'a str>,
}

/// The header carrying a guest's cart token.
pub const CART_TOKEN_HEADER: &str = "x-cart-token";

/// Whose cart a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartOwner {
    Customer(Uuid),
    /// SHA-256 of the guest's token (the token itself is never stored).
    Guest(String),
}

impl CartOwner {
    /// The key cart rows are stored under.
    pub fn key(&self) -> String {
        match self {
            CartOwner::Customer(id) => format!("customer:{id}"),
            CartOwner::Guest(hash) => format!("guest:{hash}"),
        }
    }

    /// A guest's owner from its token: 22 to 128 URL-safe characters (at least 128 random bits).
    pub fn guest(token: &str) -> Option<Self> {
        let valid = (22..=128).contains(&token.len())
            && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        valid.then(|| CartOwner::Guest(format!("{:x}", Sha256::digest(token.as_bytes()))))
    }
}

impl<S> FromRequestParts<S> for CartOwner
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ProductOrderError;

    /// A malformed guest token is refused even beside a bearer token (it names no cart).
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let header = CartTokenHeader {
            token: parts
                .headers
                .get(CART_TOKEN_HEADER)
                .map(|v| v.to_str().unwrap_or_default()),
        };
        let guest = header
            .token
            .map(|token| CartOwner::guest(token).ok_or(ProductOrderError::NoCartOwner))
            .transpose()?;
        if bearer_token(parts).is_some() {
            let Caller(claims) = Caller::from_request_parts(parts, state).await?;
            return Ok(CartOwner::Customer(claims.sub));
        }
        guest.ok_or(ProductOrderError::NoCartOwner)
    }
}

/// The currencies of a cart's lines, each once, the cart's own (its first line's) first. A
/// cart is in one currency (adding refuses another), yet an operator may change the currency
/// of a product while it sits in carts.
pub fn currencies(lines: &[CartLine]) -> Vec<&str> {
    let mut currencies: Vec<&str> = Vec::new();
    for line in lines {
        if !currencies.contains(&line.currency.as_str()) {
            currencies.push(&line.currency);
        }
    }
    currencies
}

/// The cart of `lines`, each with what stops it being ordered, if anything.
fn cart_body(lines: Vec<CartLine>) -> CartBody {
    let currencies = currencies(&lines);
    let currency = currencies.first().map(|c| (*c).to_owned());
    let mixed_currencies = currencies.len() > 1;
    let items: Vec<CartItem> = lines
        .into_iter()
        .map(|l| CartItem {
            problem: match (l.active, l.stock) {
                (false, _) => Some("No longer for sale.".into()),
                _ if Some(&l.currency) != currency.as_ref() => Some(format!(
                    "Now priced in {}, the rest of your cart in {}: one order takes one currency, so \
                         remove this item to check out.",
                    l.currency,
                    currency.as_deref().unwrap_or_default()
                )),
                (true, 0) => Some("Out of stock.".into()),
                (true, stock) if stock < l.quantity => Some(format!("Only {stock} left.")),
                _ => None,
            },
            line_total: l.price * i64::from(l.quantity),
            product_id: l.product_id,
            sku: l.sku,
            name: l.name,
            image_url: l.image_url,
            unit_price: l.price,
            currency: l.currency,
            quantity: l.quantity,
            available: l.stock,
        })
        .collect();
    CartBody {
        total: items
            .iter()
            .filter(|i| Some(&i.currency) == currency.as_ref())
            .map(|i| i.line_total)
            .sum(),
        item_count: items.iter().map(|i| i64::from(i.quantity)).sum(),
        items,
        currency,
        mixed_currencies,
    }
}

/// The caller's cart (a shopper's, or a guest's by its token), each line with what stops it
/// being ordered, if anything.
#[utoipa::path(get, path = "/api/cart", tag = "cart", params(CartTokenHeader), security((), ("bearer" = [])),
    responses((status = 200, description = "The cart.", body = CartBody)))]
async fn get_cart(State(state): State<AppState>, owner: CartOwner) -> Result<Json<CartBody>> {
    Ok(Json(cart_body(store::lines(&state.db, &owner.key()).await?)))
}

#[derive(Deserialize, ToSchema)]
struct SetQuantity {
    /// 1 to 99, and no more than is in stock.
    #[serde(default, deserialize_with = "api::whole_number::optional")]
    #[schema(value_type = i64, required = true, minimum = 1, maximum = 99)]
    quantity: Option<i64>,
}

/// Sets a line's quantity.
#[utoipa::path(put, path = "/api/cart/items/{product_id}", tag = "cart", params(("product_id" = Uuid, Path, description = "The product's id"), CartTokenHeader),
    request_body = SetQuantity, security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart.", body = CartBody),
        (status = 409, description = "Not that many in stock (`insufficient_stock`), or priced in another currency than the cart (`currency_mismatch`).", body = api::ErrorBody),
        (status = 422, description = "The product is no longer for sale (`product_unavailable`), or a field is invalid.", body = api::ErrorBody),
    ))]
async fn set_item(
    State(state): State<AppState>,
    owner: CartOwner,
    AppPath(product_id): AppPath<Uuid>,
    AppJson(request): AppJson<SetQuantity>,
) -> Result<Json<CartBody>> {
    let quantity = request.quantity.ok_or_else(|| "Choose a quantity.".to_owned());
    change_line(&state, &owner, product_id, |_| quantity).await
}

#[derive(Deserialize, ToSchema)]
struct AddItem {
    #[schema(value_type = Uuid, required = true)]
    product_id: Option<Uuid>,
    /// 1 to 99 more (at most 99 in the line, and no more than is in stock).
    #[serde(default, deserialize_with = "api::whole_number::optional")]
    #[schema(value_type = i64, required = true, minimum = 1, maximum = 99)]
    quantity: Option<i64>,
}

/// Adds to a line (or starts it): two tabs adding at once both count.
#[utoipa::path(post, path = "/api/cart/items", tag = "cart", params(CartTokenHeader), request_body = AddItem, security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart.", body = CartBody),
        (status = 404, description = "No such product.", body = api::ErrorBody),
        (status = 409, description = "Not that many in stock (`insufficient_stock`), or priced in another currency than the cart (`currency_mismatch`).", body = api::ErrorBody),
        (status = 422, description = "The product is no longer for sale (`product_unavailable`), the line would pass 99, or a field is invalid.", body = api::ErrorBody),
    ))]
async fn add_item(
    State(state): State<AppState>,
    owner: CartOwner,
    AppJson(request): AppJson<AddItem>,
) -> Result<Json<CartBody>> {
    let mut errors = FieldErrors::new();
    let product_id = errors.check(
        "product_id",
        request.product_id.ok_or_else(|| "Choose a product.".to_owned()),
    );
    let added = errors.check(
        "quantity",
        request
            .quantity
            .ok_or_else(|| "Choose a quantity.".to_owned())
            .and_then(Quantity::parse),
    );
    let (Some(product_id), Some(added)) = (product_id, added) else {
        return Err(ProductOrderError::Validation(errors));
    };
    change_line(&state, &owner, product_id, |existing| {
        let total = existing + added.get();
        if total > Quantity::MAX {
            Err(format!(
                "Your cart can hold at most {} of this product; it already has {existing}.",
                Quantity::MAX
            ))
        } else {
            Ok(i64::from(total))
        }
    })
    .await
}

/// Sets a line to `quantity(current quantity)`, checking the product, its stock and the
/// cart's currency, with the cart locked so concurrent changes apply one after the other.
async fn change_line(
    state: &AppState,
    owner: &CartOwner,
    product_id: Uuid,
    quantity: impl FnOnce(i32) -> Result<i64, String>,
) -> Result<Json<CartBody>> {
    let key = owner.key();
    let mut tx = state.db.begin().await?;
    store::lock(&mut tx, &key).await?;
    let lines = store::lines(&mut *tx, &key).await?;
    let existing = lines
        .iter()
        .find(|l| l.product_id == product_id)
        .map_or(0, |l| l.quantity);
    let mut errors = FieldErrors::new();
    let quantity = errors.check("quantity", quantity(existing).and_then(Quantity::parse));
    let Some(quantity) = quantity else {
        return Err(ProductOrderError::Validation(errors));
    };
    let product = catalog_store::find(&mut *tx, product_id)
        .await?
        .ok_or(ProductOrderError::NotFound)?;
    if !product.active {
        return Err(ProductOrderError::ProductUnavailable { name: product.name });
    }
    if product.stock < quantity.get() {
        return Err(ProductOrderError::InsufficientStock {
            name: product.name,
            available: product.stock,
        });
    }
    if lines
        .iter()
        .any(|l| l.product_id != product_id && l.currency != product.currency)
    {
        return Err(ProductOrderError::CurrencyMismatch {
            cart: currencies(&lines).into_iter().map(str::to_owned).collect(),
            product: product.currency,
        });
    }
    store::set_quantity(&mut tx, &key, product_id, quantity.get()).await?;
    let cart = store::lines(&mut *tx, &key).await?;
    tx.commit().await?;
    Ok(Json(cart_body(cart)))
}

/// Takes a product out of the cart (nothing happens if it was not in).
#[utoipa::path(delete, path = "/api/cart/items/{product_id}", tag = "cart", params(("product_id" = Uuid, Path, description = "The product's id"), CartTokenHeader),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The cart.", body = CartBody)))]
async fn remove_item(
    State(state): State<AppState>,
    owner: CartOwner,
    AppPath(product_id): AppPath<Uuid>,
) -> Result<Json<CartBody>> {
    let key = owner.key();
    store::remove(&state.db, &key, product_id).await?;
    Ok(Json(cart_body(store::lines(&state.db, &key).await?)))
}

#[derive(Deserialize, ToSchema)]
struct MergeRequest {
    /// The guest's cart token: 22 to 128 letters, digits, `-` or `_`.
    #[serde(default)]
    #[schema(required = true, pattern = "^[A-Za-z0-9_-]{22,128}$")]
    cart_token: String,
}

/// Moves a guest's cart into the signed-in shopper's: quantities add up (at most 99 and what
/// is in stock); lines in another currency than the shopper's cart stay behind in the guest cart.
#[utoipa::path(post, path = "/api/cart/merge", tag = "cart", request_body = MergeRequest, security(("bearer" = [])),
    responses((status = 200, description = "The shopper's cart, with the guest's lines in it.", body = CartBody)))]
async fn merge_guest_cart(
    State(state): State<AppState>,
    Caller(claims): Caller,
    AppJson(request): AppJson<MergeRequest>,
) -> Result<Json<CartBody>> {
    let guest = CartOwner::guest(&request.cart_token).ok_or_else(|| {
        let mut errors = FieldErrors::new();
        errors.add("cart_token", "This is not a cart token.");
        ProductOrderError::Validation(errors)
    })?;
    let (guest_key, customer_key) = (guest.key(), CartOwner::Customer(claims.sub).key());
    let mut tx = state.db.begin().await?;
    store::lock(&mut tx, &customer_key).await?;
    store::lock(&mut tx, &guest_key).await?;
    let mine = store::lines(&mut *tx, &customer_key).await?;
    let mut currency = mine.first().map(|l| l.currency.clone());
    for line in store::lines(&mut *tx, &guest_key).await? {
        if currency.as_ref().is_some_and(|c| *c != line.currency) {
            continue;
        }
        currency.get_or_insert_with(|| line.currency.clone());
        let existing = mine
            .iter()
            .find(|m| m.product_id == line.product_id)
            .map_or(0, |m| m.quantity);
        let quantity = (existing + line.quantity)
            .min(Quantity::MAX)
            .min(line.stock.max(existing));
        if quantity > 0 {
            store::set_quantity(&mut tx, &customer_key, line.product_id, quantity).await?;
        }
        store::remove(&mut *tx, &guest_key, line.product_id).await?;
    }
    let cart = store::lines(&mut *tx, &customer_key).await?;
    tx.commit().await?;
    Ok(Json(cart_body(cart)))
}
