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
