//! The catalog benchmark: `GET /api/products?limit=20` (first page, a deep page by cursor,
//! searches) and the web product list, each API case against the same query issued straight to
//! PostgreSQL through sqlx, at the same concurrency and with the same load generator.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use product_order::catalog::store::{self, After, Listing, Search, Sort};
use product_order::catalog::word_stats::WordStats;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::Options;
use crate::load::{Probe, measure, whole_answer};
use crate::report::{Row, Section, Verdict};

/// The API must serve at least this share of the baseline's rate...
const MIN_RATIO: f64 = 0.5;
/// ...with its 99th percentile latency under this.
const MAX_P99: Duration = Duration::from_millis(20);

const PAGE: i64 = 20;
/// What shoppers type, in turn, with the share of generated products each matches (the
/// generator names products "<adjective> <origin> <kind> No. <n>", ten of each, and describes
/// them with the same words). The search case also looks up one product by its SKU.
const SEARCHES: [(&str, &str); 5] = [
    ("smoky yunnan", "1 in 100"),
    ("kenya kettle", "1 in 100"),
    ("oolong", "1 in 10"),
    ("white tea", "1 in 10"),
    ("matcha", "none"),
];

/// Takes its targets in turn, one per request, across all clients.
struct InTurn<T> {
    targets: Vec<T>,
    next: AtomicUsize,
}

impl<T> InTurn<T> {
    fn new(targets: Vec<T>) -> Self {
        Self {
            targets,
            next: AtomicUsize::new(0),
        }
    }

    fn next(&self) -> &T {
        &self.targets[self.next.fetch_add(1, Ordering::Relaxed) % self.targets.len()]
    }
}

/// A GET whose whole body is read; anything but 2xx is an error.
struct HttpGet {
    client: reqwest::Client,
    urls: InTurn<String>,
}

impl Probe for HttpGet {
    async fn once(&self) -> Result<(), String> {
        whole_answer(self.client.get(self.urls.next()).send().await).await
    }
}

/// The listing query product-order runs for a page, issued through its own `store::list`.
struct SqlList {
    pool: PgPool,
    queries: InTurn<PageQuery>,
}

/// One page's parameters, as the API derives them from `limit`, `q` and `cursor`.
#[derive(Clone)]
struct PageQuery {
    search: Option<Search>,
    after: Option<After>,
    /// Read as the API reads them, to choose how a search runs; one set shared by every
    /// query of a run, as one product-order shares its own.
    word_stats: WordStats,
}

impl PageQuery {
    fn new(q: Option<&str>, after: Option<After>, word_stats: &WordStats) -> Self {
        Self {
            search: q.and_then(Search::parse),
            after,
            word_stats: word_stats.clone(),
        }
    }

    async fn run(&self, pool: &PgPool) -> sqlx::Result<Vec<store::Product>> {
        let search_share = match &self.search {
            Some(search) => self.word_stats.share_matching(pool, search).await,
            None => None,
        };
        let listing = Listing {
            search: self.search.as_ref(),
            search_share,
            sort: Sort::Newest,
            after: self.after.as_ref(),
            // The API asks for one more than the page to know whether another follows.
            limit: PAGE + 1,
            include_inactive: false,
        };
        store::list(pool, &listing).await
    }
}

