//! The checkout saga: validate details -> reserve stock -> place order -> publish
//! `order.placed`. Each step runs in the engine's transaction, so its effects and the record of
//! its success commit together. The first three touch nothing but product-order's database,
//! so the engine runs them in one transaction when nothing fails.

use std::time::Duration;

use saga::{
    CheckFuture, Definition, GuardContext, GuardFuture, InstanceState, OperatorGuard, OperatorMove, RetryPolicy, Step,
    StepAction, StepContext, StepError, StepFuture,
};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use contracts::OrderStatus;
use contracts::events::OrderLine;
use platform::broker::Publisher;

use super::details;
use crate::orders::store::{self as orders, NewOrder, StatusChange};
use crate::outbox;
use crate::reservations::{self, ReservationState};

/// The saga's name in the engine.
pub const CHECKOUT: &str = "checkout";

pub const VALIDATE_DETAILS: &str = "validate_details";
pub const RESERVE_STOCK: &str = "reserve_stock";
pub const PLACE_ORDER: &str = "place_order";
pub const PUBLISH_ORDER_PLACED: &str = "publish_order_placed";

/// What a checkout carries from the moment it was asked for: who, the details as typed, and
/// the cart as it was.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckoutInput {
    pub customer_id: Uuid,
    pub details: api::checkout::DetailsForm,
    pub lines: Vec<OrderLine>,
    pub total: i64,
    pub currency: String,
}

impl CheckoutInput {
    fn of(context: &StepContext) -> Result<Self, StepError> {
        serde_json::from_value(context.input.clone())
            .map_err(|e| StepError::permanent(format!("the checkout's recorded input cannot be read: {e}")))
    }
}

/// Database steps: a few quick retries for transient trouble (a deadlock, a failover).
const DATABASE_STEP: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    initial_backoff: Duration::from_millis(500),
    max_backoff: Duration::from_secs(10),
    timeout: Duration::from_secs(10),
};

/// Publishing waits out a broker outage of any length: the order stands, only its
/// announcement is late.
const BROKER_STEP: RetryPolicy = RetryPolicy {
    max_attempts: u32::MAX,
    initial_backoff: Duration::from_secs(1),
    max_backoff: Duration::from_secs(30),
    timeout: Duration::from_secs(10),
};

pub fn definition(publisher: Publisher, db: PgPool) -> Definition {
    Definition::new(CHECKOUT)
        .searchable_by(shopper_email)
        .guard_operators_with(OrderStands)
        .step(
            Step::new(VALIDATE_DETAILS, ValidateDetails)
                .retry(DATABASE_STEP)
                .transactional(),
        )
        .step(
            Step::new(RESERVE_STOCK, ReserveStock)
                .compensate_with(ReleaseStock)
                .retry(DATABASE_STEP)
                .transactional(),
        )
        .step(
            Step::new(PLACE_ORDER, PlaceOrder)
                .compensate_with(CancelOrder)
                .retry(DATABASE_STEP)
                .transactional(),
        )
        .step(Step::new(PUBLISH_ORDER_PLACED, PublishOrderPlaced { publisher, db }).retry(BROKER_STEP))
}

/// Operators find a checkout by the email address given for it.
fn shopper_email(input: &serde_json::Value) -> Vec<String> {
    input
        .pointer("/details/contact/email")
        .and_then(serde_json::Value::as_str)
        .map(|email| vec![email.to_owned()])
        .unwrap_or_default()
}

/// Refuses the operator moves the checkout's order rules out: cancelling a checkout whose
/// order has shipped (its compensation could not cancel the order and would leave the saga
/// stuck), and running again a failed checkout whose order was cancelled (a cancelled order
/// stays cancelled, so the run could place nothing; the shopper checks out again instead).
struct OrderStands;

impl OperatorGuard for OrderStands {
    fn refusal<'a>(
        &'a self,
        operator_move: OperatorMove,
        context: GuardContext<'a>,
        tx: &'a mut PgConnection,
    ) -> GuardFuture<'a> {
        Box::pin(async move {
            let Some(order) = orders::placed_for(&mut *tx, context.instance_id).await? else {
                return Ok(None);
            };
            Ok(match (operator_move, order.status) {
                (OperatorMove::Cancel, status @ (OrderStatus::Shipped | OrderStatus::Delivered)) => Some(format!(
                    "Its order is {status}: it can no longer be cancelled, so the checkout cannot be undone."
                )),
                (OperatorMove::Retry, OrderStatus::Cancelled) if context.position.state == InstanceState::Failed => {
                    Some(
                        "Its order was cancelled, and a cancelled order stays cancelled: running the checkout \
                         again would place nothing. The shopper can check out again."
                            .into(),
                    )
                }
                _ => None,
            })
        })
    }
}

/// Checks the details again on the server, including that we ship to the country.
struct ValidateDetails;

impl StepAction for ValidateDetails {
    fn run<'a>(&'a self, context: &'a StepContext, _tx: &'a mut PgConnection) -> StepFuture<'a> {
        Box::pin(async move {
            let input = CheckoutInput::of(context)?;
            if input.lines.is_empty() {
                return Err(StepError::rejected("The cart was empty."));
            }
            details::validate(&input.details).map(|_| ()).map_err(|errors| {
                let problems: Vec<String> = errors
                    .0
                    .iter()
                    .map(|(field, message)| format!("{field}: {message}"))
                    .collect();
                StepError::rejected(format!("Some details need correcting: {}", problems.join(" ")))
            })
        })
    }
}

