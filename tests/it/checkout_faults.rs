//! The checkout saga under faults: a worker killed at each step boundary and in the middle of
//! each step, and the broker unreachable for a while.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use saga::{FaultPoint, Phase};
use serde_json::Value;
use sqlx::PgPool;
use testkit::ProductOrderReplica;

use crate::helpers::{
    CustomerApi, EventTap, OperatedShop, ProductOrderApi, broker_behind_proxy, email, eventually, operated_shop_with,
    valid_details,
};

const STEPS: [&str; 4] = [
    "validate_details",
    "reserve_stock",
    "place_order",
    "publish_order_placed",
];

/// A shop whose own product-order serves the API only (replicas started with `settings` do
/// the saga work, a dead one noticed within 1.5 s), with an event tap, a tea with 100 in
/// stock, and a signed-up shopper's token.
struct ReplicaShop {
    ops: OperatedShop,
    tap: EventTap,
    tea: String,
    token: String,
    settings: product_order::Settings,
}

async fn replica_shop(shopper: &str) -> ReplicaShop {
    let ops = operated_shop_with(|s| s.saga_workers = false).await;
    let shop = &ops.shop;
    let tap = EventTap::open(shop).await;
    let operator = ProductOrderApi::as_user(&shop.product_order_url, &ops.operator_token);
    let tea = operator.create_product("TEA-1", "Sencha", 1290, 100).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = CustomerApi::new(&shop.customer_url).signed_up(&email(shopper)).await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let mut settings = shop.product_order_settings();
    settings.saga_heartbeat = Duration::from_millis(500);
    ReplicaShop {
        ops,
        tap,
        tea,
        token,
        settings,
    }
}

