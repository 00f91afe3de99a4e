//! The checkout benchmark: shoppers check out over HTTP and the saga places their orders, from
//! `POST /api/checkout` to `order.placed` confirmed on the broker; at the highest rate they
//! reach (closed loop), then on a schedule at half that rate (open loop). The baseline is the
//! same checkout as one plain SQL transaction, at the same concurrency, in the same run.

mod baseline;
mod loops;
pub(crate) mod observe;
pub(crate) mod shoppers;
mod summary;
pub(crate) mod tap;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use contracts::events::OrderLine;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::Options;
use crate::load::Stats;
use crate::report::Section;
use loops::Schedule;
use observe::Mark;
use shoppers::{Shop, Tally};
use summary::RunFacts;

/// The saga must complete at least this share of the baseline's rate...
const MIN_RATIO: f64 = 0.30;
/// ...and, at half its highest rate, place 99% of orders within this.
const MAX_P99: Duration = Duration::from_millis(100);

/// Products most carts hold (contended rows) and products carts spread over.
const HOT: usize = 10;
const SPREAD: usize = 1_000;
/// Enough that no checkout of the run finds a product sold out.
const STOCK: i32 = 10_000_000;
const CURRENCY: &str = "EUR";

/// A small, fast random generator (xorshift64*) per shopper; no need for quality here.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Self {
        Self(Uuid::new_v4().as_u64_pair().0 | 1)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

/// The benchmark's products, cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    hot: Arc<[OrderLine]>,
    spread: Arc<[OrderLine]>,
}

impl Catalog {
    /// Inserts the hot and spread products, each with `STOCK` units.
    pub(crate) async fn load(pool: &PgPool) -> anyhow::Result<Self> {
        let run = &Uuid::new_v4().simple().to_string()[..8];
        let product = |kind: &str, i: usize| OrderLine {
            product_id: Uuid::now_v7(),
            sku: format!("BENCH-{run}-{kind}-{i:04}").to_uppercase(),
            name: format!("Bench {kind} tea No. {i}"),
            unit_price: 300 + (i as i64 * 37) % 9_000,
            quantity: 0,
        };
        let hot: Vec<OrderLine> = (0..HOT).map(|i| product("hot", i)).collect();
        let spread: Vec<OrderLine> = (0..SPREAD).map(|i| product("spread", i)).collect();
        let all: Vec<&OrderLine> = hot.iter().chain(&spread).collect();
        sqlx::query(
            "INSERT INTO products (id, sku, name, description, price, currency, stock) \
             SELECT id, sku, name, 'For the checkout benchmark.', price, $5, $6 \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[]) AS t(id, sku, name, price)",
        )
        .bind(all.iter().map(|p| p.product_id).collect::<Vec<_>>())
        .bind(all.iter().map(|p| p.sku.clone()).collect::<Vec<_>>())
        .bind(all.iter().map(|p| p.name.clone()).collect::<Vec<_>>())
        .bind(all.iter().map(|p| p.unit_price).collect::<Vec<_>>())
        .bind(CURRENCY)
        .bind(STOCK)
        .execute(pool)
        .await
        .context("inserting the products")?;
        sqlx::raw_sql("VACUUM (ANALYZE) products").execute(pool).await?;
        Ok(Self {
            hot: hot.into(),
            spread: spread.into(),
        })
    }

    /// A cart: one unit of a random hot product and 1 to 3 of a random spread product.
    pub fn pick(&self, rng: &mut Rng) -> Vec<OrderLine> {
        let hot = OrderLine {
            quantity: 1,
            ..self.hot[rng.below(self.hot.len())].clone()
        };
        let spread = OrderLine {
            quantity: 1 + rng.below(3) as i32,
            ..self.spread[rng.below(self.spread.len())].clone()
        };
        vec![hot, spread]
    }
}

/// Puts `lines` in the cart of `owner` with one statement, as saga shoppers and baseline
/// clients alike do before each checkout (their checkouts empty the cart of those lines).
pub(crate) async fn fill_cart(db: &PgPool, owner: &str, lines: &[OrderLine]) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO cart_items (owner, product_id, quantity) \
         SELECT $1, * FROM UNNEST($2::uuid[], $3::int[]) \
         ON CONFLICT (owner, product_id) DO UPDATE SET quantity = EXCLUDED.quantity, updated_at = now()",
    )
    .bind(owner)
    .bind(lines.iter().map(|l| l.product_id).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.quantity).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}

/// Product-order's defaults (`PRODUCT_ORDER_DATABASE_MAX_CONNECTIONS`,
/// `PRODUCT_ORDER_SAGA_CONCURRENCY`), which testkit lowers for tests.
const PRODUCT_ORDER_POOL: u32 = 20;
const SAGA_SLOTS: usize = 16;

