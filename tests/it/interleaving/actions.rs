//! What an episode is made of: a few products and shoppers, and lanes of actions (one per
//! shopper, one for the operator, one for faults) drawn from the seed; how each action reads
//! in a printed history.

use std::fmt;
use std::ops::Range;

use contracts::OrderStatus;
use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};
use saga::Phase;

/// Every kind of action, as drawn and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    PutInCart,
    RemoveFromCart,
    CheckOut,
    QueuedCheckOut,
    DoubleSubmit,
    TwoTabs,
    AbandonCheckOut,
    CancelOrder,
    SetStock,
    AdjustStock,
    SetPrice,
    SetCurrency,
    SetActive,
    RetrySaga,
    CancelSaga,
    RetryPublish,
    BulkRetry,
    MoveOrder,
    CutBroker,
    RestoreBroker,
    KillReplica,
    FailStartStep,
    FailStep,
    ClearStep,
}

/// The kinds each lane draws from, with their weights.
const SHOPPER_KINDS: [(Kind, u32); 8] = [
    (Kind::PutInCart, 6),
    (Kind::RemoveFromCart, 1),
    (Kind::CheckOut, 2),
    (Kind::QueuedCheckOut, 2),
    (Kind::DoubleSubmit, 1),
    (Kind::TwoTabs, 1),
    (Kind::AbandonCheckOut, 2),
    (Kind::CancelOrder, 2),
];
const OPERATOR_KINDS: [(Kind, u32); 10] = [
    (Kind::SetStock, 1),
    (Kind::AdjustStock, 2),
    (Kind::SetPrice, 1),
    (Kind::SetCurrency, 1),
    (Kind::SetActive, 1),
    (Kind::RetrySaga, 2),
    (Kind::CancelSaga, 2),
    (Kind::RetryPublish, 1),
    (Kind::BulkRetry, 1),
    (Kind::MoveOrder, 3),
];
const FAULT_KINDS: [(Kind, u32); 6] = [
    (Kind::CutBroker, 2),
    (Kind::RestoreBroker, 2),
    (Kind::KillReplica, 1),
    (Kind::FailStartStep, 1),
    (Kind::FailStep, 1),
    (Kind::ClearStep, 1),
];

/// The currencies a product can be priced in. Every price in these tests ends in its
/// currency's digit (its index here), so the auditor can tell each order line's currency from
/// its price alone.
pub const CURRENCIES: [&str; 4] = ["EUR", "USD", "GBP", "CHF"];

/// A price of `tens` × 10 minor units plus the digit of `currency`.
pub fn price_in(tens: i64, currency: &str) -> i64 {
    let digit = CURRENCIES
        .iter()
        .position(|c| *c == currency)
        .expect("a known currency");
    tens * 10 + digit as i64
}

/// The currency a price of these tests is in.
pub fn currency_of(price: i64) -> Option<&'static str> {
    CURRENCIES.get(price.rem_euclid(10) as usize).copied()
}

/// The steps a fault can make fail: the forward steps a checkout runs in its starting
/// transaction, and the others (the publish and both compensations).
const START_STEPS: [(&str, Phase); 3] = [
    ("validate_details", Phase::Forward),
    ("reserve_stock", Phase::Forward),
    ("place_order", Phase::Forward),
];
const LATER_STEPS: [(&str, Phase); 3] = [
    ("publish_order_placed", Phase::Forward),
    ("reserve_stock", Phase::Compensation),
    ("place_order", Phase::Compensation),
];

/// Where a shopper's checkout goes: the API instance (no saga workers: the checkout waits in
/// the queue for a replica) or the killable replica (which drives it from the request on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Api,
    Replica,
}

/// One thing a shopper, the operator or the faults do. Products and shoppers are the
/// episode's, by index; `nth` picks among the episode's accepted checkouts as they stand when
/// the action runs.
#[derive(Debug, Clone)]
pub enum Action {
    PutInCart {
        shopper: usize,
        product: usize,
        quantity: i64,
    },
    RemoveFromCart {
        shopper: usize,
        product: usize,
    },
    CheckOut {
        shopper: usize,
        key: u32,
        via: Via,
    },
    DoubleSubmit {
        shopper: usize,
        key: u32,
        via: Via,
    },
    TwoTabs {
        shopper: usize,
        keys: [u32; 2],
        via: Via,
    },
    AbandonCheckOut {
        shopper: usize,
        key: u32,
        via: Via,
        after_ms: u64,
    },
    CancelOrder {
        shopper: usize,
        nth: usize,
    },
    SetStock {
        product: usize,
        stock: i64,
    },
    AdjustStock {
        product: usize,
        delta: i64,
    },
    SetPrice {
        product: usize,
        tens: i64,
    },
    SetCurrency {
        product: usize,
        currency: &'static str,
    },
    SetActive {
        product: usize,
        active: bool,
    },
    RetrySaga {
        nth: usize,
    },
    CancelSaga {
        nth: usize,
    },
    RetryPublish {
        nth: usize,
    },
    BulkRetry {
        shopper: usize,
        state: &'static str,
        dry_run: bool,
    },
    MoveOrder {
        nth: usize,
        to: OrderStatus,
    },
    CutBroker,
    RestoreBroker,
    KillReplica,
    FailStep {
        step: &'static str,
        phase: Phase,
    },
    ClearStep {
        step: &'static str,
        phase: Phase,
    },
}

