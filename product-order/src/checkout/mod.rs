//! Checkout: `POST /api/checkout` records a saga instance with a snapshot of the cart and
//! answers 202 at once; `GET /api/checkouts/{id}` tells its owner how it goes.

mod content;
pub mod details;
mod request;
pub mod steps;

use api::checkout::{
    Checkout, CheckoutAccepted, CheckoutList, CheckoutRequest, CheckoutStep, CheckoutSummary, CountryOption,
    DetailsForm, SHIPPING_COUNTRIES,
};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use platform::auth::Caller;
use platform::http::{AppJson, AppPath};
use saga::{InstanceState, NewInstance, StepState};
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::cart::store as carts;
use crate::error::{ProductOrderError, Result};
use content::OrderContent;
use steps::{CHECKOUT, CheckoutInput};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_checkout))
        .routes(routes!(list_checkouts))
        .routes(routes!(show_checkout))
        .routes(routes!(shipping_countries))
}

/// Starts a checkout of the caller's cart, as the shopper reviewed it. The `Idempotency-Key`
/// header makes a repeat (a double click, a retry after a timeout) return the first checkout
/// instead of a second order.
#[utoipa::path(post, path = "/api/checkout", tag = "checkout", request_body = CheckoutRequest,
    params(("Idempotency-Key" = String, Header, pattern = "^\\s*[!-~]{1,255}\\s*$",
        description = "1 to 255 visible ASCII characters (a UUID, say), new for each order the shopper means to place")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The checkout is recorded and runs (a repeat gets the first one).", body = CheckoutAccepted),
        (status = 409, description = "The cart is empty (`empty_cart`), mixes currencies (`mixed_currencies`), costs another total than reviewed (`prices_changed`), holds a line that cannot be served (`insufficient_stock`, `product_unavailable`), or another checkout is placing it (`checkout_in_progress`).", body = api::ErrorBody),
    ))]
async fn start_checkout(
    State(state): State<AppState>,
    Caller(claims): Caller,
    headers: HeaderMap,
    AppJson(request): AppJson<CheckoutRequest>,
) -> Result<(StatusCode, Json<CheckoutAccepted>)> {
    let key = idempotency_key(&headers)?;
    let (form, reviewed) = request::validate(request).map_err(ProductOrderError::Validation)?;
    let owner = claims.sub.to_string();
    let request_hash = fingerprint(&form);
    let accepted = |checkout_id: Uuid| CheckoutAccepted {
        checkout_id,
        status_url: format!("/api/checkouts/{checkout_id}"),
        state: InstanceState::Running,
    };

    let mut tx = state.db.begin().await?;
    let cart_owner = format!("customer:{}", claims.sub);
    carts::lock(&mut tx, &cart_owner).await?;
    let cart = carts::lines(&mut *tx, &cart_owner).await?;
    if let Some(checkout_id) = taken_by_live_checkout(&state, &mut tx, &cart).await? {
        // Lines a running checkout has taken (it waits in the queue, or is between its
        // steps): the same request again gets that checkout; another one (a second tab)
        // is refused rather than ordering the cart twice.
        return match state.saga.find_by_key(&mut tx, CHECKOUT, &owner, &key).await? {
            Some((id, hash)) if id == checkout_id => {
                repeat(id, hash.as_deref(), &request_hash).map(|id| (StatusCode::ACCEPTED, Json(accepted(id))))
            }
            _ => Err(ProductOrderError::CheckoutInProgress { checkout_id }),
        };
    }
    let content = match OrderContent::of(&cart, &reviewed) {
        Ok(content) => content,
        // A repeat may come after its checkout emptied the cart, or after the cart changed. (With
        // the cart as reviewed, `start` finds the key's checkout itself.)
        Err(refusal) => {
            return match state.saga.find_by_key(&mut tx, CHECKOUT, &owner, &key).await? {
                Some((checkout_id, hash)) => repeat(checkout_id, hash.as_deref(), &request_hash)
                    .map(|id| (StatusCode::ACCEPTED, Json(accepted(id)))),
                None => Err(refusal),
            };
        }
    };
    let input = CheckoutInput {
        customer_id: claims.sub,
        details: form,
        lines: content.lines,
        total: content.total,
        currency: content.currency,
    };
    let checkout_id = Uuid::now_v7();
    carts::take_for_checkout(&mut tx, &cart_owner, checkout_id).await?;
    let started = state
        .saga
        .start(
            &mut tx,
            CHECKOUT,
            NewInstance {
                id: checkout_id,
                owner,
                idempotency_key: Some(key),
                request_hash: Some(request_hash.clone()),
                input: serde_json::to_value(&input).map_err(anyhow::Error::from)?,
            },
        )
        .await?;
    if !started.created {
        // A repeat of a checkout whose snapshot is taken already: nothing of this request
        // is kept (dropping the transaction rolls back the lines taken above).
        return repeat(started.id, started.request_hash.as_deref(), &request_hash)
            .map(|id| (StatusCode::ACCEPTED, Json(accepted(id))));
    }
    let (id, recorded_hash) = (started.id, started.request_hash.clone());
    // The commit and the hand-over to this process's worker survive this request being
    // dropped (its client gone, the timeout): the engine does both in a task of its own.
    state.saga.commit_started(tx, started).await?;
    let id = repeat(id, recorded_hash.as_deref(), &request_hash)?;
    Ok((StatusCode::ACCEPTED, Json(accepted(id))))
}

