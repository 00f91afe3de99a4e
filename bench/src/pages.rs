//! The page render benchmark: the web front's pages a shopper sees most (product list, product,
//! cart, order), each against the API call that carries its content, sent straight to the
//! service at the same concurrency in the same run. The ratio is what the web layer costs: the
//! page's calls to the services (the content and the cart badge), the template, one more hop.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;

use crate::Options;
use crate::catalog::drop_database;
use crate::load::{Probe, measure, whole_answer};
use crate::report::{Row, Section, Verdict};

/// Products in the catalog the pages list.
const PRODUCTS: usize = 1_000;
/// The web product list's page size (web/src/catalog), asked of the API alike.
const LIST_PAGE: u32 = 12;
const PASSWORD: &str = "bench password 1234";

/// A GET with the given headers whose whole body is read; anything but 2xx is an error.
struct Get {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
}

impl Probe for Get {
    async fn once(&self) -> Result<(), String> {
        whole_answer(self.client.get(&self.url).headers(self.headers.clone()).send().await).await
    }
}

/// A page and the API call that carries its content.
struct PageCase {
    name: &'static str,
    page: String,
    api: String,
    /// "customer" or "product-order", for the table.
    service: &'static str,
    api_headers: HeaderMap,
}

pub async fn run(options: &Options) -> anyhow::Result<Section> {
    eprintln!("pages: starting the shop in-process...");
    let shop = testkit::TestShop::start().await;
    let result = bench(options, &shop).await;
    let databases = [
        shop.customer_database_url.clone(),
        shop.product_order_database_url.clone(),
    ];
    shop.stop().await;
    if !options.keep_db {
        for url in databases {
            if let Err(e) = drop_database(&url).await {
                eprintln!("pages: could not drop the database at {url}: {e:#}");
            }
        }
    }
    result
}

async fn bench(options: &Options, shop: &testkit::TestShop) -> anyhow::Result<Section> {
    let concurrency = options.concurrency;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;

    eprintln!("pages: loading {PRODUCTS} products, a shopper, a cart and an order...");
    let started = Instant::now();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&shop.product_order_database_url)
        .await
        .context("connecting to product-order's database")?;
    let loaded = product_order::catalog::demo::generate(&pool, PRODUCTS)
        .await
        .context("generating products")?;
    sqlx::raw_sql("VACUUM (ANALYZE) products").execute(&pool).await?;
    let product_ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM products WHERE active AND stock >= 10 ORDER BY created_at DESC LIMIT 3")
            .fetch_all(&pool)
            .await?;
    pool.close().await;
    if product_ids.len() < 3 {
        bail!("the generated catalog has fewer than 3 products in stock");
    }

    let email = format!("pages-{}@example.com", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let token = sign_up(&client, &shop.customer_url, &email).await?;
    let bearer = headers([("authorization", format!("Bearer {token}"))])?;
    let po = &shop.product_order_url;
    // An order first (its checkout empties the cart), then the cart the cart page shows.
    for id in &product_ids[..2] {
        put_in_cart(&client, po, &bearer, id, 1).await?;
    }
    let order_id = place_order(&client, po, &shop.customer_url, &bearer).await?;
    for (id, quantity) in product_ids.iter().zip([1, 2, 3]) {
        put_in_cart(&client, po, &bearer, id, quantity).await?;
    }
    let session = web_session(&client, &shop.web_url, &email).await?;
    let seeded = started.elapsed();

    let product_id = product_ids[0];
    let cases = [
        PageCase {
            name: "Product list",
            page: "/products".into(),
            api: format!("{po}/api/products?limit={LIST_PAGE}"),
            service: "product-order",
            api_headers: HeaderMap::new(),
        },
        PageCase {
            name: "Product",
            page: format!("/products/{product_id}"),
            api: format!("{po}/api/products/{product_id}"),
            service: "product-order",
            api_headers: HeaderMap::new(),
        },
        PageCase {
            name: "Cart (signed in)",
            page: "/cart".into(),
            api: format!("{po}/api/cart"),
            service: "product-order",
            api_headers: bearer.clone(),
        },
        PageCase {
            name: "Order (signed in)",
            page: format!("/orders/{order_id}"),
            api: format!("{}/api/orders/{order_id}", shop.customer_url),
            service: "customer",
            api_headers: bearer.clone(),
        },
    ];

    let mut rows = Vec::new();
    for case in cases {
        eprintln!("pages: {}: web page...", case.name);
        let page = measure(
            Arc::new(Get {
                client: client.clone(),
                url: format!("{}{}", shop.web_url, case.page),
                headers: session.clone(),
            }),
            concurrency,
            options.warmup,
            options.duration,
        )
        .await;
        eprintln!("pages: {}: API baseline...", case.name);
        let api = measure(
            Arc::new(Get {
                client: client.clone(),
                url: case.api.clone(),
                headers: case.api_headers.clone(),
            }),
            concurrency,
            options.warmup,
            options.duration,
        )
        .await;
        let ratio = page.per_second() / api.per_second();
        let failed = |errors: usize| (errors > 0).then(|| Verdict::Failed(format!("{errors} errors")));
        rows.push(Row {
            case: format!("{} `GET {}`", case.name, short(&case.page)),
            via: "web (page)".into(),
            verdict: failed(page.errors).unwrap_or(Verdict::Info("no goal set".into())),
            stats: page,
            ratio: Some(ratio),
        });
        rows.push(Row {
            case: String::new(),
            via: format!("{} API `GET {}`", case.service, short(path_of(&case.api))),
            verdict: failed(api.errors).unwrap_or(Verdict::Baseline),
            stats: api,
            ratio: None,
        });
    }

    let mut notes = vec![
        format!(
            "Seeded in {:.1} s: {loaded} generated products, one shopper signed up over the API and signed in to the \
             web front through its login form, one order placed through the checkout, and a cart of 3 lines.",
            seeded.as_secs_f64()
        ),
        "A page answer is the whole HTML; the web front asks product-order for the content and for the cart \
         badge (the cart, for a signed-in shopper), renders the askama template and answers. Its baseline is the API \
         call with the page's content, sent straight to the service: the ratio is the share of the API's rate the \
         page keeps."
            .into(),
        format!(
            "The load generator is {concurrency} tokio tasks in the same process as the shop, over keep-alive \
             connections; testkit's settings (product-order's database pool 5 connections, customer's 5)."
        ),
    ];
    for row in &rows {
        if let Some(error) = &row.stats.first_error {
            notes.push(format!("First error of {} {}: {error}", row.case, row.via));
        }
    }
    Ok(Section {
        title: "Pages".into(),
        counted: "Requests",
        ratio: "Page / API",
        goal: "Goal (none set by the issues)".into(),
        rows,
        notes,
    })
}

