//! Handlers of the operator's product pages. Forms post back to their page's address and
//! redirect (303) to the product page with a notice when they succeed.

use api::catalog::{Product, StockChange};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::OperatorSession;
use super::form::{FieldErrors, ProductForm, StockForm};
use super::views::{EditProductView, NewProductView, OpsProductRow, OpsProductsView, notice};
use crate::app::AppState;
use crate::catalog::{ListingParams, ListingSpec};
use crate::clients::product_order::{Caller, ProductChanges, ProductOrderCallError};
use crate::error::{AppForm, WebError, parse_id};
use crate::listing::MoreView;
use crate::multipart;
use crate::render::{PageContext, fragment, page, see_other};

/// Rows per page of the operator's list.
const PAGE_SIZE: u32 = 25;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ops/products", get(products_page).post(create_product))
        .route("/ops/products/new", get(new_product_page))
        .route("/ops/products/{id}", get(product_page).post(update_product))
        .route("/ops/products/{id}/stock", post(adjust_stock))
        .route("/ops/products/{id}/image", post(upload_image))
        .route("/ops/products/{id}/image/remove", post(remove_image))
}

#[derive(Deserialize)]
struct DoneParams {
    #[serde(default)]
    done: String,
}

async fn products_page(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Query(params): Query<ListingParams>,
) -> Result<Response, WebError> {
    let spec = ListingSpec {
        path: "/ops/products",
        target: "#ops-product-rows",
        page_size: PAGE_SIZE,
        include_inactive: true,
    };
    let listing = params
        .fetch(&state, Caller::Bearer(&operator.access_token), spec, ctx.partial)
        .await?;
    if listing.load_more.oob {
        let view = MoreView {
            rows: listing
                .products
                .iter()
                .map(|product| OpsProductRow { product })
                .collect(),
            load_more: listing.load_more,
        };
        return Ok(fragment(StatusCode::OK, &view));
    }
    let view = OpsProductsView {
        q: params.q(),
        sort: params.sort(),
        products: &listing.products,
        continued: listing.continued,
        load_more: listing.load_more,
    };
    Ok(page(&ctx, StatusCode::OK, "Products · Operator", &view))
}

async fn new_product_page(ctx: PageContext, _operator: OperatorSession) -> Response {
    let view = NewProductView::new(&ctx, ProductForm::blank(), FieldErrors::new());
    page(&ctx, StatusCode::OK, "New product", &view)
}

async fn create_product(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    AppForm(form): AppForm<ProductForm>,
) -> Result<Response, WebError> {
    let refused = match form.new_product() {
        Err(errors) => (StatusCode::UNPROCESSABLE_ENTITY, errors),
        Ok(product) => match state
            .product_order
            .create_product(&operator.access_token, &product)
            .await
        {
            Ok(created) => {
                tracing::info!(product_id = %created.id, operator = %operator.user.id, "product created through the web");
                return Ok(see_other(&ctx, &format!("/ops/products/{}?done=created", created.id)));
            }
            Err(e) => refusal(e)?,
        },
    };
    let (status, errors) = refused;
    Ok(page(
        &ctx,
        status,
        "New product",
        &NewProductView::new(&ctx, form, errors),
    ))
}

async fn product_page(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path(id): Path<String>,
    Query(params): Query<DoneParams>,
) -> Result<Response, WebError> {
    let (product, history) = load(&state, &operator, parse_id(&id)?).await?;
    let view = EditProductView {
        notice: notice(&params.done),
        ..EditProductView::new(&ctx, &product, &history)
    };
    Ok(page(&ctx, StatusCode::OK, &product.name, &view))
}

async fn update_product(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path(id): Path<String>,
    AppForm(form): AppForm<ProductForm>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    let (status, errors) = match change(&state, &operator, id, form.changes(), "saved").await? {
        Ok(location) => return Ok(see_other(&ctx, &location)),
        Err(refused) => refused,
    };
    let (product, history) = load(&state, &operator, id).await?;
    let view = EditProductView::new(&ctx, &product, &history).with_product_errors(form, errors);
    Ok(page(&ctx, status, &product.name, &view))
}

