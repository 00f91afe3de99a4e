//! Cancelling an order before it ships, from its order page or from the checkout page that
//! placed it; either way the shopper comes back to the page the form was on.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;

use super::views::OrderNoticeView;
use crate::app::AppState;
use crate::clients::product_order::ProductOrderCallError;
use crate::error::{AppForm, WebError, call_error, parse_id};
use crate::render::{PageContext, page, see_other};
use crate::session::SignedIn;

#[derive(Deserialize)]
pub(super) struct CancelForm {
    /// The page the form is on (the order's or the checkout's), to come back to.
    #[serde(default)]
    return_to: String,
}

/// Cancels the shopper's order and goes back to the page it was cancelled from, which says
/// so (`?done=cancelled`); a refusal (it has shipped) is told on a page of its own.
pub(super) async fn cancel_order(
    State(state): State<AppState>,
    ctx: PageContext,
    shopper: Option<SignedIn>,
    Path(id): Path<String>,
    AppForm(form): AppForm<CancelForm>,
) -> Result<Response, WebError> {
    let back = return_path(&form.return_to);
    let next = back.clone().unwrap_or_else(|| "/orders".to_owned());
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
            "See your orders"
        },
    };
    Ok(page(&ctx, status, title, &view))
}

/// The order or checkout page named by `return_to`; anything else is not a place to go
/// back to.
fn return_path(return_to: &str) -> Option<String> {
    let return_to = return_to.trim();
    ["/checkouts/", "/orders/"].into_iter().find_map(|prefix| {
        let id = return_to.strip_prefix(prefix)?;
        Uuid::try_parse(id).ok().map(|id| format!("{prefix}{id}"))
    })
}

#[cfg(test)]
mod tests {
    use super::return_path;

    #[test]
    fn only_order_and_checkout_pages_are_returned_to() {
        let id = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        for page in ["/checkouts/", "/orders/"] {
            assert_eq!(return_path(&format!("{page}{id}")), Some(format!("{page}{id}")));
        }
        for return_to in [
            "",
            "/",
            "/cart",
            "/orders",
            "//evil.example/checkouts/x",
            "https://evil.example/checkouts/67e55044-10b1-426f-9247-bb680e5fe0c8",
            "https://evil.example/orders/67e55044-10b1-426f-9247-bb680e5fe0c8",
            "/checkouts/",
            "/checkouts/../logout",
            "/checkouts/67e55044-10b1-426f-9247-bb680e5fe0c8?next=//evil.example",
            "/orders/67e55044-10b1-426f-9247-bb680e5fe0c8/../../x",
            "/ops/orders/67e55044-10b1-426f-9247-bb680e5fe0c8",
        ] {
            assert_eq!(return_path(return_to), None, "{return_to:?}");
        }
    }
}
