//! The catalog: products, their stock and its audit trail, listing and search.

pub mod demo;
pub mod domain;
pub mod images;
mod low_stock;
pub mod store;
pub mod word_stats;

use api::catalog::{Availability, Product as ProductBody, ProductPage, StockChanges, UploadedImage};
use api::money::Currency;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use platform::FieldErrors;
use platform::auth::Operator;
use platform::http::{AppJson, AppPath, AppQuery};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{ProductOrderError, Result};
use domain::{Sku, parse_image_url, parse_price, parse_stock, parse_text};
use platform::auth::MaybeCaller;
use platform::db::violates;
use store::{After, Listing, Product, ProductFields, Sort};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product))
        .routes(routes!(list_stock_changes))
        .merge(low_stock::router())
        .merge(images::router())
}

/// A product as the API shows it.
pub(crate) fn product_body(p: Product) -> ProductBody {
    ProductBody {
        availability: Availability::of(p.stock),
        id: p.id,
        sku: p.sku,
        name: p.name,
        description: p.description,
        price: p.price,
        currency: p.currency,
        stock: p.stock,
        active: p.active,
        image_url: p.image_url,
        uploaded_image: p.image_sha256.map(|sha256| UploadedImage {
            path: images::path(p.id, &sha256),
            sha256,
        }),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Words to search names and descriptions for (at most 200 characters).
    #[param(max_length = 200)]
    q: Option<String>,
    /// The `next_cursor` of the page before (of a listing in the same order).
    cursor: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// newest (the default) or name.
    #[param(inline)]
    sort: Option<Sort>,
    /// Operators only: list inactive products too.
    #[serde(default)]
    include_inactive: bool,
}

pub const DEFAULT_PAGE: i64 = 20;
pub const MAX_PAGE: i64 = 100;

fn encode_cursor(after: &After) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(after).expect("cursors serialize"))
}

fn decode_cursor(raw: &str) -> Option<After> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw).ok()?).ok()
}

/// Active products (and inactive ones, for operators who ask), newest first or by name; with
/// `q`, those matching every word, best matches first.
#[utoipa::path(get, path = "/api/products", tag = "catalog", params(ListParams), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of products.", body = ProductPage),
        (status = 403, description = "`include_inactive` asked for by a shopper.", body = api::ErrorBody),
    ))]
async fn list_products(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    AppQuery(params): AppQuery<ListParams>,
) -> Result<Json<ProductPage>> {
    let sort = params.sort.unwrap_or(Sort::Newest);
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    let mut errors = FieldErrors::new();
    if !(1..=MAX_PAGE).contains(&limit) {
        errors.add("limit", format!("Ask for 1 to {MAX_PAGE} products at a time."));
    }
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(raw) => match decode_cursor(raw) {
            Some(after)
                if matches!(
                    (&after, sort),
                    (After::Newest { .. }, Sort::Newest) | (After::Name { .. }, Sort::Name)
                ) =>
            {
                Some(after)
            }
            _ => {
                errors.add(
                    "cursor",
                    "This cursor is not from this listing; start again without it.",
                );
                None
            }
        },
    };
    if params.q.as_deref().is_some_and(|q| q.chars().count() > 200) {
        errors.add("q", "Search with at most 200 characters.");
    }
    if params.include_inactive && !caller.as_ref().is_some_and(|c| c.role == contracts::Role::Operator) {
        return Err(ProductOrderError::Forbidden);
    }
    errors.finish()?;
    let search = params.q.as_deref().and_then(store::Search::parse);
    let search_share = match &search {
        Some(search) => state.word_stats.share_matching(&state.db, search).await,
        None => None,
    };
    let mut products = store::list(
        &state.db,
        &Listing {
            search: search.as_ref(),
            search_share,
            sort,
            after: after.as_ref(),
            limit: limit + 1,
            include_inactive: params.include_inactive,
        },
    )
    .await?;
    let next_cursor = if products.len() as i64 > limit {
        products.truncate(limit as usize);
        products.last().map(|last| encode_cursor(&After::of(last, sort)))
    } else {
        None
    };
    Ok(Json(ProductPage {
        items: products.into_iter().map(product_body).collect(),
        next_cursor,
    }))
}

