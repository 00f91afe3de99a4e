//! The self-check: each invariant read from the tables (sagas through the engine's API), the
//! mismatches decided in pure functions below.

use std::collections::HashMap;

use contracts::OrderStatus;
use contracts::reconciliation::{Mismatch, MismatchKind, Repair};
use saga::{InstanceState, ListFilter, Search};
use uuid::Uuid;

use super::store::{self, Drift, Holding, Waiting};
use crate::app::AppState;
use crate::checkout::steps::CHECKOUT;
use crate::error::Result;

/// How many of the newest completed and of the newest failed checkouts the saga-and-order
/// check reads per run (reading every saga ever ended every 30 s would grow without end).
const RECENT_ENDED: usize = 1000;
/// The relay publishes an event within seconds (an `order.placed` the saga did not publish
/// within 30 s): one waiting longer than this is stuck.
const UNPUBLISHED_FOR_SECONDS: f64 = 60.0;
/// Stuck events listed at most.
const UNPUBLISHED_LISTED: i64 = 100;
/// The engine lists at most this many instances at once.
const LIST_LIMIT: usize = 1000;

/// Every mismatch product-order finds on its own, now.
pub async fn run(state: &AppState) -> Result<Vec<Mismatch>> {
    let (reservations, sagas, stock, events) = tokio::try_join!(
        reservations_without_live_saga(state),
        sagas_and_orders(state),
        stock_drift(state),
        events_not_published(state),
    )?;
    Ok([reservations, sagas, stock, events].concat())
}

/// A saga that can still settle its reservations itself (stuck ones wait for an operator to
/// finish their compensation).
pub fn is_live(state: InstanceState) -> bool {
    !matches!(state, InstanceState::Completed | InstanceState::Failed)
}

/// The checkout sagas' states, of those among `ids` that exist.
pub async fn saga_states(engine: &saga::Engine, ids: &[Uuid]) -> Result<HashMap<Uuid, InstanceState>> {
    let mut states = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(LIST_LIMIT) {
        let filter = ListFilter {
            saga: Some(CHECKOUT.to_owned()),
            search: Some(Search {
                ids: chunk.to_vec(),
                key: None,
            }),
            limit: chunk.len(),
            ..ListFilter::default()
        };
        states.extend(engine.list(&filter).await?.into_iter().map(|s| (s.id, s.state)));
    }
    Ok(states)
}

async fn reservations_without_live_saga(state: &AppState) -> Result<Vec<Mismatch>> {
    let holding = store::holding_checkouts(&state.db).await?;
    if holding.is_empty() {
        return Ok(Vec::new());
    }
    let sagas = saga_states(&state.saga, &holding).await?;
    let unowned: Vec<Uuid> = holding
        .into_iter()
        .filter(|id| !sagas.get(id).copied().is_some_and(is_live))
        .collect();
    // Read again after the sagas: a reservation still held now was held after its saga ended
    // (a saga settles its reservations before it ends), not caught between two steps.
    let holdings = store::holdings(&state.db, &unowned).await?;
    Ok(holdings
        .iter()
        .map(|h| unowned_holding(h, sagas.get(&h.checkout_id).copied()))
        .collect())
}

fn unowned_holding(holding: &Holding, saga: Option<InstanceState>) -> Mismatch {
    let saga = saga.map_or_else(|| "does not exist".to_owned(), |s| format!("has {}", s.as_str()));
    let held = format!(
        "{} units of {} products are held for checkout {}, whose saga {saga}",
        holding.units, holding.products, holding.checkout_id
    );
    let (cause, repair) = match holding.standing_order {
        None => (format!("{held}."), Some(Repair::Release)),
        // Releasing would put stock its order ships back on sale.
        Some((order, status)) => (
            format!("{held}; its order {order} is {status} and ships that stock, so it is not released here."),
            None,
        ),
    };
    Mismatch {
        kind: MismatchKind::ReservationWithoutLiveSaga,
        order_id: holding.standing_order.map(|(order, _)| order),
        checkout_id: Some(holding.checkout_id),
        product_id: None,
        cause,
        repair,
    }
}

async fn sagas_and_orders(state: &AppState) -> Result<Vec<Mismatch>> {
    let newest = |ended| ListFilter {
        saga: Some(CHECKOUT.to_owned()),
        state: Some(ended),
        limit: RECENT_ENDED,
        ..ListFilter::default()
    };
    let (completed, failed) = (newest(InstanceState::Completed), newest(InstanceState::Failed));
    let (completed, failed) = tokio::try_join!(state.saga.list(&completed), state.saga.list(&failed))?;
    let completed: Vec<Uuid> = completed.iter().map(|s| s.id).collect();
    let failed: Vec<Uuid> = failed.iter().map(|s| s.id).collect();
    let orders =
        crate::orders::store::orders_of(&state.db, &[completed.as_slice(), failed.as_slice()].concat()).await?;
    let orders: HashMap<Uuid, (Uuid, OrderStatus)> = orders
        .into_iter()
        .map(|(checkout, order, status)| (checkout, (order, status)))
        .collect();
    Ok(disagreements(&completed, &failed, &orders))
}

