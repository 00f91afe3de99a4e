//! A browser for the page tests: cookies kept, redirects not followed, and the CSRF token of
//! the last full page sent with the next form, as a real browser would.

use reqwest::header::HeaderMap;
use reqwest::{Client, StatusCode, redirect};

use crate::helpers::{CustomerApi, OperatedShop};

/// The password page tests register with.
pub const PASSWORD: &str = "correct horse battery";

pub struct Browser {
    base: String,
    http: Client,
    csrf: String,
}

pub struct Page {
    pub status: StatusCode,
    pub html: String,
}

impl Browser {
    /// A browser on the web front at `base`, having loaded the home page.
    pub async fn open(base: &str) -> Self {
        Self::open_with(base, HeaderMap::new()).await
    }

    /// A browser at `address` reaching web through the proxy in front of it (which web's
    /// test settings trust), as seen from the proxy: every request says `X-Forwarded-For`.
    pub async fn open_from(base: &str, address: &str) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().expect("an address"));
        Self::open_with(base, headers).await
    }

    async fn open_with(base: &str, headers: HeaderMap) -> Self {
        let http = Client::builder()
            .cookie_store(true)
            .redirect(redirect::Policy::none())
            .default_headers(headers)
            .build()
            .expect("an HTTP client");
        let mut browser = Self {
            base: base.to_owned(),
            http,
            csrf: String::new(),
        };
        browser.get("/").await;
        browser
    }

    async fn request(&self, path: &str, htmx_target: Option<Option<&str>>) -> Page {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(target) = htmx_target {
            request = request.header("hx-request", "true");
            if let Some(target) = target {
                request = request.header("hx-target", target);
            }
        }
        let response = request.send().await.expect("web answers");
        Page {
            status: response.status(),
            html: response.text().await.expect("a body"),
        }
    }

    /// The raw answer to a GET (to see a redirect and where it leads).
    pub async fn visit(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("web answers")
    }

    /// A page load that leaves the forms' CSRF token as it was.
    pub async fn load(&self, path: &str) -> Page {
        self.request(path, None).await
    }

    /// A full page load; its CSRF token is used by the next forms.
    pub async fn get(&mut self, path: &str) -> Page {
        let page = self.load(path).await;
        if let Some(token) = hidden_value(&page.html, "csrf_token") {
            self.csrf = token;
        }
        page
    }

    /// What htmx gets when it asks for `path`.
    pub async fn htmx_get(&self, path: &str) -> Page {
        self.request(path, Some(None)).await
    }

    /// What htmx gets when it asks for `path` to swap the element with id `target`.
    pub async fn htmx_get_part(&self, path: &str, target: &str) -> Page {
        self.request(path, Some(Some(target))).await
    }

    /// Submits a form.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.send_form(path, fields, false).await
    }

    /// Submits `body` as a urlencoded form as it is, with the CSRF token after it.
    pub async fn post_raw(&self, path: &str, body: &str) -> reqwest::Response {
        let body = format!("{body}&csrf_token={}", self.csrf);
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("web answers")
    }

    /// Submits a form through htmx (which also sends the token as a header).
    pub async fn htmx_post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.send_form(path, fields, true).await
    }

    async fn send_form(&self, path: &str, fields: &[(&str, &str)], htmx: bool) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &self.csrf));
        let mut request = self.http.post(format!("{}{path}", self.base)).form(&form);
        if htmx {
            request = request.header("hx-request", "true").header("x-csrf-token", &self.csrf);
        }
        request.send().await.expect("web answers")
    }

    /// Submits a multipart form with the CSRF token (unless `with_token` is false) and one file,
    /// as a browser sends a form with `enctype="multipart/form-data"`.
    pub async fn upload(
        &self,
        path: &str,
        field: &str,
        file_name: &str,
        file: &[u8],
        with_token: bool,
    ) -> reqwest::Response {
        const BOUNDARY: &str = "----shop-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        if with_token {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{}\r\n",
                    self.csrf
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(body)
            .send()
            .await
            .expect("web answers")
    }

    /// The operator of `ops`, logged in through the pages.
    pub async fn operator(ops: &OperatedShop) -> Self {
        let me = CustomerApi::new(&ops.shop.customer_url).me(&ops.operator_token).await;
        let address = me.body["email"].as_str().unwrap().to_owned();
        let mut browser = Self::open(&ops.shop.web_url).await;
        browser.log_in(&address, "operator password").await;
        browser
    }

    pub async fn log_in(&mut self, address: &str, password: &str) {
        self.get("/login").await;
        let response = self.post("/login", &[("email", address), ("password", password)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "logging in as {address}");
    }

    /// Registers through the page (with `PASSWORD`), which signs the browser in.
    pub async fn register(&mut self, address: &str, name: &str) {
        self.get("/register").await;
        let fields = [("email", address), ("name", name), ("password", PASSWORD)];
        let response = self.post("/register", &fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "registering {address}");
    }

    pub async fn add_to_cart(&mut self, product_id: &str, quantity: &str) {
        self.get(&format!("/products/{product_id}")).await;
        let response = self
            .post("/cart/items", &[("product_id", product_id), ("quantity", quantity)])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "adding to the cart");
    }
}

/// The value of the hidden input named `name`.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    html[start..].split('"').next().map(str::to_owned)
}
