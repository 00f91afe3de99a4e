//! The broker as a cluster of three RabbitMQ nodes of the test's own (one Erlang cookie, joined
//! with `join_cluster`), the services given all three addresses in `SHOP_AMQP_URL`. Under the
//! load, the node leading customer's events queue is killed while product-order publishes
//! through it, later started again; then the queue's leader is moved to a node product-order
//! is not connected to, which is shut down and started again. After each, every accepted
//! checkout ends, every event is applied once, nothing is dead-lettered and customer's copy of
//! every order (status and history) is product-order's.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use testkit::{LogDir, PrivateRabbitMqCluster, fresh_database_url};

use super::{
    CONVERGE_WITHIN, database_now, duplicates_seen, events_flow_again, load, longest_pause_in_applying, seconds,
    slowest_event, wait_until_ready,
};
use crate::helpers::Stores;
use crate::system::Wiring;
use crate::system::audit::{Audit, converge};

const EXCHANGE: &str = "shop.events";
const QUEUE: &str = "customer.order-events";
const NODES: usize = 3;
/// How many checkouts the load makes between faults.
const CHECKOUTS_BETWEEN_FAULTS: usize = 10;

#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    LeaderKilled,
    LeaderStopped,
    Restarted,
}

/// What one phase of the load saw.
struct Row {
    fault: String,
    accepted: usize,
    moves: usize,
    duplicates: usize,
    dead_in_queue: i64,
    /// The longest customer applied no event in the phase.
    events_paused: Option<Duration>,
    /// The longest an event written in the phase took from the outbox to customer.
    slowest_event: Option<Duration>,
    audit: Audit,
    converged_in: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_broker_cluster_loses_one_node_at_a_time_and_the_shop_loses_no_event() {
    let infra = testkit::infra().await;
    let mut cluster = PrivateRabbitMqCluster::start(NODES).await;
    let mut wiring = Wiring {
        customer_database_url: fresh_database_url(infra, "customer"),
        product_order_database_url: fresh_database_url(infra, "product_order"),
        amqp_url: cluster.amqp_urls(0),
        events_exchange: EXCHANGE.to_owned(),
        customer_events_queue: QUEUE.to_owned(),
        logs: LogDir::new("cluster-broker"),
    };
    // Each service connects to a node of its own first, as behind the cluster's Service.
    let customer = wiring.customer("customer").await;
    wiring.amqp_url = cluster.amqp_urls(1);
    let product_order = wiring.product_order("product-order", &customer.url).await;
    wiring.amqp_url = cluster.amqp_urls(2);
    let web = wiring.web("web", &customer.url, &product_order.url).await;
    assert_replicated_on_every_node(&cluster).await;

    let stores = Stores::connect(&wiring.product_order_database_url, &wiring.customer_database_url).await;
    let (catalog, load) = load(&customer, &product_order, &stores).await;
    let services = [&customer, &product_order, &web];
    let mut down = None;
    let mut killed = None;
    let mut rows = Vec::new();
    for fault in [
        Fault::None,
        Fault::LeaderKilled,
        Fault::Restarted,
        Fault::LeaderStopped,
        Fault::Restarted,
    ] {
        let before = load.ledger();
        load.resume();
        load.wait_for_accepted(
            before.accepted.len(),
            CHECKOUTS_BETWEEN_FAULTS,
            "checkouts before the fault",
        )
        .await;
        let since = database_now(&stores).await;
        let described = match fault {
            Fault::None => "none (the load, three nodes up)".to_owned(),
            Fault::LeaderKilled => {
                // The node product-order publishes through leads the queue and dies: its next
                // connection's channel opens while the queue elects a new leader.
                let publishing = cluster.connected_to("product-order@").await;
                let leader = *publishing.first().expect("product-order is connected");
                cluster.transfer_leadership(QUEUE, leader).await;
                cluster.kill_node(leader).await;
                down = Some(leader);
                killed = Some(leader);
                format!("node {leader}, leading {QUEUE}, killed (SIGKILL); product-order on {publishing:?}")
            }
            Fault::LeaderStopped => {
                // The leader goes while product-order's connection stays up: its channel must
                // find the queue's next leader by itself (the kill above cut the connection).
                let publishing = cluster.connected_to("product-order@").await;
                // Another node than the one killed, where possible.
                let candidates: Vec<usize> = (0..NODES)
                    .filter(|n| cluster.nodes()[*n].is_running() && !publishing.contains(n))
                    .collect();
                let leader = candidates
                    .iter()
                    .copied()
                    .find(|n| Some(*n) != killed)
                    .or(candidates.first().copied())
                    .expect("a running node product-order is not connected to");
                cluster.transfer_leadership(QUEUE, leader).await;
                cluster.stop_node(leader).await;
                down = Some(leader);
                format!(
                    "node {leader}, leading {QUEUE} now, shut down (rabbitmqctl shutdown); product-order on {publishing:?}"
                )
            }
            Fault::Restarted => {
                let node = down.take().expect("a node is down");
                cluster.start_node(node).await;
                wait_until_online(&cluster, node).await;
                format!("node {node} started again")
            }
        };
        eprintln!("fault: {described}");
        events_flow_again(&stores, since, "events flowing again").await;
        let accepted = load.ledger().accepted.len();
        load.wait_for_accepted(accepted, 5, "checkouts after the fault").await;
        wait_until_ready(&services).await;
        let healed = Instant::now();
        let deadline = healed + CONVERGE_WITHIN;
        load.pause(deadline).await;
        let seen = load.ledger();
        let audit = converge(&stores, &seen.accepted, &catalog.initial_stock, deadline).await;
        let converged = audit.mismatches.is_empty();
        rows.push(Row {
            fault: described,
            accepted: seen.accepted.len(),
            moves: seen.moves,
            duplicates: duplicates_seen(&customer),
            dead_in_queue: cluster.queue(&format!("{QUEUE}.dead")).await.map_or(0, |q| q.messages),
            events_paused: longest_pause_in_applying(&stores, since).await,
            slowest_event: slowest_event(&stores, since).await,
            audit,
            converged_in: healed.elapsed(),
        });
        if !converged {
            break;
        }
    }
    let ledger = load.ledger();
    load.stop();
    println!("{}", table(&rows));
    println!("{}", super::failures_table(&ledger));
    for row in &rows {
        let first: Vec<&str> = row.audit.mismatches.iter().take(10).map(String::as_str).collect();
        assert!(first.is_empty(), "after {}:\n  {}", row.fault, first.join("\n  "));
        assert_eq!(
            row.dead_in_queue, 0,
            "after {}: messages in the dead-letter queue",
            row.fault
        );
    }
}

/// Customer's queues (its events and their dead letters, quorum queues) and the sessions-ended
/// stream have a member on every node, so one node down leaves a majority of each. RabbitMQ
/// 3.10 places a new quorum queue or stream on every node of the cluster unless told fewer
/// (`x-quorum-initial-group-size`, `x-initial-cluster-size`), and the shop does not tell it.
async fn assert_replicated_on_every_node(cluster: &PrivateRabbitMqCluster) {
    let every: Vec<usize> = (0..NODES).collect();
    let mut report = String::from("| queue | type | members | leader |\n|---|---|---:|---:|\n");
    let mut short = Vec::new();
    for (queue, kind) in [
        (QUEUE.to_owned(), "quorum"),
        (format!("{QUEUE}.dead"), "quorum"),
        (contracts::sessions::stream(EXCHANGE), "stream"),
    ] {
        let replicas = cluster
            .queue(&queue)
            .await
            .unwrap_or_else(|| panic!("the shop declared {queue}"));
        let _ = writeln!(
            report,
            "| {queue} | {} | {} | {:?} |",
            replicas.kind,
            replicas.members.len(),
            replicas.leader
        );
        if replicas.kind != kind || replicas.members != every {
            short.push(format!("{queue}: {replicas:?}"));
        }
    }
    println!("{report}");
    assert!(
        short.is_empty(),
        "not a {kind} queue on all {NODES} nodes: {short:?}",
        kind = "quorum/stream"
    );
}

/// Waits until `node` is an online member of customer's queue again (caught up with its log).
async fn wait_until_online(cluster: &PrivateRabbitMqCluster, node: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let queue = cluster.queue(QUEUE).await;
        if queue.as_ref().is_some_and(|q| q.online.contains(&node)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {node} not back among {QUEUE}'s members within 60 s: {queue:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn table(rows: &[Row]) -> String {
    let mut table = String::from(
        "| fault | checkouts accepted | checkouts ended | status moves | events published | events applied \
         | duplicates delivered | dead letters | mismatches | longest pause in applying events | slowest event | time to converge |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.fault,
            row.accepted,
            row.audit.ended_checkouts,
            row.moves,
            row.audit.events_published,
            row.audit.events_applied,
            row.duplicates,
            row.audit.dead_lettered + row.dead_in_queue,
            row.audit.mismatches.len(),
            seconds(row.events_paused),
            seconds(row.slowest_event),
            seconds(Some(row.converged_in)),
        );
    }
    table
}