impl Probe for SqlList {
    async fn once(&self) -> Result<(), String> {
        self.queries
            .next()
            .run(&self.pool)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

struct ApiCase {
    name: &'static str,
    /// What the table shows of the requests.
    label: String,
    /// Each path and query (after the service's base URL) with the query it stands for; the
    /// requests take them in turn.
    pages: Vec<(String, PageQuery)>,
}

pub async fn run(options: &Options) -> anyhow::Result<Section> {
    eprintln!("catalog: starting the shop in-process...");
    let shop = testkit::TestShop::start().await;
    let result = bench(options, &shop).await;
    let (customer_db, product_order_db) = (
        shop.customer_database_url.clone(),
        shop.product_order_database_url.clone(),
    );
    shop.stop().await;
    if options.keep_db {
        eprintln!("catalog: kept the product-order database {product_order_db}");
    } else {
        for url in [customer_db, product_order_db] {
            if let Err(e) = drop_database(&url).await {
                eprintln!("catalog: could not drop the database at {url}: {e:#}");
            }
        }
    }
    result
}

async fn bench(options: &Options, shop: &testkit::TestShop) -> anyhow::Result<Section> {
    let concurrency = options.concurrency;
    let pool = PgPoolOptions::new()
        .max_connections(concurrency as u32)
        .min_connections(concurrency as u32)
        .acquire_timeout(Duration::from_secs(30))
        .connect(&shop.product_order_database_url)
        .await
        .context("connecting to product-order's database")?;
    let postgres: String = sqlx::query_scalar("SHOW server_version").fetch_one(&pool).await?;

    eprintln!("catalog: loading {} products...", options.products);
    let started = Instant::now();
    let loaded = product_order::catalog::demo::generate(&pool, options.products)
        .await
        .context("generating products")?;
    let load_time = started.elapsed();
    let started = Instant::now();
    // VACUUM as well as ANALYZE: it sets the visibility map and the statistics, the state
    // autovacuum would reach soon anyway; without it autovacuum may start mid-run.
    sqlx::raw_sql("VACUUM (ANALYZE) products").execute(&pool).await?;
    let analyze_time = started.elapsed();
    eprintln!("catalog: loaded {loaded} products in {load_time:.1?}, VACUUM (ANALYZE) in {analyze_time:.1?}");

    // The deep page starts after the product halfway down the listing, with the cursor encoded
    // as product-order encodes it.
    let deep_rank = (loaded / 2).max(1);
    let deep: Option<(DateTime<Utc>, Uuid, String)> = sqlx::query_as(
        "SELECT created_at, id, sku FROM products WHERE active ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1",
    )
    .bind((deep_rank - 1) as i64)
    .fetch_optional(&pool)
    .await?;
    let Some((created_at, id, deep_sku)) = deep else {
        bail!("no products to page through (--products {})", options.products);
    };
    let after = After::Newest { created_at, id };
    let cursor = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&after)?);

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let po = &shop.product_order_url;
    let first_page = format!("/api/products?limit={PAGE}");
    let deep_page = format!("/api/products?limit={PAGE}&cursor={cursor}");
    let word_stats = WordStats::default();
    let searches: Vec<String> = SEARCHES
        .iter()
        .map(|(q, _)| q.to_string())
        .chain([deep_sku.clone()])
        .collect();
    let cases = [
        ApiCase {
            name: "First page",
            label: first_page.clone(),
            pages: vec![(first_page, PageQuery::new(None, None, &word_stats))],
        },
        ApiCase {
            name: "Deep page (cursor)",
            label: short(&deep_page),
            pages: vec![(deep_page, PageQuery::new(None, Some(after), &word_stats))],
        },
        ApiCase {
            name: "Search",
            label: format!("/api/products?limit={PAGE}&q=… ({} terms in turn)", searches.len()),
            pages: searches
                .iter()
                .map(|q| {
                    let path = format!("/api/products?limit={PAGE}&q={}", q.replace(' ', "%20"));
                    (path, PageQuery::new(Some(q), None, &word_stats))
                })
                .collect(),
        },
    ];

    let mut rows = Vec::new();
    let mut notes = vec![
        format!(
            "{loaded} generated products loaded in {:.1} s, then `VACUUM (ANALYZE) products` in {:.2} s; PostgreSQL {postgres}.",
            load_time.as_secs_f64(),
            analyze_time.as_secs_f64()
        ),
        format!("Deep page: the page after product {deep_rank} of {loaded} in newest-first order, by cursor."),
        search_note(&shop.product_order_database_url, &deep_sku).await?,
    ];
    for case in cases {
        let mut check = Ok(());
        for (path, query) in &case.pages {
            if check.is_ok() {
                check = same_answer(&client, &format!("{po}{path}"), &pool, query)
                    .await
                    .map_err(|e| format!("{path}: {e}"));
            }
        }
        let (urls, queries): (Vec<String>, Vec<PageQuery>) = case
            .pages
            .into_iter()
            .map(|(path, query)| (format!("{po}{path}"), query))
            .unzip();
        eprintln!("catalog: {}: HTTP API...", case.name);
        let api = measure(
            Arc::new(HttpGet {
                client: client.clone(),
                urls: InTurn::new(urls),
            }),
            concurrency,
            options.warmup,
            options.duration,
        )
        .await;
        eprintln!("catalog: {}: sqlx baseline...", case.name);
        let baseline = measure(
            Arc::new(SqlList {
                pool: pool.clone(),
                queries: InTurn::new(queries),
            }),
            concurrency,
            options.warmup,
            options.duration,
        )
        .await;
        let ratio = api.per_second() / baseline.per_second();
        let verdict = match check {
            Err(e) => Verdict::Failed(e),
            Ok(()) if api.errors > 0 => Verdict::Failed(format!("{} errors", api.errors)),
            Ok(()) if ratio >= MIN_RATIO && api.p99 < MAX_P99 => Verdict::Met,
            Ok(()) => {
                let mut why = Vec::new();
                if ratio < MIN_RATIO {
                    why.push(format!("ratio {ratio:.2} < {MIN_RATIO}"));
                }
                if api.p99 >= MAX_P99 {
                    why.push(format!("p99 ≥ {} ms", MAX_P99.as_millis()));
                }
                Verdict::Missed(why.join(", "))
            }
        };
        let baseline_verdict = if baseline.errors > 0 {
            Verdict::Failed(format!("{} errors", baseline.errors))
        } else {
            Verdict::Baseline
        };
        rows.push(Row {
            case: format!("{} `GET {}`", case.name, case.label),
            via: "HTTP API".into(),
            stats: api,
            ratio: Some(ratio),
            verdict,
        });
        rows.push(Row {
            case: String::new(),
            via: "sqlx baseline".into(),
            stats: baseline,
            ratio: None,
            verdict: baseline_verdict,
        });
    }

