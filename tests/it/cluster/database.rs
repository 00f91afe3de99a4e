//! PostgreSQL as a primary with a synchronous streaming replica (`pg_basebackup -R`,
//! `synchronous_standby_names = '*'`) holding both services' databases, as the production
//! cluster does, reached through one read-write endpoint (a proxy that follows the primary, as
//! CloudNativePG's `-rw` Service does). Under the load the primary is stopped at once (`pg_ctl
//! stop -m immediate`), the replica promoted and the endpoint switched to it: the services
//! report not ready while the database is gone, reconnect by themselves, and no checkout a
//! shopper was told about is lost.

use std::fmt::Write as _;
use std::time::Instant;

use testkit::{EventRoutes, LogDir, PrivatePostgres, TcpProxy};
use uuid::Uuid;

use super::{CONVERGE_WITHIN, ReadinessWatch, load, seconds, wait_until_ready};
use crate::helpers::Stores;
use crate::system::Wiring;
use crate::system::audit::converge;

/// How many checkouts the load makes before the failover, and after it.
const CHECKOUTS_EACH_SIDE: usize = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_dies_the_synchronous_replica_takes_over_and_no_accepted_checkout_is_lost() {
    let primary = PrivatePostgres::start_primary().await;
    let replica = PrivatePostgres::start_replica_of(&primary).await;
    primary.require_synchronous_standby().await;
    let read_write = TcpProxy::start(primary.addr()).await;
    let url = |database: &str| format!("postgres://postgres@{}/{database}", read_write.addr);
    let infra = testkit::infra().await;
    let routes = EventRoutes::unique(&infra.amqp_url);
    let wiring = Wiring {
        customer_database_url: url("shop_customer"),
        product_order_database_url: url("shop_product_order"),
        amqp_url: infra.amqp_url.clone(),
        events_exchange: routes.exchange.clone(),
        customer_events_queue: routes.customer_queue.clone(),
        logs: LogDir::new("cluster-database"),
    };
    let customer = wiring.customer("customer").await;
    let product_order = wiring.product_order("product-order", &customer.url).await;
    let stores = Stores::connect(&wiring.product_order_database_url, &wiring.customer_database_url).await;
    let (catalog, load) = load(&customer, &product_order, &stores).await;
    let services = [&customer, &product_order];
    load.wait_for_accepted(0, CHECKOUTS_EACH_SIDE, "checkouts before the failover")
        .await;

    let in_flight: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM saga.instances WHERE state IN ('running', 'compensating')")
            .fetch_all(&stores.product_order)
            .await
            .expect("the sagas in flight");
    let readiness = ReadinessWatch::start(&services);
    let retried = load.ledger().retried;
    let killed = Instant::now();
    primary.stop_server().await;
    testkit::wait_until("both services reporting not ready", CONVERGE_WITHIN, || async {
        customer.readiness().await == Some(false) && product_order.readiness().await == Some(false)
    })
    .await;
    let noticed = killed.elapsed();
    // The replica takes over once shoppers have met the outage (their requests failed).
    load.wait_for_retries(retried, "shoppers meeting the database outage")
        .await;
    replica.promote().await;
    let accepted_before_switch = load.ledger().accepted.len();
    read_write.switch_to(replica.addr());
    let switched = Instant::now();
    load.wait_for_accepted(accepted_before_switch, 1, "the first checkout after the switch")
        .await;
    let first_checkout = switched.elapsed();
    wait_until_ready(&services).await;
    let ready_again = switched.elapsed();
    load.wait_for_accepted(
        accepted_before_switch,
        CHECKOUTS_EACH_SIDE,
        "checkouts on the new primary",
    )
    .await;
    let unready = readiness.stop().await;

    let healed = Instant::now();
    let deadline = healed + CONVERGE_WITHIN;
    load.pause(deadline).await;
    let seen = load.ledger();
    let audit = converge(&stores, &seen.accepted, &catalog.initial_stock, deadline).await;
    let converged_in = healed.elapsed();
    load.stop();
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&stores.product_order)
        .await
        .expect("the endpoint's server answers");

    let mut table = String::from(
        "| checkouts accepted | checkouts ended | checkouts lost | sagas in flight at the kill | status moves \
         | both unready after the kill | not ready | time to first checkout after the switch \
         | ready after the switch | mismatches | time to converge |\n\
         |---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n",
    );
    let unready_cell: Vec<String> = unready
        .iter()
        .map(|(label, time)| format!("{label} {}", seconds(Some(*time))))
        .collect();
    let _ = writeln!(
        table,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        seen.accepted.len(),
        audit.ended_checkouts,
        audit.lost_checkouts,
        in_flight.len(),
        seen.moves,
        seconds(Some(noticed)),
        unready_cell.join(", "),
        seconds(Some(first_checkout)),
        seconds(Some(ready_again)),
        audit.mismatches.len(),
        seconds(Some(converged_in)),
    );
    println!("{table}");
    println!("{}", super::failures_table(&seen));

    assert!(
        !in_recovery,
        "the endpoint leads to the promoted replica, a primary now"
    );
    assert_eq!(audit.lost_checkouts, 0, "accepted checkouts lost in the failover");
    let first: Vec<&str> = audit.mismatches.iter().take(10).map(String::as_str).collect();
    assert!(first.is_empty(), "after the failover:\n  {}", first.join("\n  "));
    for (label, time) in &unready {
        assert!(
            !time.is_zero(),
            "{label} never reported not ready while the database was gone"
        );
    }
}