/// Completed checkouts without an order, failed ones whose order stands.
fn disagreements(completed: &[Uuid], failed: &[Uuid], orders: &HashMap<Uuid, (Uuid, OrderStatus)>) -> Vec<Mismatch> {
    let mismatch = |checkout_id: Uuid, order_id: Option<Uuid>, cause: String| Mismatch {
        kind: MismatchKind::SagaAndOrderDisagree,
        order_id,
        checkout_id: Some(checkout_id),
        product_id: None,
        cause,
        repair: None,
    };
    let without_order = completed
        .iter()
        .filter(|id| !orders.contains_key(id))
        .map(|&id| mismatch(id, None, format!("Checkout {id} completed but placed no order.")));
    let standing = failed.iter().filter_map(|&id| match orders.get(&id) {
        Some(&(order, status)) if status != OrderStatus::Cancelled => Some(mismatch(
            id,
            Some(order),
            format!("Checkout {id} failed but its order {order} is {status}, not cancelled."),
        )),
        _ => None,
    });
    without_order.chain(standing).collect()
}

async fn stock_drift(state: &AppState) -> Result<Vec<Mismatch>> {
    Ok(store::stock_drift(&state.db).await?.into_iter().map(drift).collect())
}

async fn events_not_published(state: &AppState) -> Result<Vec<Mismatch>> {
    let waiting = store::unpublished_for(&state.db, UNPUBLISHED_FOR_SECONDS, UNPUBLISHED_LISTED).await?;
    Ok(waiting.into_iter().map(unpublished).collect())
}

fn drift(product: Drift) -> Mismatch {
    Mismatch {
        kind: MismatchKind::StockDrift,
        order_id: None,
        checkout_id: None,
        product_id: Some(product.product_id),
        cause: format!(
            "{} has {} in stock, but its initial stock and operator changes ({}) less its held and committed \
             reservations ({}) make {}.",
            product.name,
            product.stock,
            product.changed,
            product.reserved,
            product.changed - product.reserved
        ),
        repair: None,
    }
}

fn unpublished(event: Waiting) -> Mismatch {
    let error = event
        .last_error
        .map_or_else(String::new, |e| format!("; last error: {e}"));
    Mismatch {
        kind: MismatchKind::EventNotPublished,
        order_id: Some(event.aggregate_id),
        checkout_id: None,
        product_id: None,
        cause: format!(
            "{} {} was written {:.0} s ago and is not published yet ({} attempts{error}).",
            event.routing_key, event.id, event.age_seconds, event.attempts
        ),
        repair: Some(Repair::Republish),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completed_checkout_needs_an_order_and_a_failed_one_a_cancelled_one_or_none() {
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        let (placed, missing, cancelled, standing, none) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
        let orders = HashMap::from([
            (placed, (Uuid::now_v7(), OrderStatus::Shipped)),
            (cancelled, (Uuid::now_v7(), OrderStatus::Cancelled)),
            (standing, (Uuid::now_v7(), OrderStatus::Confirmed)),
        ]);
        let found: Vec<Option<Uuid>> = disagreements(&[placed, missing], &[cancelled, standing, none], &orders)
            .into_iter()
            .map(|m| m.checkout_id)
            .collect();
        assert_eq!(found, [Some(missing), Some(standing)]);
    }

    #[test]
    fn held_stock_is_released_unless_its_order_stands() {
        let mut holding = Holding {
            checkout_id: Uuid::now_v7(),
            units: 3,
            products: 2,
            standing_order: None,
        };
        let gone = unowned_holding(&holding, None);
        assert_eq!(gone.repair, Some(Repair::Release));
        assert!(gone.cause.ends_with("whose saga does not exist."), "{}", gone.cause);
        holding.standing_order = Some((Uuid::now_v7(), OrderStatus::Placed));
        let placed = unowned_holding(&holding, Some(InstanceState::Completed));
        assert_eq!(placed.repair, None);
        assert!(
            placed.cause.contains("whose saga has completed; its order"),
            "{}",
            placed.cause
        );
        assert!(!is_live(InstanceState::Failed) && is_live(InstanceState::Stuck));
    }
}
