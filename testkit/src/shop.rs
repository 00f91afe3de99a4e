//! The shop's services started in-process on free ports, each with its own fresh database.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::infra::{fresh_database_url, infra};

/// A running shop for one test; stopped when dropped.
pub struct TestShop {
    pub customer_url: String,
    pub product_order_url: String,
    pub web_url: String,
    /// Where each service's `/readyz` and `/metrics` answer.
    pub customer_internal_url: String,
    pub product_order_internal_url: String,
    pub web_internal_url: String,
    pub customer_database_url: String,
    pub product_order_database_url: String,
    pub amqp_url: String,
    /// The topic exchange this shop's events go through (its own).
    pub events_exchange: String,
    /// Customer's queue of order events (its dead letters are in `<queue>.dead`).
    pub customer_events_queue: String,
    customer_settings: customer::Settings,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl TestShop {
    /// Starts customer, product-order and web with default test settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts the shop after `customize` adjusts customer's settings.
    pub async fn start_with(customize: impl FnOnce(&mut customer::Settings)) -> Self {
        Self::start_custom(customize, |_| {}).await
    }

    /// Starts the shop after the closures adjust customer's and product-order's settings.
    pub async fn start_custom(
        customize: impl FnOnce(&mut customer::Settings),
        customize_product_order: impl FnOnce(&mut product_order::Settings),
    ) -> Self {
        let infra = infra().await;
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let customer_database_url = fresh_database_url(infra, "customer");
        let product_order_database_url = fresh_database_url(infra, "product_order");

        // An exchange of this shop's own, so parallel tests never see each other's events.
        let events_exchange = format!("shop.events.test-{}", uuid::Uuid::new_v4().simple());
        let mut customer_settings = customer::Settings {
            addr: any_port(),
            internal_addr: any_port(),
            database_url: customer_database_url.clone(),
            database_max_connections: 5,
            amqp_url: infra.amqp_url.clone(),
            events_exchange: events_exchange.clone(),
            operator: None,
            operator_totp_secret: None,
            require_operator_second_factor: false,
            signing_key_file: None,
            access_token_ttl: Duration::from_secs(900),
            refresh_token_ttl: Duration::from_secs(14 * 24 * 3600),
            session_max_age: Duration::from_secs(30 * 24 * 3600),
            login_limits: customer::config::LoginLimits {
                failures_before_delay: 5,
                per_address: 20,
                window: Duration::from_secs(900),
            },
            // Tests sign up many shoppers from one address.
            registration_limits: customer::config::RegistrationLimits {
                per_address: 100_000,
                window: Duration::from_secs(3600),
            },
            trusted_proxies: vec!["127.0.0.1".parse().expect("an address")],
            // A queue of this shop's own, so shops of parallel tests do not take each other's
            // events; RabbitMQ deletes it once it has had no consumer for ten minutes.
            events: customer::orders::events::EventSettings {
                workers: true,
                queue: format!("customer.order-events.test-{}", uuid::Uuid::new_v4().simple()),
                expires: Some(Duration::from_secs(600)),
            },
        };
        customize(&mut customer_settings);
        let customer_events_queue = customer_settings.events.queue.clone();
        let customer_replica_settings = customer_settings.clone();
        let customer_addr = customer::start(customer_settings, shutdown.clone(), &tasks)
            .await
            .unwrap_or_else(|e| panic!("customer did not start: {e}"));
        let customer_url = format!("http://{}", customer_addr.addr);

        let mut product_order_settings = product_order_test_settings(
            &product_order_database_url,
            &infra.amqp_url,
            &customer_url,
            &events_exchange,
        );
        customize_product_order(&mut product_order_settings);
        let product_order_addr = product_order::start(product_order_settings, shutdown.clone(), &tasks)
            .await
            .unwrap_or_else(|e| panic!("product-order did not start: {e}"))
            .listening;
        let product_order_url = format!("http://{}", product_order_addr.addr);

        let web_settings = web::Settings {
            addr: any_port(),
            internal_addr: any_port(),
            amqp_url: infra.amqp_url.clone(),
            events_exchange: events_exchange.clone(),
            customer_url: customer_url.clone(),
            product_order_url: product_order_url.clone(),
            // Tests wait for the conditions they compare, so every change counts at once.
            reconcile_grace: Duration::ZERO,
            // The tests play the proxy in front of web when they send X-Forwarded-For.
            trusted_proxies: vec!["127.0.0.1".parse().expect("an address")],
            ..web::Settings::from_env().expect("web settings")
        };
        let web_addr = web::start(web_settings, shutdown.clone(), &tasks)
            .await
            .unwrap_or_else(|e| panic!("web did not start: {e}"));

        Self {
            customer_url,
            product_order_url,
            web_url: format!("http://{}", web_addr.addr),
            customer_internal_url: format!("http://{}", customer_addr.internal_addr),
            product_order_internal_url: format!("http://{}", product_order_addr.internal_addr),
            web_internal_url: format!("http://{}", web_addr.internal_addr),
            customer_database_url,
            product_order_database_url,
            amqp_url: infra.amqp_url.clone(),
            events_exchange,
            customer_events_queue,
            customer_settings: customer_replica_settings,
            shutdown,
            tasks,
        }
    }

    /// Settings for another product-order on this shop's database and broker.
    pub fn product_order_settings(&self) -> product_order::Settings {
        product_order_test_settings(
            &self.product_order_database_url,
            &self.amqp_url,
            &self.customer_url,
            &self.events_exchange,
        )
    }

    /// Settings for another customer on this shop's database, broker and event queue.
    pub fn customer_settings(&self) -> customer::Settings {
        customer::Settings {
            addr: any_port(),
            internal_addr: any_port(),
            ..self.customer_settings.clone()
        }
    }

    /// Stops every service and waits until they have finished their work.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        tokio::time::timeout(Duration::from_secs(30), self.tasks.wait())
            .await
            .expect("services stop within 30 s");
    }
}

