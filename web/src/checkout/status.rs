//! The page that follows a checkout, and cancelling the order it placed.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::call_error;
use super::views::{CheckoutStatusView, OrderNoticeView};
use crate::app::AppState;
use crate::clients::product_order::ProductOrderCallError;
use crate::error::{AppForm, WebError, parse_id};
use crate::render::{PageContext, page, see_other};
use crate::session::SignedIn;

#[derive(Deserialize)]
pub(super) struct StatusParams {
    /// What the last form did: `cancelled`.
    #[serde(default)]
    done: String,
}

#[derive(Deserialize)]
pub(super) struct CancelForm {
    /// The checkout page the form is on, to come back to.
    #[serde(default)]
    return_to: String,
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
    Ok(page(&ctx, StatusCode::OK, view.title(), &view))
}

/// Cancels the shopper's order and goes back to the checkout page it was cancelled from.
pub(super) async fn cancel_order(
    State(state): State<AppState>,
    ctx: PageContext,
    shopper: Option<SignedIn>,
    Path(id): Path<String>,
    AppForm(form): AppForm<CancelForm>,
) -> Result<Response, WebError> {
    let back = return_path(&form.return_to);
    let next = back.clone().unwrap_or_else(|| "/".to_owned());
    let Some(shopper) = shopper else {
        return Err(WebError::LoginRequired { next });
    };
    let order_id = parse_id(&id)?;
    let (status, title, message) = match state.product_order.cancel_order(&shopper.access_token, order_id).await {
        Ok(changed) => {
            tracing::info!(order_id = %changed.order_id, status = %changed.status, "order cancelled through the web");
            if let Some(back) = &back {
                return Ok(see_other(&ctx, &format!("{back}?done=cancelled")));
            }
            (StatusCode::OK, "Order cancelled", "Your order is cancelled.".to_owned())
        }
        Err(ProductOrderCallError::Refused(refusal)) => {
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::CONFLICT);
            (status, "Your order was not cancelled", refusal.message)
        }
        Err(e) => return Err(call_error(e, &next)),
    };
    let view = OrderNoticeView {
        title,
        message: &message,
        back: &next,
        back_label: if back.is_some() {
            "Back to your order"
        } else {
            "Back to the home page"
        },
    };
    Ok(page(&ctx, status, title, &view))
}

fn checkout_path(id: Uuid) -> String {
    format!("/checkouts/{id}")
}

/// The checkout page named by `return_to`; anything else is not a place to go back to.
fn return_path(return_to: &str) -> Option<String> {
    let id = return_to.trim().strip_prefix("/checkouts/")?;
    Uuid::try_parse(id).ok().map(checkout_path)
}

#[cfg(test)]
mod tests {
    use super::return_path;

    #[test]
    fn only_checkout_pages_are_returned_to() {
        let id = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        assert_eq!(
            return_path(&format!("/checkouts/{id}")),
            Some(format!("/checkouts/{id}"))
        );
        for return_to in [
            "",
            "/",
            "/cart",
            "//evil.example/checkouts/x",
            "https://evil.example/checkouts/67e55044-10b1-426f-9247-bb680e5fe0c8",
            "/checkouts/",
            "/checkouts/../logout",
            "/checkouts/67e55044-10b1-426f-9247-bb680e5fe0c8?next=//evil.example",
            "/checkouts/67e55044-10b1-426f-9247-bb680e5fe0c8/../../x",
        ] {
            assert_eq!(return_path(return_to), None, "{return_to:?}");
        }
    }
}