pub async fn run(options: &Options) -> anyhow::Result<Section> {
    eprintln!("checkout: starting the shop in-process...");
    // The shop as deployed (product-order's default pool and saga slots), without customer's
    // order history: what is measured ends when RabbitMQ confirmed `order.placed`.
    let shop = testkit::TestShop::start_custom(
        |customer| customer.events.workers = false,
        |product_order| {
            product_order.database_max_connections = PRODUCT_ORDER_POOL;
            product_order.saga_concurrency = SAGA_SLOTS;
        },
    )
    .await;
    let result = bench(options, &shop).await;
    let (customer_db, product_order_db) = (
        shop.customer_database_url.clone(),
        shop.product_order_database_url.clone(),
    );
    shop.stop().await;
    if options.keep_db {
        eprintln!("checkout: kept the product-order database {product_order_db}");
    } else {
        for url in [customer_db, product_order_db] {
            if let Err(e) = crate::catalog::drop_database(&url).await {
                eprintln!("checkout: could not drop the database at {url}: {e:#}");
            }
        }
    }
    result
}

/// One measured case of the saga: its stats and what the run saw of it.
struct SagaCase {
    stats: Stats,
    answered: Stats,
    failed: usize,
    timed_out: usize,
    /// Where the time went, from the saga's records, and the machine's load.
    parts: String,
    load: String,
}

async fn measure_saga(pool: &PgPool, tally: Tally, elapsed: Duration, mark: &Mark) -> SagaCase {
    let load = mark.load_since(pool, tally.latencies.len(), "order").await;
    let parts = match observe::saga_parts(pool, &tally.traces).await {
        Ok(parts) => parts,
        Err(e) => format!("(not available: {e})"),
    };
    let (failed, timed_out, answered) = (tally.failed, tally.timed_out, tally.answered());
    let stats = tally.stats(elapsed);
    SagaCase {
        stats,
        answered,
        failed,
        timed_out,
        parts,
        load,
    }
}

/// The saga at its highest rate, then at half that rate.
async fn saga_cases(
    options: &Options,
    shop: &Arc<Shop>,
    pool: &PgPool,
    shoppers: Vec<shoppers::Shopper>,
) -> (SagaCase, Option<SagaCase>, Schedule) {
    eprintln!("checkout: saga at the highest rate (closed loop)...");
    let shoppers = loops::closed_loop(shop, shoppers, options.warmup).await.0;
    let mark = Mark::now(pool).await;
    let (shoppers, tally, elapsed) = loops::closed_loop(shop, shoppers, options.duration).await;
    let max = measure_saga(pool, tally, elapsed, &mark).await;

    let rate = max.stats.per_second() / 2.0;
    if rate <= 0.0 {
        return (max, None, Schedule::default());
    }
    eprintln!("checkout: saga at half that rate, {rate:.1}/s (open loop)...");
    let shoppers = loops::open_loop(shop, shoppers, rate, options.warmup).await.0;
    let mark = Mark::now(pool).await;
    let (_, tally, elapsed, schedule) = loops::open_loop(shop, shoppers, rate, options.duration).await;
    (max, Some(measure_saga(pool, tally, elapsed, &mark).await), schedule)
}

/// The same checkouts as one SQL transaction each, and the machine's load meanwhile.
async fn baseline_case(options: &Options, pool: &PgPool, catalog: &Catalog) -> (Stats, String) {
    eprintln!("checkout: the same checkout as one SQL transaction (baseline)...");
    let clients = baseline::clients(options.concurrency);
    let clients = baseline::closed_loop(pool, catalog, clients, options.warmup).await.0;
    let mark = Mark::now(pool).await;
    let (_, tally, elapsed) = baseline::closed_loop(pool, catalog, clients, options.duration).await;
    let baseline = tally.stats(elapsed);
    let load = mark.load_since(pool, baseline.requests, "order").await;
    (baseline, load)
}

async fn bench(options: &Options, test_shop: &testkit::TestShop) -> anyhow::Result<Section> {
    let concurrency = options.concurrency;
    let pool = PgPoolOptions::new()
        .max_connections(concurrency as u32)
        .acquire_timeout(Duration::from_secs(30))
        .connect(&test_shop.product_order_database_url)
        .await
        .context("connecting to product-order's database")?;
    let postgres: String = sqlx::query_scalar("SHOW server_version").fetch_one(&pool).await?;
    eprintln!("checkout: loading {HOT} hot and {SPREAD} spread products...");
    let catalog = Catalog::load(&pool).await?;
    let tap = tap::Tap::open(&test_shop.amqp_url, &test_shop.events_exchange).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let shop = Arc::new(Shop {
        client,
        db: pool.clone(),
        customer_url: test_shop.customer_url.clone(),
        product_order_url: test_shop.product_order_url.clone(),
        catalog: catalog.clone(),
        tap: tap.clone(),
    });
    eprintln!("checkout: signing up {concurrency} shoppers...");
    let started = Instant::now();
    let shoppers = shoppers::sign_up(&shop, concurrency).await?;
    let sign_up_time = started.elapsed();

    let (max, half, schedule) = saga_cases(options, &shop, &pool, shoppers).await;
    let (baseline, baseline_load) = baseline_case(options, &pool, &catalog).await;
    let unmatched = tap.unmatched();
    tap.close().await;

    let facts = RunFacts {
        concurrency,
        postgres,
        sign_up_time,
        pool_size: PRODUCT_ORDER_POOL,
        saga_concurrency: SAGA_SLOTS,
        unmatched,
    };
    Ok(summary::section(&facts, max, half, schedule, baseline, baseline_load))
}