/// The running checkout that took lines of this cart, if any.
async fn taken_by_live_checkout(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    cart: &[carts::CartLine],
) -> Result<Option<Uuid>> {
    let mut taken: Vec<Uuid> = cart.iter().filter_map(|line| line.checkout_id).collect();
    taken.dedup();
    for checkout_id in taken {
        if state
            .saga
            .lock_state(tx, checkout_id)
            .await?
            .is_some_and(|state| !state.is_final())
        {
            return Ok(Some(checkout_id));
        }
    }
    Ok(None)
}

/// A key used again must come with the same details.
fn repeat(checkout_id: Uuid, recorded: Option<&str>, asked: &str) -> Result<Uuid> {
    match recorded {
        Some(hash) if hash != asked => Err(ProductOrderError::IdempotencyKeyReused),
        _ => Ok(checkout_id),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<String> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or_default();
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ProductOrderError::MissingIdempotencyKey);
    }
    Ok(key.to_owned())
}

fn fingerprint(form: &DetailsForm) -> String {
    let canonical = serde_json::to_vec(form).expect("a form serialises");
    format!("{:x}", Sha256::digest(canonical))
}

/// How the caller's checkout goes; another shopper's is 404.
#[utoipa::path(get, path = "/api/checkouts/{id}", tag = "checkout", params(("id" = Uuid, Path, description = "The checkout's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The checkout, its steps and its order once placed.", body = Checkout)))]
async fn show_checkout(
    State(state): State<AppState>,
    Caller(claims): Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<Checkout>> {
    let instance = state.saga.instance(id).await?.ok_or(ProductOrderError::NotFound)?;
    if instance.summary.saga != CHECKOUT || instance.summary.owner != claims.sub.to_string() {
        return Err(ProductOrderError::NotFound);
    }
    let input: CheckoutInput = serde_json::from_value(instance.input).map_err(anyhow::Error::from)?;
    let order = crate::orders::store::placed_for(&state.db, id).await?;
    let (order_id, order_status) = order.map(|o| (o.order_id, o.status)).unzip();
    let summary = instance.summary;
    Ok(Json(Checkout {
        checkout_id: id,
        state: summary.state,
        order_id,
        order_status,
        failure: shopper_failure(summary.state, summary.public_failure),
        steps: instance
            .steps
            .into_iter()
            .map(|s| CheckoutStep {
                error: shopper_step_error(&s.name, s.state).map(str::to_owned),
                name: s.name,
                state: s.state,
                attempts: s.attempts,
            })
            .collect(),
        lines: input.lines,
        total: input.total,
        currency: input.currency,
        created_at: summary.created_at,
    }))
}

/// Why a checkout failed, as its shopper is told: the failing step's own words when they were
/// meant for the shopper (an item sold out, a field to correct), else a fixed sentence. The
/// full failure (database errors, an operator's reason) is for operators only.
fn shopper_failure(state: InstanceState, public_failure: Option<String>) -> Option<String> {
    match state {
        InstanceState::Running | InstanceState::Completed => None,
        InstanceState::Compensating | InstanceState::Failed | InstanceState::Stuck => {
            Some(public_failure.unwrap_or_else(|| {
                "We could not complete this checkout. Nothing was charged, and any items it held go back to stock."
                    .into()
            }))
        }
    }
}

/// What a shopper is told of a step that did not go well: a fixed sentence per step, never
/// the attempt's own error, which operators read on the saga console.
fn shopper_step_error(step: &str, state: StepState) -> Option<&'static str> {
    match state {
        StepState::Retrying => Some("This is taking longer than usual; we keep trying."),
        StepState::Failed => Some(match step {
            steps::VALIDATE_DETAILS => "Your details could not be accepted.",
            steps::RESERVE_STOCK => "Your items could not be reserved.",
            steps::PLACE_ORDER => "Your order could not be placed.",
            _ => "Your order could not be announced.",
        }),
        StepState::Pending | StepState::Running | StepState::Succeeded => None,
    }
}

/// The caller's most recent checkouts (newest first, at most 20), so a page can show an order
/// that is still being placed or announced.
#[utoipa::path(get, path = "/api/checkouts", tag = "checkout", security(("bearer" = [])),
    responses((status = 200, description = "The caller's recent checkouts.", body = CheckoutList)))]
async fn list_checkouts(State(state): State<AppState>, Caller(claims): Caller) -> Result<Json<CheckoutList>> {
    let filter = saga::ListFilter {
        saga: Some(CHECKOUT.to_owned()),
        owner: Some(claims.sub.to_string()),
        limit: 20,
        ..saga::ListFilter::default()
    };
    let instances = state.saga.list(&filter).await?;
    let ids: Vec<Uuid> = instances.iter().map(|i| i.id).collect();
    let orders = crate::orders::store::orders_of(&state.db, &ids).await?;
    let items = instances
        .into_iter()
        .map(|i| CheckoutSummary {
            order_id: orders
                .iter()
                .find(|(checkout, _, _)| *checkout == i.id)
                .map(|(_, order, _)| *order),
            checkout_id: i.id,
            state: i.state,
            failure: shopper_failure(i.state, i.public_failure),
            created_at: i.created_at,
        })
        .collect();
    Ok(Json(CheckoutList { items }))
}

/// The countries the checkout form offers.
#[utoipa::path(get, path = "/api/shipping-countries", tag = "checkout",
    responses((status = 200, description = "Code and name of each country the shop delivers to.", body = Vec<CountryOption>)))]
async fn shipping_countries() -> Json<Vec<CountryOption>> {
    Json(
        SHIPPING_COUNTRIES
            .iter()
            .map(|c| CountryOption {
                code: c.code.to_owned(),
                name: c.name.to_owned(),
            })
            .collect(),
    )
}