/// One product; an inactive one only for operators.
#[utoipa::path(get, path = "/api/products/{id}", tag = "catalog", params(("id" = Uuid, Path, description = "The product's id")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The product.", body = ProductBody)))]
async fn get_product(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<ProductBody>> {
    let product = store::find(&state.db, id).await?.ok_or(ProductOrderError::NotFound)?;
    let operator = caller.is_some_and(|c| c.role == contracts::Role::Operator);
    if !product.active && !operator {
        return Err(ProductOrderError::NotFound);
    }
    Ok(Json(product_body(product)))
}

#[derive(Deserialize, ToSchema)]
struct CreateProduct {
    /// 1 to 64 letters, digits, `-`, `_` or `.` (kept in upper case).
    #[serde(default)]
    #[schema(required = true, pattern = "^\\s*[A-Za-z0-9._-]{1,64}\\s*$")]
    sku: String,
    #[serde(default)]
    #[schema(
        required = true,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: String,
    #[serde(default)]
    #[schema(
        max_length = 5000,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )]
    description: String,
    /// In minor units (cents).
    #[serde(default, deserialize_with = "api::whole_number::optional")]
    #[schema(value_type = i64, required = true, minimum = 0, maximum = 100_000_000)]
    price: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Currency, required = true)]
    currency: String,
    /// 0 (the default) to 1,000,000.
    #[serde(default, deserialize_with = "api::whole_number::optional")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    stock: Option<i64>,
    /// An http(s) address of an image elsewhere (its host a name, not a number; no port);
    /// empty for none.
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = "^\\s*(https?://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\\.)*[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?([/?#][^\\s\\u0000-\\u001f\\u007f-\\u009f]*)?)?\\s*$"
    )]
    image_url: String,
    /// Whether shoppers see it (default true).
    active: Option<bool>,
}

/// A new product, with its initial stock recorded as a stock change.
#[utoipa::path(post, path = "/api/products", tag = "operators", request_body = CreateProduct, security(("bearer" = [])),
    responses(
        (status = 201, description = "The product.", body = ProductBody),
        (status = 409, description = "Another product has this SKU (`sku_taken`, named in `fields`).", body = api::ErrorBody),
    ))]
async fn create_product(
    State(state): State<AppState>,
    Operator(operator): Operator,
    AppJson(request): AppJson<CreateProduct>,
) -> Result<(StatusCode, Json<ProductBody>)> {
    let mut errors = FieldErrors::new();
    let sku = errors.check("sku", Sku::parse(&request.sku));
    let name = errors.check("name", parse_text(&request.name, "name", 1, 200, false));
    let description = errors.check(
        "description",
        parse_text(&request.description, "description", 0, 5000, true),
    );
    let price = errors.check(
        "price",
        request
            .price
            .ok_or_else(|| "Enter a price in cents.".to_owned())
            .and_then(parse_price),
    );
    let currency = errors.check("currency", Currency::parse(&request.currency));
    let stock = errors.check("stock", parse_stock(request.stock.unwrap_or(0)));
    let image_url = errors.check("image_url", parse_image_url(&request.image_url));
    let (Some(sku), Some(name), Some(description), Some(price), Some(currency), Some(stock), Some(image_url)) =
        (sku, name, description, price, currency, stock, image_url)
    else {
        return Err(ProductOrderError::Validation(errors));
    };
    let fields = ProductFields {
        sku: sku.as_str().to_owned(),
        name,
        description,
        price,
        currency: currency.as_str().to_owned(),
        stock,
        image_url,
        active: request.active.unwrap_or(true),
    };
    let mut tx = state.db.begin().await?;
    let product = store::save(&mut tx, Uuid::now_v7(), &fields).await.map_err(|e| {
        if violates(&e, "products_sku_key") {
            ProductOrderError::SkuTaken
        } else {
            e.into()
        }
    })?;
    if stock > 0 {
        store::record_stock_change(&mut tx, product.id, operator.sub, 0, stock, "initial stock").await?;
    }
    tx.commit().await?;
    tracing::info!(product_id = %product.id, operator = %operator.sub, "product created");
    Ok((StatusCode::CREATED, Json(product_body(product))))
}

/// Fields an operator may change; absent ones stay as they are. `stock` sets the stock,
/// `stock_delta` adjusts it; either needs a `stock_reason` for the audit trail (default
/// "manual correction").
#[derive(Deserialize, ToSchema)]
struct UpdateProduct {
    /// 1 to 64 letters, digits, `-`, `_` or `.` (kept in upper case).
    #[schema(pattern = "^\\s*[A-Za-z0-9._-]{1,64}\\s*$")]
    sku: Option<String>,
    #[schema(
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: Option<String>,
    #[schema(
        max_length = 5000,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )]
    description: Option<String>,
    #[serde(default, deserialize_with = "api::whole_number::optional")]
    #[schema(minimum = 0, maximum = 100_000_000)]
    price: Option<i64>,
    #[schema(value_type = Option<Currency>)]
    currency: Option<String>,
    #[schema(
        max_length = 2000,
        pattern = "^\\s*(https?://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\\.)*[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?([/?#][^\\s\\u0000-\\u001f\\u007f-\\u009f]*)?)?\\s*$"
    )]
    image_url: Option<String>,
    active: Option<bool>,
    /// The stock to set (0 to 1,000,000); not with `stock_delta`.
    #[serde(default, deserialize_with = "api::whole_number::optional")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    stock: Option<i64>,
    /// How much to add to the stock (or take off); the result must be 0 to 1,000,000.
    #[serde(default, deserialize_with = "api::whole_number::optional")]
    stock_delta: Option<i64>,
    /// Why the stock changed, for the audit trail.
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    stock_reason: Option<String>,
}

