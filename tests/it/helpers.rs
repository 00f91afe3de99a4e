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

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
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

    pub async fn set_quantity(&self, product_id: &str, quantity: i64) -> Answer {
        self.send(
            reqwest::Method::PUT,
            &format!("/api/cart/items/{product_id}"),
            json!({"quantity": quantity}),
        )
        .await
    }
}

/// A shop with an operator account, and that operator's access token and id.
pub struct OperatedShop {
    pub shop: testkit::TestShop,
    pub operator_token: String,
    pub operator_id: String,
}

pub async fn operated_shop() -> OperatedShop {
    let operator = email("ops");
    let configured = (
        operator.clone(),
        secrecy::SecretString::from("operator password".to_owned()),
    );
    let shop = testkit::TestShop::start_with(|s| s.operator = Some(configured)).await;
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