#[tokio::test]
async fn a_worker_killed_anywhere_in_a_step_leaves_one_reservation_one_order_and_one_event() {
    let ReplicaShop {
        ops,
        tap,
        tea,
        token,
        settings,
    } = replica_shop("crash").await;
    let shop = &ops.shop;
    let shopper = ProductOrderApi::as_user(&shop.product_order_url, &token);

    let mut faults = Vec::new();
    for step in STEPS {
        faults.push((step, FaultPoint::MidStep));
        faults.push((step, FaultPoint::AfterStep));
    }
    let mut orders = HashMap::new();
    let mut killed = Vec::new();
    for (round, (step, point)) in faults.iter().enumerate() {
        let doomed = ProductOrderReplica::product_order(settings.clone()).await;
        doomed.saga().faults().freeze_at(step, Phase::Forward, *point);
        assert_eq!(shopper.set_quantity(&tea, 2).await.status, StatusCode::OK);
        let accepted = shopper.checkout(&format!("round-{round}"), valid_details()).await;
        assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
        let checkout_id = accepted.body["checkout_id"].as_str().unwrap().to_owned();
        tokio::time::timeout(Duration::from_secs(30), doomed.saga().faults().frozen())
            .await
            .unwrap_or_else(|_| panic!("the worker never reached {step} {point:?}"));
        killed.push(doomed.saga().worker().to_owned());
        doomed.kill();

        let rescuer = ProductOrderReplica::product_order(settings.clone()).await;
        let done = shopper.finished_checkout(&checkout_id).await;
        assert_eq!(done["state"], "completed", "after a kill at {step} {point:?}: {done:?}");
        rescuer.stop().await;
        orders.insert(done["order_id"].as_str().unwrap().to_owned(), (*step, *point));
    }

    let db = PgPool::connect(&shop.product_order_database_url).await.unwrap();
    let placed: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(placed as usize, faults.len(), "one order per checkout");
    let stock: i32 = sqlx::query_scalar("SELECT stock FROM products")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(stock, 100 - 2 * faults.len() as i32, "each checkout reserved once");
    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, count(*) FROM stock_reservations GROUP BY state ORDER BY state")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(states, [("committed".to_owned(), faults.len() as i64)]);
    let abandoned: Vec<(String, String, String)> =
        sqlx::query_as("SELECT worker, step_name, error FROM saga.attempts WHERE outcome = 'abandoned' ORDER BY id")
            .fetch_all(&db)
            .await
            .unwrap();
    // Beside the kills, a live worker starved of CPU on a busy machine may let its lease lapse
    // (or miss heartbeats) and see its attempt taken over: that is abandoned too, decided alike.
    let (decisions, lapsed): (Vec<_>, Vec<_>) = abandoned.iter().partition(|(worker, ..)| killed.contains(worker));
    // validate, reserve and place share one transaction with the claim: a kill anywhere in
    // them rolls it all back, and the next worker starts afresh with nothing to decide. A kill
    // after that transaction committed, or in the middle of the publish, leaves the publish's
    // attempt open: its check finds the event not marked sent, and it runs again.
    assert_eq!(
        decisions.len(),
        2,
        "the kills after place_order and in the publish left an attempt open: {decisions:?}"
    );
    for (_, step, error) in &decisions {
        assert_eq!(step, "publish_order_placed");
        assert!(
            error.starts_with("outcome unknown: worker")
                && error.contains(" stopped before recording an outcome")
                && error.contains("the step's check found it not done: it runs again"),
            "{step}: {error}"
        );
    }
    for (worker, step, error) in &lapsed {
        assert!(
            error.starts_with(&format!("outcome unknown: worker {worker} "))
                && error.contains("the step's check found it not done: it runs again"),
            "{step} abandoned by a worker that was not killed: {error}"
        );
    }

    // Every order announced; only a kill between the broker's confirm and the commit that
    // records it can send the same event (same message id) twice, and consumers dedupe on it.
    let mut deliveries: HashMap<String, Vec<String>> = HashMap::new();
    eventually("every order.placed", Duration::from_secs(30), async || {
        for (key, message_id, body) in tap.drain().await {
            if key == "order.placed" && orders.contains_key(body["order_id"].as_str().unwrap_or_default()) {
                deliveries
                    .entry(body["order_id"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(message_id);
            }
        }
        (deliveries.len() == orders.len()).then_some(())
    })
    .await;
    for (order_id, (step, point)) in &orders {
        let ids = &deliveries[order_id];
        if (*step, *point) == ("publish_order_placed", FaultPoint::MidStep) {
            assert!(ids.len() <= 2 && ids.iter().all(|id| id == &ids[0]), "{ids:?}");
        } else {
            assert_eq!(
                ids.len(),
                1,
                "order.placed sent more than once after a kill at {step} {point:?}"
            );
        }
    }
}

#[tokio::test]
async fn with_the_broker_unreachable_orders_are_placed_and_announced_once_it_is_back() {
    let (proxy, through_proxy) = broker_behind_proxy().await;
    let ops = operated_shop_with(|s| s.amqp_url = through_proxy).await;
    let shop = &ops.shop;
    let tap = EventTap::open(shop).await;
    let operator = ProductOrderApi::as_user(&shop.product_order_url, &ops.operator_token);
    let tea = operator.create_product("TEA-1", "Sencha", 1290, 10).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    proxy.cut();
    let mut checkouts = Vec::new();
    for n in 0..3 {
        let login = CustomerApi::new(&shop.customer_url).signed_up(&email("offline")).await;
        let shopper = ProductOrderApi::as_user(&shop.product_order_url, login["access_token"].as_str().unwrap());
        shopper.set_quantity(&tea, 1).await;
        let accepted = shopper.checkout(&format!("offline-{n}"), valid_details()).await;
        assert_eq!(
            accepted.status,
            StatusCode::ACCEPTED,
            "accepted while the broker is away"
        );
        checkouts.push((shopper, accepted.body["checkout_id"].as_str().unwrap().to_owned()));
    }
    let mut order_ids: Vec<String> = Vec::new();
    for (shopper, checkout_id) in &checkouts {
        let waiting = eventually(
            "the order placed and its publish retrying",
            Duration::from_secs(30),
            async || {
                let body = shopper.get(&format!("/api/checkouts/{checkout_id}")).await.body;
                let publish = &body["steps"][3];
                (body["order_id"] != Value::Null && publish["state"] == "retrying").then_some(body)
            },
        )
        .await;
        assert_eq!(waiting["state"], "running");
        assert!(waiting["steps"][3]["error"].as_str().is_some());
        order_ids.push(waiting["order_id"].as_str().unwrap().to_owned());
    }
    let ours = |events: Vec<(String, String, Value)>| {
        events
            .into_iter()
            .filter(|(key, _, body)| {
                key == "order.placed" && order_ids.iter().any(|id| body["order_id"] == id.as_str())
            })
            .collect::<Vec<_>>()
    };
    assert!(
        ours(tap.drain().await).is_empty(),
        "nothing was published while the broker was away"
    );

    proxy.restore();
    for (shopper, checkout_id) in &checkouts {
        let done = shopper.finished_checkout(checkout_id).await;
        assert_eq!(done["state"], "completed", "{done:?}");
    }
    let mut placed = Vec::new();
    eventually("three order.placed", Duration::from_secs(10), async || {
        placed.extend(ours(tap.drain().await));
        (placed.len() >= 3).then_some(())
    })
    .await;
    assert_eq!(placed.len(), 3);
}

/// What the saga and the queue recorded of one checkout.
struct Recorded {
    /// (step, worker, outcome) of each attempt, oldest first.
    attempts: Vec<(String, String, String)>,
    /// Jobs the queue has held for this instance (a rescue's key starts with its id).
    jobs: i64,
}

async fn recorded(db: &PgPool, checkout_id: &str) -> Recorded {
    let attempts =
        sqlx::query_as("SELECT step_name, worker, outcome FROM saga.attempts WHERE instance_id = $1::uuid ORDER BY id")
            .bind(checkout_id)
            .fetch_all(db)
            .await
            .unwrap();
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.jobs WHERE starts_with(idempotency_key, $1)")
        .bind(checkout_id)
        .fetch_one(db)
        .await
        .unwrap();
    Recorded { attempts, jobs }
}

#[tokio::test]
async fn a_checkout_is_driven_by_the_process_that_accepted_it_and_survives_its_death() {
    let ReplicaShop {
        ops,
        tap,
        tea,
        token,
        settings,
    } = replica_shop("handover").await;
    let shop = &ops.shop;
    let db = PgPool::connect(&shop.product_order_database_url).await.unwrap();

    // Accepted by a replica with a worker: the checkout's database steps run in the request's
    // own transaction, the publish right after, and no job ever goes through the queue.
    let accepting = ProductOrderReplica::product_order(settings.clone()).await;
    let shopper = ProductOrderApi::as_user(&accepting.url, &token);
    assert_eq!(shopper.set_quantity(&tea, 1).await.status, StatusCode::OK);
    let accepted = shopper.checkout("handover-1", valid_details()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    let first = accepted.body["checkout_id"].as_str().unwrap().to_owned();
    let done = shopper.finished_checkout(&first).await;
    assert_eq!(done["state"], "completed", "{done:?}");
    let worker = accepting.saga().worker().to_owned();
    let seen = recorded(&db, &first).await;
    let expected: Vec<(String, String, String)> = STEPS
        .iter()
        .map(|step| (step.to_string(), worker.clone(), "succeeded".to_owned()))
        .collect();
    assert_eq!(seen.attempts, expected, "every step ran once, on the accepting replica");
    assert_eq!(seen.jobs, 0, "no job went through the queue");

    // The same replica dies after the request's transaction committed, before the publish:
    // once its heartbeats stop, another replica's sweep queues the checkout and finishes it.
    accepting
        .saga()
        .faults()
        .freeze_at("publish_order_placed", Phase::Forward, FaultPoint::BeforeStep);
    assert_eq!(shopper.set_quantity(&tea, 2).await.status, StatusCode::OK);
    let accepted = shopper.checkout("handover-2", valid_details()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    let second = accepted.body["checkout_id"].as_str().unwrap().to_owned();
    tokio::time::timeout(Duration::from_secs(30), accepting.saga().faults().frozen())
        .await
        .expect("the accepting replica reached the publish");
    let before_death = recorded(&db, &second).await;
    let outcomes: Vec<(&str, &str)> = before_death
        .attempts
        .iter()
        .map(|(step, _, outcome)| (step.as_str(), outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("validate_details", "succeeded"),
            ("reserve_stock", "succeeded"),
            ("place_order", "succeeded"),
            ("publish_order_placed", "running"),
        ],
        "the database steps committed with the request, and the publish is recorded as begun"
    );
    assert_eq!(before_death.jobs, 0, "a checkout handed over has no job");
    accepting.kill();

    let rescuer = ProductOrderReplica::product_order(settings.clone()).await;
    let status = ProductOrderApi::as_user(&shop.product_order_url, &token);
    let done = status.finished_checkout(&second).await;
    assert_eq!(done["state"], "completed", "{done:?}");
    let rescued = recorded(&db, &second).await;
    let publishes: Vec<_> = rescued
        .attempts
        .iter()
        .filter(|(step, _, _)| step == "publish_order_placed")
        .map(|(_, by, outcome)| (by == rescuer.saga().worker(), outcome.as_str()))
        .collect();
    assert_eq!(
        publishes,
        [(false, "abandoned"), (true, "succeeded")],
        "the dead replica's publish was left open and the rescuer ran it: {:?}",
        rescued.attempts
    );
    assert_eq!(rescued.jobs, 1, "one job queued by the sweep");
    rescuer.stop().await;

    let orders: Vec<(String, i32)> = sqlx::query_as(
        "SELECT o.checkout_id::text, sum(l.quantity)::int FROM orders o JOIN order_lines l ON l.order_id = o.id \
         GROUP BY o.checkout_id ORDER BY min(o.placed_at)",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        orders,
        [(first.clone(), 1), (second.clone(), 2)],
        "one order per checkout"
    );
    let stock: i32 = sqlx::query_scalar("SELECT stock FROM products")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(stock, 97, "each checkout reserved once");
    let mut announced = 0;
    eventually("both order.placed events", Duration::from_secs(30), async || {
        announced += tap
            .drain()
            .await
            .iter()
            .filter(|(key, _, _)| key == "order.placed")
            .count();
        (announced >= 2).then_some(())
    })
    .await;
    assert_eq!(announced, 2, "each order announced once");
}