#[utoipa::path(patch, path = "/api/products/{id}", tag = "operators", params(("id" = Uuid, Path, description = "The product's id")),
    request_body = UpdateProduct, security(("bearer" = [])),
    responses(
        (status = 200, description = "The product as it is now.", body = ProductBody),
        (status = 409, description = "Another product has this SKU (`sku_taken`, named in `fields`).", body = api::ErrorBody),
    ))]
async fn update_product(
    State(state): State<AppState>,
    Operator(operator): Operator,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<UpdateProduct>,
) -> Result<Json<ProductBody>> {
    let mut tx = state.db.begin().await?;
    let current = store::find_for_update(&mut tx, id)
        .await?
        .ok_or(ProductOrderError::NotFound)?;
    let mut errors = FieldErrors::new();
    let mut fields = ProductFields {
        sku: current.sku.clone(),
        name: current.name.clone(),
        description: current.description.clone(),
        price: current.price,
        currency: current.currency.clone(),
        stock: current.stock,
        image_url: current.image_url.clone(),
        active: request.active.unwrap_or(current.active),
    };
    if let Some(sku) = request.sku.as_deref().and_then(|s| errors.check("sku", Sku::parse(s))) {
        fields.sku = sku.as_str().to_owned();
    }
    if let Some(name) = request
        .name
        .as_deref()
        .and_then(|s| errors.check("name", parse_text(s, "name", 1, 200, false)))
    {
        fields.name = name;
    }
    if let Some(text) = request
        .description
        .as_deref()
        .and_then(|s| errors.check("description", parse_text(s, "description", 0, 5000, true)))
    {
        fields.description = text;
    }
    if let Some(price) = request.price.and_then(|p| errors.check("price", parse_price(p))) {
        fields.price = price;
    }
    if let Some(currency) = request
        .currency
        .as_deref()
        .and_then(|c| errors.check("currency", Currency::parse(c)))
    {
        fields.currency = currency.as_str().to_owned();
    }
    if let Some(url) = request
        .image_url
        .as_deref()
        .and_then(|u| errors.check("image_url", parse_image_url(u)))
    {
        fields.image_url = url;
    }
    let new_stock = match (request.stock, request.stock_delta) {
        (Some(_), Some(_)) => {
            errors.add("stock", "Set the stock or adjust it, not both.");
            None
        }
        (Some(stock), None) => errors.check("stock", parse_stock(stock)),
        (None, Some(delta)) => errors.check(
            "stock_delta",
            // A delta past i64's edge is as out of range as any other.
            i64::from(current.stock)
                .checked_add(delta)
                .ok_or_else(String::new)
                .and_then(parse_stock)
                .map_err(|_| {
                    format!(
                        "Stock would become {}; it must stay between 0 and {}.",
                        i128::from(current.stock) + i128::from(delta),
                        domain::MAX_STOCK
                    )
                }),
        ),
        (None, None) => None,
    };
    let reason = match request.stock_reason.as_deref() {
        Some(reason) => errors.check("stock_reason", parse_text(reason, "reason", 1, 500, false)),
        None => Some("manual correction".to_owned()),
    };
    errors.finish()?;
    if let Some(stock) = new_stock {
        fields.stock = stock;
    }
    // An image address replaces an uploaded image (and an upload replaces the address).
    if fields.image_url.is_some() && current.image_sha256.is_some() {
        images::store::detach(&mut tx, id).await?;
    }
    let product = store::save(&mut tx, id, &fields).await.map_err(|e| {
        if violates(&e, "products_sku_key") {
            ProductOrderError::SkuTaken
        } else {
            e.into()
        }
    })?;
    if product.stock != current.stock {
        let reason = reason.unwrap_or_default();
        store::record_stock_change(&mut tx, id, operator.sub, current.stock, product.stock, &reason).await?;
    }
    tx.commit().await?;
    tracing::info!(product_id = %id, operator = %operator.sub, "product updated");
    Ok(Json(product_body(product)))
}

/// Every change to the product's stock, oldest first: who, when, from what to what, why.
#[utoipa::path(get, path = "/api/products/{id}/stock-changes", tag = "operators", params(("id" = Uuid, Path, description = "The product's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The product's stock changes.", body = StockChanges)))]
async fn list_stock_changes(
    State(state): State<AppState>,
    Operator(_): Operator,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<StockChanges>> {
    store::find(&state.db, id).await?.ok_or(ProductOrderError::NotFound)?;
    Ok(Json(StockChanges {
        items: store::stock_changes(&state.db, id).await?,
    }))
}