    // The web product list page; the home page stands in until /products exists.
    let mut web_path = "/products";
    let status = client.get(format!("{}{web_path}", shop.web_url)).send().await?.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        notes.push(
            "The web product list `/products` answered 404 in this build; its row measures the home page `/` instead."
                .into(),
        );
        web_path = "/";
    }
    eprintln!("catalog: web {web_path}...");
    let web = measure(
        Arc::new(HttpGet {
            client: client.clone(),
            urls: InTurn::new(vec![format!("{}{web_path}", shop.web_url)]),
        }),
        concurrency,
        options.warmup,
        options.duration,
    )
    .await;
    let verdict = if web.errors > 0 {
        Verdict::Failed(format!("{} errors", web.errors))
    } else {
        Verdict::NoGoal
    };
    rows.push(Row {
        case: format!("Web product list `GET {web_path}`"),
        via: "web → API".into(),
        stats: web,
        ratio: None,
        verdict,
    });

    notes.push(format!(
        "The load generator is {concurrency} tokio tasks in the same process as the shop, each sending one request \
         after another over keep-alive connections; it competes with the services and PostgreSQL for the machine's \
         cores. The baseline is measured with the same generator (the same `store::list` call, pool of \
         {concurrency} connections, no HTTP), so the ratio compares like with like."
    ));
    notes.push(format!(
        "Each client waits for its answer before sending the next request, so mean latency = {concurrency} / rate: \
         a p99 under {} ms needs a rate well above {:.0} req/s.",
        MAX_P99.as_millis(),
        concurrency as f64 / MAX_P99.as_secs_f64()
    ));
    notes.push("The services run with testkit's settings: product-order's database pool has 5 connections.".into());
    for row in &rows {
        if let Some(error) = &row.stats.first_error {
            notes.push(format!("First error of {} {}: {error}", row.case, row.via));
        }
    }
    Ok(Section {
        title: "Catalog".into(),
        counted: "Requests",
        ratio: "API / baseline",
        goal: format!("Goal (≥ {MIN_RATIO:.2}×, p99 < {} ms)", MAX_P99.as_millis()),
        rows,
        notes,
    })
}

/// The search terms with how many products each matches and what its query costs alone (one
/// client, one query after another, through sqlx), before the shop is put under load.
async fn search_note(url: &str, sku: &str) -> anyhow::Result<String> {
    const RUNS: u32 = 200;
    // One connection, warmed up: its prepared statements have settled on their generic plans,
    // as the API's have under load.
    let pool = &PgPoolOptions::new().max_connections(1).connect(url).await?;
    let terms = SEARCHES.iter().copied().chain([(sku, "1 product")]);
    let word_stats = WordStats::default();
    let mut parts = Vec::new();
    for (q, share) in terms {
        let query = PageQuery::new(Some(q), None, &word_stats);
        for _ in 0..10 {
            query.run(pool).await?;
        }
        let started = Instant::now();
        for _ in 0..RUNS {
            query.run(pool).await?;
        }
        let alone = started.elapsed() / RUNS;
        parts.push(format!("`{q}` ({share}): {:.2} ms", alone.as_secs_f64() * 1000.0));
    }
    Ok(format!(
        "Search: each request takes the next of {} terms in turn (API and baseline alike): {}. Each figure is \
         the term's query alone, one client on one connection, one after another through sqlx (after 10 \
         unmeasured runs). The word statistics of `VACUUM (ANALYZE)` (`pg_stats`) tell a search how common its \
         words are: common ones walk the listing in order, reading only the sort key and the search column, for \
         at most {} rows per row wanted, then fetch the page's rows; rare ones (not among the common words: a \
         SKU, `matcha`) fetch every match from the GIN index and sort them. A walk that finds less than a page \
         asks the index too.",
        parts.len(),
        parts.join("; "),
        store::WALK_PER_ROW,
    ))
}

/// Whether the API's page lists the same products as the baseline's query (the first `PAGE`).
async fn same_answer(client: &reqwest::Client, url: &str, pool: &PgPool, query: &PageQuery) -> Result<(), String> {
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    let api: Vec<String> = body["items"]
        .as_array()
        .ok_or("the answer has no items")?
        .iter()
        .filter_map(|item| item["id"].as_str().map(str::to_owned))
        .collect();
    let mut rows = query.run(pool).await.map_err(|e| e.to_string())?;
    rows.truncate(PAGE as usize);
    let sql: Vec<String> = rows.iter().map(|p| p.id.to_string()).collect();
    if api != sql {
        return Err("the API's page differs from the baseline's".into());
    }
    Ok(())
}

/// The path with a long cursor shortened, for the table.
fn short(path: &str) -> String {
    match path.split_once("cursor=") {
        Some((head, _)) => format!("{head}cursor=…"),
        None => path.to_owned(),
    }
}

pub(crate) async fn drop_database(url: &str) -> anyhow::Result<()> {
    use sqlx::ConnectOptions as _;
    use std::str::FromStr as _;
    let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
    let name = options.get_database().context("no database in the URL")?.to_owned();
    let mut conn = options.database("postgres").connect().await?;
    let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", name.replace('"', "\"\""));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await?;
    Ok(())
}
