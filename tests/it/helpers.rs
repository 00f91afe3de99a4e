//! Calls to the services' JSON APIs, one method per endpoint.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// A JSON client for customer.
pub struct CustomerApi {
    pub base: String,
    pub http: Client,
}

/// A response's status and JSON body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub async fn from(response: reqwest::Response) -> Self {
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        Self { status, body }
    }

    /// The message given for `field` in a validation error.
    pub fn field_error(&self, field: &str) -> Option<&str> {
        self.body["error"]["fields"][field].as_str()
    }
}

impl CustomerApi {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: Client::new(),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        Answer::from(
            self.http
                .post(format!("{}{path}", self.base))
                .json(&body)
                .send()
                .await
                .expect("customer answers"),
        )
        .await
    }

    pub async fn register(&self, email: &str, password: &str, name: &str) -> Answer {
        self.post(
            "/api/auth/register",
            json!({"email": email, "password": password, "name": name}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Answer {
        self.post("/api/auth/login", json!({"email": email, "password": password}))
            .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Answer {
        self.post("/api/auth/refresh", json!({"refresh_token": refresh_token}))
            .await
    }

    pub async fn logout(&self, refresh_token: &str) -> StatusCode {
        self.http
            .post(format!("{}/api/auth/logout", self.base))
            .json(&json!({"refresh_token": refresh_token}))
            .send()
            .await
            .expect("customer answers")
            .status()
    }

    pub async fn me(&self, access_token: &str) -> Answer {
        Answer::from(
            self.http
                .get(format!("{}/api/me", self.base))
                .bearer_auth(access_token)
                .send()
                .await
                .expect("customer answers"),
        )
        .await
    }

    /// A GET of `path` as the bearer of `access_token`.
    pub async fn get_as(&self, path: &str, access_token: &str) -> Answer {
        let request = self.http.get(format!("{}{path}", self.base)).bearer_auth(access_token);
        Answer::from(request.send().await.expect("customer answers")).await
    }

    /// A POST of `body` to `path` as the bearer of `access_token`.
    pub async fn post_as(&self, path: &str, access_token: &str, body: Value) -> Answer {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(access_token)
            .json(&body);
        Answer::from(request.send().await.expect("customer answers")).await
    }

    /// Registers and logs in; returns the login answer's body.
    pub async fn signed_up(&self, email: &str) -> Value {
        let registered = self.register(email, "correct horse battery", "Test Shopper").await;
        assert_eq!(registered.status, StatusCode::CREATED, "{:?}", registered.body);
        let login = self.login(email, "correct horse battery").await;
        assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
        login.body
    }
}

/// A unique email for this test.
pub fn email(label: &str) -> String {
    format!(
        "{label}-{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// A JSON client for product-order, acting as one caller (a bearer token, a guest cart
/// token, or nobody).
#[derive(Clone)]
pub struct ProductOrderApi {
    pub base: String,
    pub http: Client,
    pub bearer: Option<String>,
    pub cart_token: Option<String>,
}

impl ProductOrderApi {
    pub fn anonymous(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: Client::new(),
            bearer: None,
            cart_token: None,
        }
    }

    pub fn as_user(base: &str, access_token: &str) -> Self {
        Self {
            bearer: Some(access_token.to_owned()),
            ..Self::anonymous(base)
        }
    }

    pub fn as_guest(base: &str, cart_token: &str) -> Self {
        Self {
            cart_token: Some(cart_token.to_owned()),
            ..Self::anonymous(base)
        }
    }

    /// A request as this caller, to send as it is.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        if let Some(token) = &self.cart_token {
            request = request.header("x-cart-token", token);
        }
        request
    }

    pub async fn get(&self, path: &str) -> Answer {
        Answer::from(
            self.request(reqwest::Method::GET, path)
                .send()
                .await
                .expect("product-order answers"),
        )
        .await
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Answer {
        Answer::from(
            self.request(method, path)
                .json(&body)
                .send()
                .await
                .expect("product-order answers"),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        Answer::from(
            self.request(reqwest::Method::DELETE, path)
                .send()
                .await
                .expect("product-order answers"),
        )
        .await
    }

    /// Creates a product (as operator) and returns its body.
    pub async fn create_product(&self, sku: &str, name: &str, price: i64, stock: i64) -> Value {
        let answer = self
            .send(
                reqwest::Method::POST,
                "/api/products",
                json!({"sku": sku, "name": name, "description": format!("About {name}"), "price": price, "currency": "EUR", "stock": stock}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body
    }

    /// Changes a product (as operator): `change` is the PATCH body.
    pub async fn update_product(&self, product_id: &str, change: Value) -> Answer {
        self.send(reqwest::Method::PATCH, &format!("/api/products/{product_id}"), change)
            .await
    }

    /// Moves an order to `status` (as operator).
    pub async fn move_order(&self, order_id: &str, status: &str) -> Answer {
        self.send(
            reqwest::Method::PATCH,
            &format!("/api/ops/orders/{order_id}/status"),
            json!({"status": status}),
        )
        .await
    }

    pub async fn set_quantity(&self, product_id: &str, quantity: i64) -> Answer {
        self.send(
            reqwest::Method::PUT,
            &format!("/api/cart/items/{product_id}"),
            json!({"quantity": quantity}),
        )
        .await
    }
}

impl ProductOrderApi {
    /// `details` with the cart's total and currency now as `reviewed`: the body of a checkout
    /// by a shopper who has just looked at the cart.
    pub async fn reviewed(&self, details: Value) -> Value {
        let cart = self.get("/api/cart").await.body;
        let mut body = details;
        body["reviewed"] = json!({"total": cart["total"], "currency": cart["currency"]});
        body
    }

    /// Asks for a checkout of the caller's cart with `details`, as a shopper who has just
    /// looked at the cart.
    pub async fn checkout(&self, idempotency_key: &str, details: Value) -> Answer {
        let body = self.reviewed(details).await;
        self.checkout_with(idempotency_key, &body).await
    }

    /// Asks for a checkout of the caller's cart with `body` as it is.
    pub async fn checkout_with(&self, idempotency_key: &str, body: &Value) -> Answer {
        Answer::from(
            self.request(reqwest::Method::POST, "/api/checkout")
                .header("idempotency-key", idempotency_key)
                .json(body)
                .send()
                .await
                .expect("product-order answers"),
        )
        .await
    }

    /// Polls the checkout until it ends (completed, failed or stuck) and returns its body.
    pub async fn finished_checkout(&self, checkout_id: &str) -> Value {
        let path = format!("/api/checkouts/{checkout_id}");
        eventually("the checkout to end", std::time::Duration::from_secs(60), async || {
            let answer = self.get(&path).await;
            assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
            matches!(answer.body["state"].as_str(), Some("completed" | "failed" | "stuck")).then_some(answer.body)
        })
        .await
    }
}

/// Polls `attempt` until it gives a value, failing the test with `what` after `deadline`.
pub async fn eventually<T>(
    what: &str,
    deadline: std::time::Duration,
    mut attempt: impl AsyncFnMut() -> Option<T>,
) -> T {
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Contact and delivery details that pass validation.
pub fn valid_details() -> Value {
    json!({
        "contact": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0958"},
        "delivery": {"line1": "12 St James's Square", "line2": "", "city": "London", "postal_code": "SW1Y 4LB", "country": "GB"}
    })
}

/// A queue of this test's own, bound to order events on `shop.events`; dropped with its
/// connection.
pub struct EventTap {
    channel: lapin::Channel,
    queue: String,
    _connection: lapin::Connection,
}

impl EventTap {
    pub async fn open(shop: &testkit::TestShop) -> Self {
        let amqp_url = shop.amqp_url.as_str();
        use lapin::options::{QueueBindOptions, QueueDeclareOptions};
        let connection = lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ answers");
        let channel = connection.create_channel().await.expect("a channel");
        let queue = format!("test.events.{}", uuid::Uuid::new_v4().simple());
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await
            .expect("a test queue");
        channel
            .exchange_declare(
                shop.events_exchange.as_str().into(),
                lapin::ExchangeKind::Topic,
                lapin::options::ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await
            .expect("the events exchange");
        channel
            .queue_bind(
                queue.as_str().into(),
                shop.events_exchange.as_str().into(),
                "order.*".into(),
                QueueBindOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await
            .expect("the binding");
        Self {
            channel,
            queue,
            _connection: connection,
        }
    }

    /// Every event waiting on the queue now: (routing key, message id, body).
    pub async fn drain(&self) -> Vec<(String, String, Value)> {
        let mut events = Vec::new();
        while let Some(message) = self
            .channel
            .basic_get(
                self.queue.as_str().into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
            .expect("basic.get")
        {
            let delivery = &message.delivery;
            let message_id = delivery
                .properties
                .message_id()
                .as_ref()
                .map(|id| id.to_string())
                .unwrap_or_default();
            let body: Value = serde_json::from_slice(&delivery.data).expect("events are JSON");
            events.push((delivery.routing_key.to_string(), message_id, body));
        }
        events
    }
}

/// A shop with an operator account, and that operator's access token and id.
pub struct OperatedShop {
    pub shop: testkit::TestShop,
    pub operator_token: String,
    pub operator_id: String,
}

pub async fn operated_shop() -> OperatedShop {
    operated_shop_with(|_| {}).await
}

/// An operated shop whose product-order settings `customize` adjusts.
pub async fn operated_shop_with(customize: impl FnOnce(&mut product_order::Settings)) -> OperatedShop {
    operated_shop_custom(|_| {}, customize).await
}

/// An operated shop whose customer and product-order settings the closures adjust.
pub async fn operated_shop_custom(
    customize_customer: impl FnOnce(&mut customer::Settings),
    customize_product_order: impl FnOnce(&mut product_order::Settings),
) -> OperatedShop {
    let operator = email("ops");
    let configured = (
        operator.clone(),
        secrecy::SecretString::from("operator password".to_owned()),
    );
    let shop = testkit::TestShop::start_custom(
        |s| {
            s.operator = Some(configured);
            customize_customer(s);
        },
        customize_product_order,
    )
    .await;
    let api = CustomerApi::new(&shop.customer_url);
    let login = api.login(&operator, "operator password").await;
    let operator_token = login.body["access_token"].as_str().unwrap().to_owned();
    let operator_id = api.me(&operator_token).await.body["id"].as_str().unwrap().to_owned();
    OperatedShop {
        shop,
        operator_token,
        operator_id,
    }
}

/// A random guest cart token like the web front makes.
pub fn guest_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// A proxy in front of the test broker, and the AMQP URL that goes through it: cutting the
/// proxy takes the broker away from the services using that URL only.
pub async fn broker_behind_proxy() -> (testkit::TcpProxy, String) {
    let amqp = url::Url::parse(&testkit::infra().await.amqp_url).expect("a valid AMQP URL");
    let broker = tokio::net::lookup_host((amqp.host_str().unwrap_or("127.0.0.1"), amqp.port().unwrap_or(5672)))
        .await
        .expect("the broker's host resolves")
        .next()
        .expect("an address for the broker");
    let proxy = testkit::TcpProxy::start(broker).await;
    let mut through_proxy = amqp;
    through_proxy.set_host(Some("127.0.0.1")).expect("a host");
    through_proxy.set_port(Some(proxy.addr.port())).expect("a port");
    (proxy, through_proxy.to_string())
}

/// Starts a customer replica that applies order events, waits until it consumes its queue (so
/// the queue is declared and bound: events from now on wait there for it), then stops it: the
/// test's events pile up until the next replica starts.
pub async fn declare_customer_queue_then_stop(shop: &testkit::TestShop) -> customer::Settings {
    let mut applier = shop.customer_settings();
    applier.events.workers = true;
    let first = testkit::Replica::customer(applier.clone()).await;
    let connection = lapin::Connection::connect(&shop.amqp_url, lapin::ConnectionProperties::default())
        .await
        .expect("RabbitMQ answers");
    consumed(&connection, &shop.customer_events_queue).await;
    first.stop().await;
    applier
}

/// Waits until `queue` has a consumer (customer declared and bound it, and takes from it).
pub async fn consumed(connection: &lapin::Connection, queue: &str) {
    eventually(
        "customer consuming its queue",
        std::time::Duration::from_secs(10),
        async || {
            let channel = connection.create_channel().await.ok()?;
            let passive = lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            let declared = channel
                .queue_declare(queue.into(), passive, Default::default())
                .await
                .ok()?;
            (declared.consumer_count() > 0).then_some(())
        },
    )
    .await;
}

/// Publishes a raw message straight to the shop's customer queue (not through `shop.events`, so
/// no other test's shop sees it), once customer consumes it.
pub async fn publish_to_customer(shop: &testkit::TestShop, kind: &str, message_id: &str, body: &[u8]) {
    let connection = lapin::Connection::connect(&shop.amqp_url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    consumed(&connection, &shop.customer_events_queue).await;
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    channel
        .basic_publish(
            "".into(),
            shop.customer_events_queue.as_str().into(),
            lapin::options::BasicPublishOptions::default(),
            body,
            lapin::BasicProperties::default()
                .with_message_id(message_id.into())
                .with_type(kind.into())
                .with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let _ = connection.close(200, "done".into()).await;
}

pub fn placed_event(event_id: uuid::Uuid, order_id: uuid::Uuid, customer_id: &str) -> Value {
    json!({
        "event_id": event_id, "occurred_at": chrono::Utc::now(), "order_id": order_id, "customer_id": customer_id,
        "lines": [{"product_id": uuid::Uuid::new_v4(), "sku": "TEA-1", "name": "Sencha", "unit_price": 1290, "quantity": 1}],
        "total": 1290, "currency": "EUR",
        "contact": {"name": "Ada", "email": "ada@example.com", "phone": "+44 20 7946 0958"},
        "delivery": {"line1": "1 Road", "line2": "", "city": "London", "postal_code": "SW1A 1AA", "country": "GB"},
        "status": "placed", "version": 1
    })
}

pub fn status_event(
    order_id: uuid::Uuid,
    customer_id: &str,
    version: i64,
    previous: &str,
    status: &str,
) -> (uuid::Uuid, Value) {
    let event_id = uuid::Uuid::new_v4();
    let body = json!({
        "event_id": event_id, "occurred_at": chrono::Utc::now(), "order_id": order_id, "customer_id": customer_id,
        "status": status, "previous_status": previous, "version": version, "reason": null
    });
    (event_id, body)
}

pub async fn send_event(shop: &testkit::TestShop, kind: &str, event_id: uuid::Uuid, body: &Value) {
    publish_to_customer(shop, kind, &event_id.to_string(), &serde_json::to_vec(body).unwrap()).await;
}

/// Both services' databases, for tests that check what each holds.
pub struct Stores {
    pub product_order: sqlx::PgPool,
    pub customer: sqlx::PgPool,
}

impl Stores {
    pub async fn connect(product_order_url: &str, customer_url: &str) -> Self {
        Self {
            product_order: sqlx::PgPool::connect(product_order_url)
                .await
                .expect("product-order's database"),
            customer: sqlx::PgPool::connect(customer_url).await.expect("customer's database"),
        }
    }
}

/// Attempts left marked running where no worker can be running them, one line each: on an
/// instance that ended or waits for an operator, away from its instance's position, or beside
/// a later running attempt of the same instance. A worker records an attempt as running only
/// at the position it holds, and whoever moves the instance on closes it, so none may stay.
pub async fn stray_attempts(pool: &sqlx::PgPool, instances: Option<&[uuid::Uuid]>) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(uuid::Uuid, String, String, i32, String)> = sqlx::query_as(
        "SELECT i.id, a.step_name, a.phase, a.attempt, i.state FROM saga.attempts a \
         JOIN saga.instances i ON i.id = a.instance_id \
         WHERE a.outcome = 'running' AND ($1::uuid[] IS NULL OR i.id = ANY($1)) \
           AND (i.state NOT IN ('running', 'compensating') \
                OR (a.step, a.phase, a.attempt) IS DISTINCT FROM (i.step, i.phase, i.attempts) \
                OR EXISTS (SELECT 1 FROM saga.attempts b \
                           WHERE b.instance_id = a.instance_id AND b.outcome = 'running' AND b.id > a.id)) \
         ORDER BY a.id",
    )
    .bind(instances)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, step, phase, attempt, state)| {
            format!("saga {id} ({state}) still has {step} ({phase}) attempt {attempt} marked running")
        })
        .collect())
}