async fn adjust_stock(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path(id): Path<String>,
    AppForm(form): AppForm<StockForm>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    let (status, errors) = match change(&state, &operator, id, form.changes(), "stock").await? {
        Ok(location) => return Ok(see_other(&ctx, &location)),
        Err(refused) => refused,
    };
    let (product, history) = load(&state, &operator, id).await?;
    let view = EditProductView::new(&ctx, &product, &history).with_stock_errors(form, errors);
    Ok(page(&ctx, status, &product.name, &view))
}

/// The picture form: a multipart form whose `image` file goes to product-order as it is
/// (product-order tells what it is from its bytes).
async fn upload_image(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    let not_the_form = || WebError::BadRequest("Send the picture with the form on the product's page.".into());
    let boundary = multipart::boundary(&headers).ok_or_else(not_the_form)?;
    // The CSRF check read the form already, within its size limit.
    let form = to_bytes(body, multipart::MAX_UPLOAD_BYTES)
        .await
        .map_err(|_| not_the_form())?;
    let image = multipart::field(form, &boundary, "image")
        .await
        .map_err(|_| not_the_form())?
        .unwrap_or_default();
    let token = &operator.access_token;
    let (status, message) = match state
        .product_order
        .upload_product_image(token, id, image.to_vec())
        .await
    {
        Ok(product) => {
            tracing::info!(product_id = %product.id, operator = %operator.user.id, "product picture uploaded through the web");
            return Ok(see_other(&ctx, &format!("/ops/products/{id}?done=image")));
        }
        Err(ProductOrderCallError::Refused(refusal)) => (
            StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
            refusal.message_for("image"),
        ),
        Err(other) => return Err(other.into()),
    };
    let (product, history) = load(&state, &operator, id).await?;
    let view = EditProductView::new(&ctx, &product, &history).with_image_error(message);
    Ok(page(&ctx, status, &product.name, &view))
}

async fn remove_image(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    state
        .product_order
        .remove_product_image(&operator.access_token, id)
        .await?;
    tracing::info!(product_id = %id, operator = %operator.user.id, "product picture removed through the web");
    Ok(see_other(&ctx, &format!("/ops/products/{id}?done=image-removed")))
}

/// Applies `changes` (unless the form was already wrong); answers where to go next, or why
/// it was refused.
async fn change(
    state: &AppState,
    operator: &OperatorSession,
    id: Uuid,
    changes: Result<ProductChanges, FieldErrors>,
    done: &str,
) -> Result<Result<String, (StatusCode, FieldErrors)>, WebError> {
    let changes = match changes {
        Ok(changes) => changes,
        Err(errors) => return Ok(Err((StatusCode::UNPROCESSABLE_ENTITY, errors))),
    };
    match state
        .product_order
        .update_product(&operator.access_token, id, &changes)
        .await
    {
        Ok(product) => {
            tracing::info!(product_id = %product.id, operator = %operator.user.id, "product changed through the web");
            Ok(Ok(format!("/ops/products/{id}?done={done}")))
        }
        Err(e) => Ok(Err(refusal(e)?)),
    }
}

/// The messages of a refused change by field (a general one under `form`), or the error page.
fn refusal(error: ProductOrderCallError) -> Result<(StatusCode, FieldErrors), WebError> {
    match error {
        ProductOrderCallError::Refused(refusal) => {
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let mut errors = refusal.fields;
            if errors.is_empty() {
                errors.insert("form".into(), refusal.message);
            }
            Ok((status, errors))
        }
        other => Err(other.into()),
    }
}

/// A product and its stock history, as the operator sees them.
async fn load(state: &AppState, operator: &OperatorSession, id: Uuid) -> Result<(Product, Vec<StockChange>), WebError> {
    let token = &operator.access_token;
    let (product, history) = tokio::join!(
        state.product_order.product(Caller::Bearer(token), id),
        state.product_order.stock_changes(token, id),
    );
    Ok((product?, history?))
}