fn product_order_test_settings(
    database_url: &str,
    amqp_url: &str,
    customer_url: &str,
    events_exchange: &str,
) -> product_order::Settings {
    product_order::Settings {
        addr: any_port(),
        internal_addr: any_port(),
        database_url: database_url.to_owned(),
        database_max_connections: 10,
        amqp_url: amqp_url.to_owned(),
        events_exchange: events_exchange.to_owned(),
        customer_url: customer_url.to_owned(),
        demo_catalog: false,
        saga_workers: true,
        saga_concurrency: 8,
        // Dead workers are noticed within three seconds.
        saga_heartbeat: Duration::from_secs(1),
    }
}

/// A service running on its own runtime, as another process would: `kill` stops it dead,
/// mid-step if it is in one, with nothing finished or cleaned up.
pub struct Replica<T> {
    pub url: String,
    /// Where its `/readyz` and `/metrics` answer.
    pub internal_url: String,
    /// What the service handed back at start (product-order's saga engine).
    pub handle: T,
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// A product-order replica, with its saga engine.
pub type ProductOrderReplica = Replica<saga::Engine>;

impl Replica<saga::Engine> {
    pub async fn product_order(settings: product_order::Settings) -> Self {
        Self::start("product-order", |shutdown, tasks| async move {
            product_order::start(settings, shutdown, &tasks)
                .await
                .map(|running| (running.listening, running.saga))
        })
        .await
    }

