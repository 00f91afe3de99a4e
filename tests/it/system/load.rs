//! A steady load of checkouts: shoppers who fill their carts and check out through the HTTP
//! API, one checkout after another, and behave as a careful client would when the shop
//! stumbles (a lost answer is asked again with the same idempotency key); and, when asked, an
//! operator moving the orders along.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::helpers::valid_details;

/// A signed-up shopper and the product-order instance they talk to.
#[derive(Clone)]
pub struct Shopper {
    pub label: String,
    pub customer_id: Uuid,
    pub access_token: String,
    pub product_order_url: String,
}

/// What shopper `s` puts in the cart in round `r`: `(product, quantity)`. A line whose product
/// ran out is left out of the cart.
pub type Basket = Arc<dyn Fn(usize, usize) -> Vec<(Uuid, i64)> + Send + Sync>;

/// What the shoppers saw.
#[derive(Default, Clone)]
pub struct Ledger {
    /// Checkouts answered 202, in order.
    pub accepted: Vec<Uuid>,
    /// Requests that got no answer or a 5xx and were made again.
    pub retried: usize,
    /// Status moves the operator made (answered 200).
    pub moves: usize,
    /// Status moves refused (409): one already made whose answer was lost, made again.
    pub moves_refused: usize,
    /// Those requests by what went wrong and where (`503 POST /api/checkout`, `no answer GET
    /// /api/checkouts/{id}`).
    pub failures: BTreeMap<String, usize>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Run,
    Pause,
    Stop,
}

/// Shoppers checking out continuously until paused or stopped.
pub struct Load {
    mode: watch::Sender<Mode>,
    parked: watch::Sender<usize>,
    ledger: watch::Sender<Ledger>,
    /// Shoppers, and the operator when there is one.
    participants: usize,
    tasks: JoinSet<()>,
}

impl Load {
    pub fn start(shoppers: Vec<Shopper>, basket: Basket) -> Self {
        Self::start_with(shoppers, basket, None)
    }

    /// Shoppers, and an operator moving their orders along as they are placed; pausing waits
    /// for the operator's move in flight too.
    pub fn start_with_operator(shoppers: Vec<Shopper>, basket: Basket, operator: Operator) -> Self {
        Self::start_with(shoppers, basket, Some(operator))
    }

    fn start_with(shoppers: Vec<Shopper>, basket: Basket, operator: Option<Operator>) -> Self {
        let mode = watch::Sender::new(Mode::Run);
        let parked = watch::Sender::new(0);
        let ledger = watch::Sender::new(Ledger::default());
        let mut tasks = JoinSet::new();
        let count = shoppers.len() + usize::from(operator.is_some());
        for (index, shopper) in shoppers.into_iter().enumerate() {
            let client = ShopperClient::new(shopper, ledger.clone());
            let (mode, parked, basket) = (mode.subscribe(), parked.clone(), basket.clone());
            tasks.spawn(async move { client.shop(index, &basket, mode, parked).await });
        }
        if let Some(operator) = operator {
            let api = ApiClient::new(&operator.product_order_url, &operator.access_token, ledger.clone());
            let (mode, parked) = (mode.subscribe(), parked.clone());
            tasks.spawn(async move { operator.operate(&api, mode, parked).await });
        }
        Self {
            mode,
            parked,
            ledger,
            participants: count,
            tasks,
        }
    }

    /// What the shoppers saw so far.
    pub fn ledger(&self) -> Ledger {
        self.ledger.borrow().clone()
    }

    /// Waits until `more` checkouts were accepted after `since` were.
    pub async fn wait_for_accepted(&self, since: usize, more: usize, what: &str) {
        self.wait_for_ledger(what, |ledger| ledger.accepted.len() >= since + more)
            .await;
    }

    /// Waits until the shoppers saw requests fail (and retried them) after `since` had.
    pub async fn wait_for_retries(&self, since: usize, what: &str) {
        self.wait_for_ledger(what, |ledger| ledger.retried > since).await;
    }

    async fn wait_for_ledger(&self, what: &str, condition: impl FnMut(&Ledger) -> bool) {
        let mut ledger = self.ledger.subscribe();
        tokio::time::timeout(Duration::from_secs(60), ledger.wait_for(condition))
            .await
            .unwrap_or_else(|_| panic!("timed out after 60 s waiting for {what}"))
            .expect("the ledger stays open");
    }

    /// Lets every shopper finish the round it is in (and the operator its moves), then holds
    /// them; false when some are still in their round at `deadline` (their checkout neither
    /// placed nor ended).
    pub async fn pause(&self, deadline: Instant) -> bool {
        self.mode.send_replace(Mode::Pause);
        let mut parked = self.parked.subscribe();
        let participants = self.participants;
        tokio::time::timeout_at(deadline.into(), parked.wait_for(|n| *n == participants))
            .await
            .is_ok()
    }

    pub fn resume(&self) {
        self.mode.send_replace(Mode::Run);
    }

    /// Ends the shoppers wherever they are (pause first, for none to be mid-request).
    pub fn stop(mut self) {
        self.mode.send_replace(Mode::Stop);
        self.tasks.abort_all();
    }
}

/// Holds a participant of the load while it is paused; false once it is stopped.
async fn keep_going(mode: &mut watch::Receiver<Mode>, parked: &watch::Sender<usize>) -> bool {
    if *mode.borrow_and_update() == Mode::Run {
        return true;
    }
    parked.send_modify(|n| *n += 1);
    let next = *mode
        .wait_for(|m| *m != Mode::Pause)
        .await
        .expect("the load's mode stays open");
    parked.send_modify(|n| *n -= 1);
    next == Mode::Run
}

