//! Customer's side of reconciliation: its copies of the orders web asks about (status and
//! version of each), for web to compare with product-order's digest. Asked by id, not by
//! time: a copy that lags keeps the time of its last applied change, so asking for what
//! changed lately would leave out exactly the copies that are behind.

use axum::Json;
use axum::extract::State;
use contracts::reconciliation::{DigestItem, OrderDigest};
use platform::FieldErrors;
use platform::auth::Operator;
use platform::http::AppQuery;
use serde::Deserialize;
use sqlx::Row;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{CustomerError, Result};

/// Orders asked about at most at once.
const MAX_IDS: usize = 500;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(order_digest))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DigestQuery {
    /// Order ids, comma-separated, lower-case and hyphenated; at most 500.
    #[param(
        pattern = "^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(,[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})*)?$",
        max_length = 18499
    )]
    ids: String,
}

/// The ids of `text`, each exactly as `Uuid` writes one (what the description says).
fn parse_ids(text: &str) -> Result<Vec<Uuid>> {
    let ids: Option<Vec<Uuid>> = text
        .split(',')
        .filter(|_| !text.is_empty())
        .map(|id| Uuid::try_parse(id).ok().filter(|parsed| parsed.to_string() == id))
        .collect();
    match ids {
        Some(ids) if ids.len() <= MAX_IDS => Ok(ids),
        _ => {
            let mut errors = FieldErrors::new();
            errors.add("ids", format!("Up to {MAX_IDS} order ids, separated by commas."));
            Err(CustomerError::Validation(errors))
        }
    }
}

/// Customer's copies of the orders asked about; an order it has no copy of is left out.
#[utoipa::path(get, path = "/api/ops/orders/digest", tag = "operators", params(DigestQuery), security(("bearer" = [])),
    responses((status = 200, description = "The status and version of each copy.", body = OrderDigest)))]
async fn order_digest(
    State(state): State<AppState>,
    _: Operator,
    AppQuery(query): AppQuery<DigestQuery>,
) -> Result<Json<OrderDigest>> {
    let ids = parse_ids(&query.ids)?;
    let rows = sqlx::query("SELECT id, status, version, updated_at FROM orders WHERE id = ANY($1) ORDER BY id")
        .bind(&ids)
        .fetch_all(&state.db)
        .await?;
    let items = rows
        .iter()
        .map(|row| {
            let status: String = row.get("status");
            Ok(DigestItem {
                order_id: row.get("id"),
                status: status.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
                version: row.get("version"),
                updated_at: row.get("updated_at"),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Json(OrderDigest { items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_separated_by_commas_exactly_as_described() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(parse_ids(&format!("{a},{b}")).unwrap(), [a, b]);
        assert!(parse_ids("").unwrap().is_empty());
        assert!(parse_ids("not-an-id").is_err());
        for loose in [
            format!("{a}, {b}"),
            format!("{a},"),
            a.to_string().to_uppercase(),
            a.simple().to_string(),
        ] {
            assert!(parse_ids(&loose).is_err(), "{loose}");
        }
        let many = vec![a.to_string(); MAX_IDS + 1].join(",");
        assert!(parse_ids(&many).is_err());
    }
}