    pub fn saga(&self) -> &saga::Engine {
        &self.handle
    }
}

impl Replica<()> {
    pub async fn customer(settings: customer::Settings) -> Self {
        Self::start("customer", |shutdown, tasks| async move {
            customer::start(settings, shutdown, &tasks)
                .await
                .map(|listening| (listening, ()))
        })
        .await
    }
}

impl<T: Send + 'static> Replica<T> {
    async fn start<F, Fut>(service: &str, start: F) -> Self
    where
        F: FnOnce(CancellationToken, TaskTracker) -> Fut,
        Fut: Future<Output = Result<(platform::http::Listening, T), platform::StartupError>> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the replica");
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let started = runtime.spawn(start(shutdown.clone(), tasks.clone()));
        let (listening, handle) = started
            .await
            .expect("the replica's start task")
            .unwrap_or_else(|e| panic!("{service} replica did not start: {e}"));
        Self {
            url: format!("http://{}", listening.addr),
            internal_url: format!("http://{}", listening.internal_addr),
            handle,
            runtime: Some(runtime),
            shutdown,
            tasks,
        }
    }

    /// Like `kill -9`: every task is dropped where it stands; its database connections close
    /// without committing, its heartbeats stop.
    pub fn kill(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// A graceful stop: in-flight work finishes.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        self.tasks.close();
        let waited = tokio::time::timeout(Duration::from_secs(30), self.tasks.wait()).await;
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        waited.expect("the replica stops within 30 s");
    }
}

impl<T> Drop for Replica<T> {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for TestShop {
    fn drop(&mut self) {
        self.shutdown.cancel();
        delete_routes(&self.amqp_url, &self.customer_events_queue, &self.events_exchange);
    }
}

/// An events exchange and a customer queue of a test's own on a shared broker, for services
/// started apart from a `TestShop`; both are deleted when dropped.
pub struct EventRoutes {
    pub amqp_url: String,
    pub exchange: String,
    pub customer_queue: String,
}

impl EventRoutes {
    pub fn unique(amqp_url: &str) -> Self {
        Self {
            amqp_url: amqp_url.to_owned(),
            exchange: format!("shop.events.test-{}", uuid::Uuid::new_v4().simple()),
            customer_queue: format!("customer.order-events.test-{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

impl Drop for EventRoutes {
    fn drop(&mut self) {
        delete_routes(&self.amqp_url, &self.customer_queue, &self.exchange);
    }
}

/// Deletes a test's customer queue (with its dead letters) and events exchange at once rather
/// than leave them to their expiry: quorum queues hold files open on the broker, and many tests
/// in a row would exhaust it. Runs on a thread of its own, as it is called from `drop`.
fn delete_routes(amqp_url: &str, queue: &str, exchange: &str) {
    let deleted = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(delete_event_queues(amqp_url, queue)).ok()?;
                runtime.block_on(delete_exchange(amqp_url, exchange)).ok()
            })
            .join()
    });
    if !matches!(deleted, Ok(Some(()))) {
        eprintln!("could not delete the test queue {queue} or the exchange {exchange}");
    }
}

/// Deletes the events exchange `exchange` and the sessions-ended stream bound to it.
async fn delete_exchange(amqp_url: &str, exchange: &str) -> Result<(), lapin::Error> {
    let connection = lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .queue_delete(
            contracts::sessions::stream(exchange).as_str().into(),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await?;
    channel
        .exchange_delete(exchange.into(), lapin::options::ExchangeDeleteOptions::default())
        .await?;
    connection.close(200, "test over".into()).await
}

/// Deletes customer's event queue `queue`, its dead-letter queue and exchange.
pub async fn delete_event_queues(amqp_url: &str, queue: &str) -> Result<(), lapin::Error> {
    let connection = lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    for name in [queue.to_owned(), format!("{queue}.dead")] {
        channel
            .queue_delete(name.as_str().into(), lapin::options::QueueDeleteOptions::default())
            .await?;
    }
    let exchange = format!("{queue}.dlx");
    channel
        .exchange_delete(
            exchange.as_str().into(),
            lapin::options::ExchangeDeleteOptions::default(),
        )
        .await?;
    connection.close(200, "test over".into()).await
}

/// Polls `condition` until it holds, failing the test with `what` after `deadline`.
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if condition().await {
            return;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