/// Takes every line's quantity from stock, all or none; never below zero.
struct ReserveStock;

impl StepAction for ReserveStock {
    fn run<'a>(&'a self, context: &'a StepContext, tx: &'a mut PgConnection) -> StepFuture<'a> {
        Box::pin(async move {
            let input = CheckoutInput::of(context)?;
            // On a shortage the engine rolls back this transaction: nothing stays reserved.
            reservations::reserve(tx, context.instance_id, &input.lines)
                .await?
                .map_err(|shortages| StepError::rejected(shortages.join(" ")))
        })
    }

    /// Reserved when the checkout holds (or has committed) stock.
    fn took_effect<'a>(&'a self, context: &'a StepContext, tx: &'a mut PgConnection) -> CheckFuture<'a> {
        Box::pin(async move { Ok(Some(reservations::holds(tx, context.instance_id).await?)) })
    }
}

/// Gives back what the checkout still holds.
struct ReleaseStock;

impl StepAction for ReleaseStock {
    fn run<'a>(&'a self, context: &'a StepContext, tx: &'a mut PgConnection) -> StepFuture<'a> {
        Box::pin(async move {
            reservations::release(tx, context.instance_id, &[ReservationState::Held]).await?;
            Ok(())
        })
    }

    /// Released when nothing is held any more.
    fn took_effect<'a>(&'a self, context: &'a StepContext, tx: &'a mut PgConnection) -> CheckFuture<'a> {
        Box::pin(async move { Ok(Some(!reservations::holding(tx, context.instance_id).await?)) })
    }
}

/// The order and its lines at the snapshot's prices, the cart cleared, `order.placed` in the
/// outbox: one transaction.
struct PlaceOrder;

impl StepAction for PlaceOrder {
    fn run<'a>(&'a self, context: &'a StepContext, tx: &'a mut PgConnection) -> StepFuture<'a> {
        Box::pin(async move {
            let input = CheckoutInput::of(context)?;
            let (contact, delivery) = details::validate(&input.details)
                .map_err(|_| StepError::rejected("The details no longer pass validation."))?;
            let placed = orders::place(
                tx,
                NewOrder {
                    checkout_id: context.instance_id,
                    customer_id: input.customer_id,
                    lines: &input.lines,
                    currency: &input.currency,
                    contact: &contact,
                    delivery: &delivery,
                },
            )
            .await?;
            // An order placed by an earlier run of this checkout and cancelled since (an
            // operator cancelled the checkout, then ran it again) is not this run's order: a
            // cancelled order stays cancelled, so nothing is placed and what this run
            // reserved goes back.
            if placed.status == OrderStatus::Cancelled {
                return Err(StepError::rejected(
                    "This checkout's order was cancelled; it cannot be placed again.",
                ));
            }
            Ok(())
        })
    }

    /// Placed when the checkout has its order.
    fn took_effect<'a>(&'a self, context: &'a StepContext, tx: &'a mut PgConnection) -> CheckFuture<'a> {
        Box::pin(async move { Ok(Some(orders::placed_for(&mut *tx, context.instance_id).await?.is_some())) })
    }
}

/// Cancels the placed order (its stock goes back, `order.status_changed` says so).
struct CancelOrder;

impl StepAction for CancelOrder {
    fn run<'a>(&'a self, context: &'a StepContext, tx: &'a mut PgConnection) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(placed) = orders::placed_for(&mut *tx, context.instance_id).await? else {
                return Ok(());
            };
            let change = StatusChange {
                order_id: placed.order_id,
                customer: None,
                to: OrderStatus::Cancelled,
                by: None,
                reason: Some("the checkout was cancelled"),
            };
            match orders::change_status(tx, change).await {
                Ok(_) => Ok(()),
                // Already cancelled: nothing left to undo.
                Err(orders::StatusChangeError::NotAllowed {
                    from: OrderStatus::Cancelled,
                    ..
                }) => Ok(()),
                Err(orders::StatusChangeError::Database(e)) => Err(e.into()),
                Err(e) => Err(StepError::permanent(format!("cannot cancel the order: {e}"))),
            }
        })
    }
}

/// Sends `order.placed` and waits for the broker's confirm.
struct PublishOrderPlaced {
    publisher: Publisher,
    /// Records a failed send once the step's transaction has rolled back.
    db: PgPool,
}

impl StepAction for PublishOrderPlaced {
    fn run<'a>(&'a self, context: &'a StepContext, tx: &'a mut PgConnection) -> StepFuture<'a> {
        Box::pin(async move {
            let event = orders::placed_event_for(tx, context.instance_id)
                .await?
                .ok_or_else(|| StepError::permanent("no order was placed for this checkout"))?;
            outbox::publish_stored(tx, &self.db, &self.publisher, event)
                .await
                .map_err(|e| StepError::retryable(e.to_string()))
        })
    }

    /// Published when the outbox row is marked. A send the broker confirmed but whose mark
    /// was not committed reads as not published: the event goes out again with the same id.
    fn took_effect<'a>(&'a self, context: &'a StepContext, tx: &'a mut PgConnection) -> CheckFuture<'a> {
        Box::pin(async move {
            let placed = orders::placed_for(&mut *tx, context.instance_id).await?;
            Ok(Some(placed.is_some_and(|p| p.published)))
        })
    }
}
