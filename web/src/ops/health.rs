//! The operators' health page: what to look at first, from both services' own figures.
//! Either service may not answer; the page says which and still shows the other's figures,
//! and its figures part refreshes itself (htmx) every few seconds. Below them, reconciliation
//! (`super::reconciliation`): where the services' data disagree, why, and the repairs.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use serde::Deserialize;

use super::OperatorSession;
use super::reconciliation::{Notice, ReconciliationPart, reconciliation};
use crate::app::AppState;
use crate::clients::customer::{CustomerCallError, CustomerHealth};
use crate::clients::product_order::{ProductOrderCallError, ProductOrderHealth};
use crate::error::{WebError, call_error};
use crate::render::{PageContext, fragment, page};

/// Recent figures are over this many minutes.
const WINDOW_MINUTES: i32 = 15;
/// A running saga that has not moved for this many minutes counts as idle.
const STUCK_MINUTES: i32 = 5;
/// The id of the figures part, which htmx polls.
pub const FIGURES_PART: &str = "health-figures";

pub fn router() -> Router<AppState> {
    Router::new().route("/ops/health", get(health_page))
}

#[derive(Deserialize)]
struct DoneParams {
    /// The repair just made.
    #[serde(default)]
    done: String,
}

async fn health_page(
    State(state): State<AppState>,
    ctx: PageContext,
    operator: OperatorSession,
    Query(params): Query<DoneParams>,
) -> Result<Response, WebError> {
    if ctx.targets(FIGURES_PART) {
        return Ok(fragment(StatusCode::OK, &figures(&state, &operator).await?));
    }
    health_page_with(&state, &ctx, &operator, Notice::done(&params.done), StatusCode::OK).await
}

/// The whole page, with the outcome of a repair when there was one.
pub(super) async fn health_page_with(
    state: &AppState,
    ctx: &PageContext,
    operator: &OperatorSession,
    notice: Option<Notice>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let (figures, reconciliation) = tokio::join!(figures(state, operator), reconciliation(state, ctx, operator));
    let view = OpsHealthView {
        window_minutes: WINDOW_MINUTES,
        figures: figures?,
        reconciliation: ReconciliationPart {
            notice,
            ..reconciliation?
        },
    };
    Ok(page(ctx, status, "Health · Operator", &view))
}

/// Both services' figures, or for each why it has none.
async fn figures(state: &AppState, operator: &OperatorSession) -> Result<HealthFigures, WebError> {
    let token = &operator.access_token;
    let (product_order, customer) = tokio::join!(
        state.product_order.ops_health(token, WINDOW_MINUTES, STUCK_MINUTES),
        state.customer.ops_health(token, WINDOW_MINUTES),
    );
    Ok(HealthFigures {
        product_order: match product_order {
            Ok(health) => Ok(health),
            Err(e @ ProductOrderCallError::Forbidden) => return Err(call_error(e, "/ops/health")),
            Err(e) => {
                tracing::warn!(error = %e, "no health figures from product-order");
                Err("Product-order (checkouts, sagas, outbox) did not answer.")
            }
        },
        customer: match customer {
            Ok(health) => Ok(health),
            Err(e @ (CustomerCallError::Forbidden | CustomerCallError::SessionEnded)) => {
                return Err(call_error(e, "/ops/health"));
            }
            Err(e) => {
                tracing::warn!(error = %e, "no health figures from customer");
                Err("Customer (dead letters, event lag) did not answer.")
            }
        },
        stuck_minutes: STUCK_MINUTES,
    })
}

/// /ops/health.
#[derive(Template)]
#[template(path = "ops/health.html")]
pub struct OpsHealthView<'a> {
    pub window_minutes: i32,
    pub figures: HealthFigures,
    pub reconciliation: ReconciliationPart<'a>,
}

/// The figures part: each service's figures, or why they are missing.
#[derive(Template)]
#[template(path = "ops/health_figures.html")]
pub struct HealthFigures {
    pub product_order: Result<ProductOrderHealth, &'static str>,
    pub customer: Result<CustomerHealth, &'static str>,
    pub stuck_minutes: i32,
}

/// A rate or an age with one decimal.
pub fn one_decimal(value: &f64) -> String {
    format!("{value:.1}")
}

/// A share (0 to 1) as a percentage; a dash when there is none.
pub fn percent(share: &Option<f64>) -> String {
    share.map_or_else(|| "–".to_owned(), |s| format!("{:.0}%", s * 100.0))
}

/// Milliseconds, or a dash when there is no figure.
pub fn millis(value: &Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |ms| format!("{ms:.1} ms"))
}

/// Seconds, or a dash when there is no figure.
pub fn seconds(value: &Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |s| format!("{s:.1} s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_that_does_not_answer_is_named_and_the_other_still_shows() {
        let customer: CustomerHealth = serde_json::from_value(serde_json::json!({
            "window_minutes": 15,
            "dead_letters": {"open": 3, "oldest_at": "2026-01-01T00:00:00Z"},
            "events": {"applied": 30, "per_minute": 2.0, "lag_p50_ms": 4.25, "lag_p99_ms": 12.0,
                       "lag_max_ms": 13.0, "lag_latest_ms": 5.0, "last_applied_at": "2026-01-01T00:10:00Z"}
        }))
        .unwrap();
        let figures = HealthFigures {
            product_order: Err("Product-order (checkouts, sagas, outbox) did not answer."),
            customer: Ok(customer),
            stuck_minutes: 5,
        };
        let html = figures.render().unwrap();
        assert!(
            html.contains("Product-order (checkouts, sagas, outbox) did not answer."),
            "{html}"
        );
        assert!(html.contains(r#"id="dead-letters-open">3<"#), "{html}");
        assert!(html.contains("4.2 ms") || html.contains("4.3 ms"), "{html}");
        assert_eq!(percent(&Some(0.25)), "25%");
        assert_eq!(percent(&None), "–");
    }
}