impl Action {
    pub fn kind(&self) -> Kind {
        match self {
            Self::PutInCart { .. } => Kind::PutInCart,
            Self::RemoveFromCart { .. } => Kind::RemoveFromCart,
            Self::CheckOut { via: Via::Replica, .. } => Kind::CheckOut,
            Self::CheckOut { via: Via::Api, .. } => Kind::QueuedCheckOut,
            Self::DoubleSubmit { .. } => Kind::DoubleSubmit,
            Self::TwoTabs { .. } => Kind::TwoTabs,
            Self::AbandonCheckOut { .. } => Kind::AbandonCheckOut,
            Self::CancelOrder { .. } => Kind::CancelOrder,
            Self::SetStock { .. } => Kind::SetStock,
            Self::AdjustStock { .. } => Kind::AdjustStock,
            Self::SetPrice { .. } => Kind::SetPrice,
            Self::SetCurrency { .. } => Kind::SetCurrency,
            Self::SetActive { .. } => Kind::SetActive,
            Self::RetrySaga { .. } => Kind::RetrySaga,
            Self::CancelSaga { .. } => Kind::CancelSaga,
            Self::RetryPublish { .. } => Kind::RetryPublish,
            Self::BulkRetry { .. } => Kind::BulkRetry,
            Self::MoveOrder { .. } => Kind::MoveOrder,
            Self::CutBroker => Kind::CutBroker,
            Self::RestoreBroker => Kind::RestoreBroker,
            Self::KillReplica => Kind::KillReplica,
            Self::FailStep { step, phase } if START_STEPS.contains(&(*step, *phase)) => Kind::FailStartStep,
            Self::FailStep { .. } => Kind::FailStep,
            Self::ClearStep { .. } => Kind::ClearStep,
        }
    }
}

/// Products are letters in a history, shoppers numbers from 1.
pub fn product_name(index: usize) -> char {
    char::from(b'A' + index as u8)
}

fn via(via: &Via) -> &'static str {
    match via {
        Via::Api => "through the API (queued)",
        Via::Replica => "through the replica",
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = |index: &usize| product_name(*index);
        match self {
            Self::PutInCart { product, quantity, .. } => write!(f, "puts {quantity} × {} in the cart", p(product)),
            Self::RemoveFromCart { product, .. } => write!(f, "removes {} from the cart", p(product)),
            Self::CheckOut { key, via: v, .. } => write!(f, "checks out with key k{key} {}", via(v)),
            Self::DoubleSubmit { key, via: v, .. } => write!(f, "checks out twice at once with key k{key} {}", via(v)),
            Self::TwoTabs { keys, via: v, .. } => write!(
                f,
                "checks out in two tabs at once (keys k{} and k{}) {}",
                keys[0],
                keys[1],
                via(v)
            ),
            Self::AbandonCheckOut {
                key, via: v, after_ms, ..
            } => {
                write!(
                    f,
                    "checks out with key k{key} {} and drops the connection after {after_ms} ms",
                    via(v)
                )
            }
            Self::CancelOrder { nth, .. } => write!(f, "cancels their order #{nth}"),
            Self::SetStock { product, stock } => write!(f, "sets the stock of {} to {stock}", p(product)),
            Self::AdjustStock { product, delta } => write!(f, "adjusts the stock of {} by {delta:+}", p(product)),
            Self::SetPrice { product, tens } => write!(
                f,
                "sets the price of {} to {tens}×10 (+ its currency's digit)",
                p(product)
            ),
            Self::SetCurrency { product, currency } => write!(f, "prices {} in {currency}", p(product)),
            Self::SetActive { product, active: true } => write!(f, "puts {} on sale", p(product)),
            Self::SetActive { product, active: false } => write!(f, "takes {} off sale", p(product)),
            Self::RetrySaga { nth } => write!(f, "retries the saga of checkout #{nth}"),
            Self::CancelSaga { nth } => write!(f, "cancels the saga of checkout #{nth}"),
            Self::RetryPublish { nth } => write!(f, "retries the publish of checkout #{nth}"),
            Self::BulkRetry {
                shopper,
                state,
                dry_run,
            } => write!(
                f,
                "bulk-retries the {state} sagas of shopper {}{}",
                shopper + 1,
                if *dry_run { " (dry run)" } else { "" }
            ),
            Self::MoveOrder { nth, to } => write!(f, "moves the order of checkout #{nth} on to {}", to.as_str()),
            Self::CutBroker => write!(f, "cuts product-order off the broker"),
            Self::RestoreBroker => write!(f, "lets product-order reach the broker again"),
            Self::KillReplica => write!(f, "kills the replica (a new one starts)"),
            Self::FailStep { step, phase } => write!(f, "makes {step} ({}) fail", phase.as_str()),
            Self::ClearStep { step, phase } => write!(f, "lets {step} ({}) run again", phase.as_str()),
        }
    }
}

