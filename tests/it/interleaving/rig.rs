//! The shop the episodes play against, and each episode's cast.
//!
//! Product-order's own instance serves the API only (no saga workers: checkouts sent to it
//! wait in the saga queue). Two replicas do the saga work: one that stays, and one that the
//! faults kill (`kill -9`-like, its runtime dropped mid-step) and replace. All three reach
//! RabbitMQ through a proxy the faults cut; steps are made to fail through each replica's
//! fault injection.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use saga::{Phase, StepError};
use testkit::{ProductOrderReplica, TcpProxy};
use uuid::Uuid;

use super::actions::{Episode, price_in, product_name};
use crate::helpers::{
    CustomerApi, OperatedShop, ProductOrderApi, Stores, broker_behind_proxy, email, operated_shop_custom,
};

/// What every injected step failure says, so the auditor can tell an injected cause.
pub const INJECTED: &str = "injected by the interleaving test";

pub struct Rig {
    pub ops: OperatedShop,
    pub stores: Stores,
    pub operator: ProductOrderApi,
    proxy: TcpProxy,
    /// The proxy is cut: a replica cannot start (product-order needs the broker to start).
    broker_cut: AtomicBool,
    replica_settings: product_order::Settings,
    steady: ProductOrderReplica,
    /// None while a killed replica's successor starts.
    doomed: Mutex<Option<ProductOrderReplica>>,
    /// The steps made to fail now, for replicas started meanwhile.
    failing: Mutex<Vec<(&'static str, Phase)>>,
}

impl Rig {
    pub async fn start() -> Self {
        let (proxy, through_proxy) = broker_behind_proxy().await;
        let broker = through_proxy.clone();
        let ops = operated_shop_custom(
            // Tokens live as long as any may (15 min), past a long run (SHOP_INTERLEAVING_SECONDS
            // up to about 800).
            |c| c.access_token_ttl = customer::config::MAX_ACCESS_TOKEN_TTL,
            |p| {
                p.saga_workers = false;
                p.amqp_url = broker;
            },
        )
        .await;
        let mut replica_settings = ops.shop.product_order_settings();
        replica_settings.amqp_url = through_proxy;
        // A killed replica's sagas are taken over within 1.5 s.
        replica_settings.saga_heartbeat = Duration::from_millis(500);
        let steady = ProductOrderReplica::product_order(replica_settings.clone()).await;
        let doomed = ProductOrderReplica::product_order(replica_settings.clone()).await;
        let stores = Stores::connect(&ops.shop.product_order_database_url, &ops.shop.customer_database_url).await;
        Self {
            operator: ProductOrderApi::as_user(&ops.shop.product_order_url, &ops.operator_token),
            ops,
            stores,
            proxy,
            broker_cut: AtomicBool::new(false),
            replica_settings,
            steady,
            doomed: Mutex::new(Some(doomed)),
            failing: Mutex::default(),
        }
    }

    /// The address of the replica nobody kills.
    pub fn steady_url(&self) -> String {
        self.steady.url.clone()
    }

    /// The killable replica's address, unless it is being replaced.
    pub fn replica_url(&self) -> Option<String> {
        self.doomed
            .lock()
            .expect("replica lock")
            .as_ref()
            .map(|r| r.url.clone())
    }

    /// Kills the killable replica where it stands and starts another in its place, once the
    /// broker can be reached.
    pub async fn kill_replica(&self) {
        let doomed = self.doomed.lock().expect("replica lock").take();
        if let Some(doomed) = doomed {
            doomed.kill();
        }
        if !self.broker_cut.load(Ordering::SeqCst) {
            self.start_replica().await;
        }
    }

    pub fn cut_broker(&self) {
        self.broker_cut.store(true, Ordering::SeqCst);
        self.proxy.cut();
    }

    /// Lets product-order reach the broker again, and starts the replica killed meanwhile.
    pub async fn restore_broker(&self) {
        self.proxy.restore();
        self.broker_cut.store(false, Ordering::SeqCst);
        if self.replica_url().is_none() {
            self.start_replica().await;
        }
    }

    async fn start_replica(&self) {
        let successor = ProductOrderReplica::product_order(self.replica_settings.clone()).await;
        for (step, phase) in self.failing.lock().expect("fault lock").iter() {
            successor
                .saga()
                .faults()
                .fail(step, *phase, StepError::retryable(INJECTED));
        }
        *self.doomed.lock().expect("replica lock") = Some(successor);
    }

    /// Every attempt of `step` in `phase` fails (a retryable error) until cleared.
    pub fn fail_step(&self, step: &'static str, phase: Phase) {
        self.failing.lock().expect("fault lock").push((step, phase));
        self.each_engine(|faults| faults.fail(step, phase, StepError::retryable(INJECTED)));
    }

    pub fn clear_step(&self, step: &'static str, phase: Phase) {
        self.failing.lock().expect("fault lock").retain(|f| *f != (step, phase));
        self.each_engine(|faults| faults.clear(step, phase));
    }

    /// Ends every fault: the broker reachable, the replica running, no step made to fail.
    pub async fn calm(&self) {
        self.restore_broker().await;
        let failing = std::mem::take(&mut *self.failing.lock().expect("fault lock"));
        for (step, phase) in failing {
            self.each_engine(|faults| faults.clear(step, phase));
        }
    }

    fn each_engine(&self, arm: impl Fn(&saga::FaultInjection)) {
        arm(self.steady.saga().faults());
        if let Some(doomed) = self.doomed.lock().expect("replica lock").as_ref() {
            arm(doomed.saga().faults());
        }
    }
}

pub struct Product {
    pub id: Uuid,
    pub initial_stock: i64,
}

pub struct Shopper {
    pub id: Uuid,
    pub email: String,
    pub api: ProductOrderApi,
}

/// An episode's own products (priced in EUR) and signed-up shoppers.
pub struct Cast {
    pub products: Vec<Product>,
    pub shoppers: Vec<Shopper>,
}

impl Cast {
    pub async fn assemble(rig: &Rig, episode: &Episode) -> Self {
        let run = Uuid::new_v4().simple().to_string();
        let mut products = Vec::new();
        for (index, stock) in episode.stocks.iter().enumerate() {
            let name = product_name(index);
            let sku = format!("IL-{}-{name}", &run[..12]);
            let price = price_in(100 + 37 * index as i64, "EUR");
            let created = rig
                .operator
                .create_product(&sku, &format!("Tea {name}"), price, *stock)
                .await;
            products.push(Product {
                id: created["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .expect("a product id"),
                initial_stock: *stock,
            });
        }
        let customers = CustomerApi::new(&rig.ops.shop.customer_url);
        let shoppers = (0..episode.shoppers).map(|_| async {
            let address = email("interleaving");
            let login = customers.signed_up(&address).await;
            let token = login["access_token"].as_str().expect("an access token");
            let me = customers.me(token).await;
            Shopper {
                id: me.body["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .expect("a customer id"),
                email: address,
                api: ProductOrderApi::as_user(&rig.ops.shop.product_order_url, token),
            }
        });
        Self {
            products,
            shoppers: futures::future::join_all(shoppers).await,
        }
    }
}