fn headers<const N: usize>(pairs: [(&'static str, String); N]) -> anyhow::Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(name, value.parse()?);
    }
    Ok(map)
}

async fn sign_up(client: &reqwest::Client, customer: &str, email: &str) -> anyhow::Result<String> {
    let registered = client
        .post(format!("{customer}/api/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD, "name": "Page Bench"}))
        .send()
        .await?;
    if registered.status() != StatusCode::CREATED {
        bail!("register: HTTP {}: {}", registered.status(), registered.text().await?);
    }
    let login: Value = client
        .post(format!("{customer}/api/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(login["access_token"].as_str().context("no access token")?.to_owned())
}

async fn put_in_cart(
    client: &reqwest::Client,
    po: &str,
    bearer: &HeaderMap,
    product: &uuid::Uuid,
    quantity: i64,
) -> anyhow::Result<()> {
    client
        .put(format!("{po}/api/cart/items/{product}"))
        .headers(bearer.clone())
        .json(&json!({ "quantity": quantity }))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// Checks the cart out as just reviewed and waits until customer has the order; its id.
async fn place_order(client: &reqwest::Client, po: &str, customer: &str, bearer: &HeaderMap) -> anyhow::Result<String> {
    let cart: Value = client
        .get(format!("{po}/api/cart"))
        .headers(bearer.clone())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let body = json!({
        "contact": {"name": "Page Bench", "email": "pages@example.com", "phone": "+49 30 1234567"},
        "delivery": {"line1": "Hauptstr. 1", "line2": "", "city": "Berlin", "postal_code": "10115", "country": "DE"},
        "reviewed": {"total": cart["total"], "currency": cart["currency"]}
    });
    let accepted: Value = client
        .post(format!("{po}/api/checkout"))
        .headers(bearer.clone())
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let checkout = accepted["checkout_id"].as_str().context("no checkout id")?.to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let order_id = loop {
        let status: Value = client
            .get(format!("{po}/api/checkouts/{checkout}"))
            .headers(bearer.clone())
            .send()
            .await?
            .json()
            .await?;
        match (status["state"].as_str(), status["order_id"].as_str()) {
            (Some("completed"), Some(order)) => break order.to_owned(),
            (Some("failed" | "stuck"), _) => bail!("the seeding checkout failed: {status}"),
            _ if Instant::now() > deadline => bail!("the seeding checkout did not complete in 30 s: {status}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    loop {
        let answer = client
            .get(format!("{customer}/api/orders/{order_id}"))
            .headers(bearer.clone())
            .send()
            .await?;
        if answer.status().is_success() {
            return Ok(order_id);
        }
        if Instant::now() > deadline {
            bail!("customer did not get order {order_id} in 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs in through the web front's login form; the session's `Cookie` header.
async fn web_session(client: &reqwest::Client, web: &str, email: &str) -> anyhow::Result<HeaderMap> {
    let mut jar = BTreeMap::new();
    let form = client.get(format!("{web}/login")).send().await?;
    keep_cookies(&mut jar, form.headers());
    let html = form.text().await?;
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).context("no CSRF token on /login")? + marker.len();
    let csrf = html[start..].split('"').next().unwrap_or_default().to_owned();
    let answer = client
        .post(format!("{web}/login"))
        .header(COOKIE, cookie_header(&jar))
        .form(&[("email", email), ("password", PASSWORD), ("csrf_token", &csrf)])
        .send()
        .await?;
    if answer.status() != StatusCode::SEE_OTHER {
        bail!("web login: HTTP {}", answer.status());
    }
    keep_cookies(&mut jar, answer.headers());
    headers([("cookie", cookie_header(&jar))])
}

fn keep_cookies(jar: &mut BTreeMap<String, String>, headers: &HeaderMap) {
    for value in headers.get_all(SET_COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        if let Some((name, rest)) = value.split(';').next().and_then(|pair| pair.split_once('=')) {
            jar.insert(name.trim().to_owned(), rest.trim().to_owned());
        }
    }
}

fn cookie_header(jar: &BTreeMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The path and query of a URL.
fn path_of(url: &str) -> &str {
    url.find("/api/").map_or(url, |i| &url[i..])
}

/// A path with ids shortened, for the table.
fn short(path: &str) -> String {
    path.split('/')
        .map(|part| match uuid::Uuid::parse_str(part) {
            Ok(_) => "{id}",
            Err(_) => part,
        })
        .collect::<Vec<_>>()
        .join("/")
}