/// Who acts in a lane.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    Shopper(usize),
    Operator,
    Faults,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shopper(index) => write!(f, "shopper {}", index + 1),
            Self::Operator => write!(f, "operator"),
            Self::Faults => write!(f, "faults"),
        }
    }
}

/// An action and the pause before it (the interleaving: lanes run at once).
#[derive(Debug, Clone)]
pub struct Step {
    pub pause_ms: u64,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub struct Lane {
    pub actor: Actor,
    pub steps: Vec<Step>,
}

/// One short, independent run: its own products (their initial stock) and shoppers.
#[derive(Debug, Clone)]
pub struct Episode {
    pub index: u64,
    pub stocks: Vec<i64>,
    pub shoppers: usize,
    pub lanes: Vec<Lane>,
}

impl Episode {
    /// Episode `index` of `seed`.
    pub fn generate(seed: u64, index: u64) -> Self {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        bytes[8..16].copy_from_slice(&index.to_le_bytes());
        let mut draw = Draw {
            rng: TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
            products: 0,
            shoppers: 0,
        };
        draw.products = draw.rng.random_range(2..4);
        draw.shoppers = draw.rng.random_range(1..4);
        let stocks = (0..draw.products).map(|_| draw.rng.random_range(2..10)).collect();
        let mut lanes: Vec<Lane> = (0..draw.shoppers)
            .map(|shopper| {
                let count = draw.rng.random_range(3..8);
                // A first cart line, so most checkouts have something to order.
                let mut actions = vec![draw.action(Kind::PutInCart, shopper)];
                actions.extend((1..count).map(|_| draw.pick(&SHOPPER_KINDS, shopper)));
                Lane {
                    actor: Actor::Shopper(shopper),
                    steps: actions.into_iter().map(|a| draw.step(a, 0..250)).collect(),
                }
            })
            .collect();
        let operator: Vec<Action> = (0..draw.rng.random_range(2..6))
            .map(|_| draw.pick(&OPERATOR_KINDS, 0))
            .collect();
        // The operator starts once checkouts are under way.
        let mut steps: Vec<Step> = operator.into_iter().map(|a| draw.step(a, 0..400)).collect();
        if let Some(first) = steps.first_mut() {
            first.pause_ms += 300;
        }
        lanes.push(Lane {
            actor: Actor::Operator,
            steps,
        });
        let faults: Vec<Action> = (0..draw.rng.random_range(0..4))
            .map(|_| draw.pick(&FAULT_KINDS, 0))
            .collect();
        let faults = faults.into_iter().map(|a| draw.step(a, 0..500)).collect();
        lanes.push(Lane {
            actor: Actor::Faults,
            steps: faults,
        });
        Self {
            index,
            stocks,
            shoppers: draw.shoppers,
            lanes,
        }
    }

