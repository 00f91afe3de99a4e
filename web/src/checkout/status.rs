//! The page that follows a checkout.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::views::CheckoutStatusView;
use crate::app::AppState;
use crate::clients::product_order::ProductOrderCallError;
use crate::error::{WebError, call_error, parse_id};
use crate::render::{PageContext, page};
use crate::session::SignedIn;

#[derive(Deserialize)]
pub(super) struct StatusParams {
    /// What the last form did: `cancelled`.
    #[serde(default)]
    done: String,
}

/// /checkouts/{id}: the whole page, or for htmx's poll only its `#checkout-status` part.
pub(super) async fn checkout_status_page(
    State(state): State<AppState>,
    ctx: PageContext,
    shopper: SignedIn,
    Path(id): Path<String>,
    Query(params): Query<StatusParams>,
) -> Result<Response, WebError> {
    let id = parse_id(&id)?;
    let checkout = match state.product_order.checkout(&shopper.access_token, id).await {
        Ok(checkout) => checkout,
        // A poll that finds product-order away leaves the page as it is (htmx swaps nothing
        // on 204) and polls again.
        Err(ProductOrderCallError::Unavailable(cause)) if ctx.partial => {
            tracing::warn!(error = %cause, checkout_id = %id, "no checkout status for a poll");
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        Err(e) => return Err(call_error(e, &checkout_path(id))),
    };
    let view = CheckoutStatusView::new(&ctx, &checkout, &params.done);
    if ctx.partial {
        return Ok(page(&ctx, StatusCode::OK, view.title(), &view));
    }
    // The status is swapped whole as it changes; a region around it that stays is what lets
    // screen readers announce each change.
    let live = LiveRegion { status: view.render()? };
    Ok(page(&ctx, StatusCode::OK, view.title(), &live))
}

#[derive(Template)]
#[template(
    source = r#"<div class="live-region" aria-live="polite">{{ status|safe }}</div>"#,
    ext = "html"
)]
struct LiveRegion {
    status: String,
}

fn checkout_path(id: Uuid) -> String {
    format!("/checkouts/{id}")
}