/// An operator who moves the shop's orders along, the oldest first, a few each round:
/// placed -> confirmed -> shipped -> delivered, through the operators' API (each move an
/// `order.status_changed` event for customer). Picks them from product-order's database, as
/// the operators' order list shows them.
pub struct Operator {
    pub product_order_url: String,
    pub access_token: String,
    pub orders: sqlx::PgPool,
}

impl Operator {
    async fn operate(&self, api: &ApiClient, mut mode: watch::Receiver<Mode>, parked: watch::Sender<usize>) {
        while keep_going(&mut mode, &parked).await {
            // The database being away leaves nothing to move: the operator's page would not
            // load either.
            let orders: Vec<(Uuid, String)> = sqlx::query_as(
                "SELECT id, status FROM orders WHERE status IN ('placed', 'confirmed', 'shipped') \
                 ORDER BY placed_at, id LIMIT 4",
            )
            .fetch_all(&self.orders)
            .await
            .unwrap_or_default();
            for (order, status) in &orders {
                let next = match status.as_str() {
                    "placed" => "confirmed",
                    "confirmed" => "shipped",
                    _ => "delivered",
                };
                let path = format!("/api/ops/orders/{order}/status");
                let (answer, body) = api
                    .call(Method::PATCH, &path, Some(json!({"status": next})), None)
                    .await;
                match answer {
                    StatusCode::OK => api.ledger.send_modify(|l| l.moves += 1),
                    StatusCode::CONFLICT => api.ledger.send_modify(|l| l.moves_refused += 1),
                    other => panic!("the operator moving order {order} to {next} got {other}: {body}"),
                }
            }
            // The operator's pace between two looks at the list.
            tokio::time::sleep(Duration::from_millis(if orders.is_empty() { 200 } else { 50 })).await;
        }
    }
}

/// One shopper's HTTP calls, retried until the shop answers.
struct ShopperClient {
    shopper: Shopper,
    api: ApiClient,
}

impl ShopperClient {
    fn new(shopper: Shopper, ledger: watch::Sender<Ledger>) -> Self {
        let api = ApiClient::new(&shopper.product_order_url, &shopper.access_token, ledger);
        Self { shopper, api }
    }

    async fn shop(&self, index: usize, basket: &Basket, mut mode: watch::Receiver<Mode>, parked: watch::Sender<usize>) {
        for round in 0.. {
            if !keep_going(&mut mode, &parked).await {
                return;
            }
            self.round(basket(index, round), round).await;
        }
    }

    /// Fills the cart, checks out and follows the checkout until its order is placed or it
    /// ends (a late announcement of the order, e.g. while the broker is away, is no reason to
    /// keep the shopper waiting).
    async fn round(&self, basket: Vec<(Uuid, i64)>, round: usize) {
        for (product, quantity) in basket {
            let path = format!("/api/cart/items/{product}");
            let (status, _) = self
                .call(Method::PUT, &path, Some(json!({"quantity": quantity})), None)
                .await;
            if status == StatusCode::CONFLICT {
                // Too few left: leave it out (it may be in the cart from an earlier round).
                self.call(Method::DELETE, &path, None, None).await;
            }
        }
        let key = format!("{}-round-{round}", self.shopper.label);
        let (_, cart) = self.call(Method::GET, "/api/cart", None, None).await;
        let mut checkout = valid_details();
        checkout["reviewed"] = json!({"total": cart["total"], "currency": cart["currency"]});
        let (status, body) = self
            .call(Method::POST, "/api/checkout", Some(checkout), Some(&key))
            .await;
        // The cart always holds tea, of which there is plenty.
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "{} was refused a checkout: {body}",
            self.shopper.label
        );
        let checkout_id: Uuid = body["checkout_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("a checkout id in {body}"));
        self.api.ledger.send_modify(|l| l.accepted.push(checkout_id));
        let path = format!("/api/checkouts/{checkout_id}");
        loop {
            let (status, body) = self.call(Method::GET, &path, None, None).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{} following its checkout: {body}",
                self.shopper.label
            );
            if body["order_id"].is_string() || matches!(body["state"].as_str(), Some("completed" | "failed" | "stuck"))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>, key: Option<&str>) -> (StatusCode, Value) {
        self.api.call(method, path, body, key).await
    }
}

/// Calls to product-order's API as one user, each made again until it gets an answer below
/// 500, every failure counted in the ledger.
#[derive(Clone)]
pub struct ApiClient {
    base_url: String,
    access_token: String,
    http: reqwest::Client,
    ledger: watch::Sender<Ledger>,
}

impl ApiClient {
    pub fn new(base_url: &str, access_token: &str, ledger: watch::Sender<Ledger>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client");
        Self {
            base_url: base_url.to_owned(),
            access_token: access_token.to_owned(),
            http,
            ledger,
        }
    }

    /// Makes the request until it gets an answer below 500 (the same idempotency key each time).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base_url);
        loop {
            let mut request = self.http.request(method.clone(), &url).bearer_auth(&self.access_token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            if let Some(key) = key {
                request = request.header("idempotency-key", key);
            }
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    // A body cut off by a dying process counts as no answer.
                    match (status.is_server_error(), response.bytes().await) {
                        (false, Ok(bytes)) => return (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)),
                        (true, _) => status.as_u16().to_string(),
                        (false, Err(_)) => "body cut off".to_owned(),
                    }
                }
                Err(_) => "no answer".to_owned(),
            };
            let kind = format!("{failure} {method} {}", route_of(path));
            self.ledger.send_modify(|l| {
                l.retried += 1;
                *l.failures.entry(kind).or_default() += 1;
            });
            // The shop is down or failing: ask again shortly, as a client with backoff would.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A path with its ids written `{id}`, so failures group by route.
fn route_of(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.parse::<Uuid>().is_ok() {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