    /// How many actions it has.
    pub fn len(&self) -> usize {
        self.lanes.iter().map(|l| l.steps.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The episode without its actions at positions `cut` (counted across lanes in order).
    pub fn without(&self, cut: Range<usize>) -> Self {
        let mut position = 0;
        let lanes = self
            .lanes
            .iter()
            .map(|lane| {
                let steps = lane
                    .steps
                    .iter()
                    .filter(|_| {
                        position += 1;
                        !cut.contains(&(position - 1))
                    })
                    .cloned()
                    .collect();
                Lane {
                    actor: lane.actor,
                    steps,
                }
            })
            .collect();
        Self { lanes, ..self.clone() }
    }
}

struct Draw {
    rng: TestRng,
    products: usize,
    shoppers: usize,
}

impl Draw {
    fn step(&mut self, action: Action, pause_ms: Range<u64>) -> Step {
        Step {
            pause_ms: self.rng.random_range(pause_ms),
            action,
        }
    }

    /// A kind by weight, as an action of `shopper` (for shoppers' kinds).
    fn pick(&mut self, kinds: &[(Kind, u32)], shopper: usize) -> Action {
        let total: u32 = kinds.iter().map(|(_, w)| w).sum();
        let mut ticket = self.rng.random_range(0..total);
        let (kind, _) = kinds
            .iter()
            .copied()
            .find(|(_, weight)| {
                let hit = ticket < *weight;
                ticket = ticket.saturating_sub(*weight);
                hit
            })
            .expect("a ticket below the total weight");
        self.action(kind, shopper)
    }

    fn action(&mut self, kind: Kind, shopper: usize) -> Action {
        let product = self.rng.random_range(0..self.products);
        // Keys repeat now and then: a shopper's retry of an earlier request.
        let key = self.rng.random_range(0..6);
        let via = if self.rng.random_bool(0.5) {
            Via::Api
        } else {
            Via::Replica
        };
        let nth = self.rng.random_range(0..3);
        match kind {
            Kind::PutInCart => Action::PutInCart {
                shopper,
                product,
                quantity: self.rng.random_range(1..4),
            },
            Kind::RemoveFromCart => Action::RemoveFromCart { shopper, product },
            Kind::CheckOut => Action::CheckOut {
                shopper,
                key,
                via: Via::Replica,
            },
            Kind::QueuedCheckOut => Action::CheckOut {
                shopper,
                key,
                via: Via::Api,
            },
            Kind::DoubleSubmit => Action::DoubleSubmit { shopper, key, via },
            Kind::TwoTabs => Action::TwoTabs {
                shopper,
                keys: [key, key + 6],
                via,
            },
            Kind::AbandonCheckOut => Action::AbandonCheckOut {
                shopper,
                key,
                via,
                after_ms: self.rng.random_range(0..40),
            },
            Kind::CancelOrder => Action::CancelOrder { shopper, nth },
            Kind::SetStock => Action::SetStock {
                product,
                stock: self.rng.random_range(0..12),
            },
            Kind::AdjustStock => Action::AdjustStock {
                product,
                delta: [-3, -2, -1, 1, 2, 5][self.rng.random_range(0..6)],
            },
            Kind::SetPrice => Action::SetPrice {
                product,
                tens: self.rng.random_range(50..400),
            },
            Kind::SetCurrency => Action::SetCurrency {
                product,
                currency: CURRENCIES[self.rng.random_range(0..CURRENCIES.len())],
            },
            Kind::SetActive => Action::SetActive {
                product,
                active: self.rng.random_bool(0.5),
            },
            Kind::RetrySaga => Action::RetrySaga { nth },
            Kind::CancelSaga => Action::CancelSaga { nth },
            Kind::RetryPublish => Action::RetryPublish { nth },
            Kind::BulkRetry => Action::BulkRetry {
                shopper: self.rng.random_range(0..self.shoppers),
                state: ["failed", "stuck", "running"][self.rng.random_range(0..3)],
                dry_run: self.rng.random_bool(0.5),
            },
            Kind::MoveOrder => Action::MoveOrder {
                nth,
                to: [
                    OrderStatus::Confirmed,
                    OrderStatus::Shipped,
                    OrderStatus::Delivered,
                    OrderStatus::Cancelled,
                ][self.rng.random_range(0..4)],
            },
            Kind::CutBroker => Action::CutBroker,
            Kind::RestoreBroker => Action::RestoreBroker,
            Kind::KillReplica => Action::KillReplica,
            Kind::FailStartStep => {
                let (step, phase) = START_STEPS[self.rng.random_range(0..START_STEPS.len())];
                Action::FailStep { step, phase }
            }
            Kind::FailStep => {
                let (step, phase) = LATER_STEPS[self.rng.random_range(0..LATER_STEPS.len())];
                Action::FailStep { step, phase }
            }
            Kind::ClearStep => {
                let steps = [START_STEPS, LATER_STEPS].concat();
                let (step, phase) = steps[self.rng.random_range(0..steps.len())];
                Action::ClearStep { step, phase }
            }
        }
    }
}
