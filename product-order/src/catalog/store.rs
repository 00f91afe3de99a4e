//! SQL for the catalog.

use api::catalog::StockChange;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

/// A product as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Product {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price: i64,
    pub currency: String,
    pub stock: i32,
    pub image_url: Option<String>,
    /// The uploaded image's content hash (see `images`).
    pub image_sha256: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, sku, name, description, price, currency, stock, image_url, image_sha256, active, created_at, updated_at";

/// The order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    Newest,
    Name,
}

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "sort", rename_all = "snake_case")]
pub enum After {
    Newest { created_at: DateTime<Utc>, id: Uuid },
    Name { name: String, id: Uuid },
}

impl After {
    pub fn of(product: &Product, sort: Sort) -> Self {
        match sort {
            Sort::Newest => After::Newest {
                created_at: product.created_at,
                id: product.id,
            },
            Sort::Name => After::Name {
                name: product.name.clone(),
                id: product.id,
            },
        }
    }
}

/// What a listing asks for.
pub struct Listing<'a> {
    pub search: Option<&'a Search>,
    /// The share of products the search is expected to match (`WordStats`), when known.
    pub search_share: Option<f64>,
    pub sort: Sort,
    pub after: Option<&'a After>,
    pub limit: i64,
    pub include_inactive: bool,
}

/// A shopper's search: its words, lower case, and the `to_tsquery` text matching every one of
/// them, the last also as the start of a longer word (as typed: "green te" finds green tea).
/// Only letters and digits pass, so the query is always valid tsquery syntax. Earlier words
/// match whole because a prefix of a common word ("gen:*" in every generated SKU) makes
/// PostgreSQL gather that word's every row from the search index, where a whole word lets it
/// skip to the rarest word's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    words: Vec<String>,
    tsquery: String,
}

impl Search {
    /// None when `q` has no words.
    pub fn parse(q: &str) -> Option<Self> {
        let words: Vec<String> = q
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(8)
            .map(|w| w.chars().take(40).collect::<String>().to_lowercase())
            .collect();
        let (last, whole) = words.split_last()?;
        let tsquery = whole
            .iter()
            .map(String::as_str)
            .chain([format!("{last}:*").as_str()])
            .collect::<Vec<_>>()
            .join(" & ");
        Some(Self { words, tsquery })
    }

    /// The words, the last one matched as a prefix.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    pub fn tsquery(&self) -> &str {
        &self.tsquery
    }
}

/// How many rows a search walks in listing order, per row it wants, before it asks the search
/// index instead: a word in at least 1 product in 200 fills its page within the walk (cheap
/// when it is common), a rarer one is cheaper to fetch from the index and sort.
pub const WALK_PER_ROW: i64 = 200;

/// One page of products in keyset order (no OFFSET: each page starts after the last key).
pub async fn list(db: impl PgExecutor<'_> + Copy, listing: &Listing<'_>) -> sqlx::Result<Vec<Product>> {
    let order = match listing.sort {
        Sort::Newest => " ORDER BY created_at DESC, id DESC",
        Sort::Name => " ORDER BY name, id",
    };
    let Some(search) = listing.search else {
        let mut sql = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM products WHERE true"));
        push_filters(&mut sql, listing);
        sql.push(order).push(" LIMIT ").push_bind(listing.limit);
        return sql.build_query_as::<Product>().fetch_all(db).await;
    };
    // Walking an index in listing order and testing each row is fastest for common words and
    // hopeless for rare ones (a SKU walks every row); fetching every match from the search index
    // and sorting them is the reverse. The catalog's word statistics tell which a search is
    // (`WordStats`); without them, or when they misjudge it, a search walks a bounded number of
    // rows first and asks the index only when they hold less than a page.
    let walks_first = listing
        .search_share
        .is_none_or(|share| share * WALK_PER_ROW as f64 >= 1.0);
    if walks_first {
        let walked = walk(db, search, listing, order).await?;
        if walked.len() as i64 == listing.limit {
            return Ok(walked);
        }
    }
    from_index(db, search, listing, order).await
}

/// A page of the search's matches among the first `WALK_PER_ROW` rows per row wanted in
/// listing order. The walk reads only what it sorts and tests, then fetches the page's rows:
/// a walk that carries every column takes twice as long. The query text is parsed once per
/// statement, in a sub-select: in the generic plan a prepared statement settles on after five
/// runs, `to_tsquery($1)` in a filter is parsed again for every row walked.
async fn walk(
    db: impl PgExecutor<'_>,
    search: &Search,
    listing: &Listing<'_>,
    order: &str,
) -> sqlx::Result<Vec<Product>> {
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "SELECT {COLUMNS} FROM products WHERE id = ANY(ARRAY( \
           SELECT id FROM (SELECT id, created_at, name, search FROM products WHERE true"
    ));
    push_filters(&mut sql, listing);
    sql.push(order)
        .push(" LIMIT ")
        .push_bind(listing.limit * WALK_PER_ROW)
        .push(") walked WHERE search @@ (SELECT to_tsquery('simple', ")
        .push_bind(search.tsquery().to_owned())
        .push("))")
        .push(order)
        .push(" LIMIT ")
        .push_bind(listing.limit)
        .push("))")
        .push(order);
    sql.build_query_as::<Product>().fetch_all(db).await
}

/// A page of every match the search index gives, sorted. MATERIALIZED keeps the planner from
/// walking the listing index instead: every match first.
async fn from_index(
    db: impl PgExecutor<'_>,
    search: &Search,
    listing: &Listing<'_>,
    order: &str,
) -> sqlx::Result<Vec<Product>> {
    let mut sql = QueryBuilder::<Postgres>::new(
        "WITH matches AS MATERIALIZED (SELECT id, created_at, name FROM products \
         WHERE search @@ (SELECT to_tsquery('simple', ",
    );
    sql.push_bind(search.tsquery().to_owned()).push("))");
    push_filters(&mut sql, listing);
    sql.push(format!(
        ") SELECT {COLUMNS} FROM products WHERE id = ANY(ARRAY(SELECT id FROM matches"
    ))
    .push(order)
    .push(" LIMIT ")
    .push_bind(listing.limit)
    .push("))")
    .push(order);
    sql.build_query_as::<Product>().fetch_all(db).await
}

/// Active products only (unless inactive ones are asked for), after the keyset cursor.
fn push_filters(sql: &mut QueryBuilder<Postgres>, listing: &Listing<'_>) {
    if !listing.include_inactive {
        sql.push(" AND active");
    }
    match listing.after {
        Some(After::Newest { created_at, id }) => {
            sql.push(" AND (created_at, id) < (")
                .push_bind(*created_at)
                .push(", ")
                .push_bind(*id)
                .push(")");
        }
        Some(After::Name { name, id }) => {
            sql.push(" AND (name, id) > (")
                .push_bind(name.clone())
                .push(", ")
                .push_bind(*id)
                .push(")");
        }
        None => {}
    }
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Product>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM products WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Locks the product row for an update in the caller's transaction.
pub async fn find_for_update(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Product>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM products WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// A product's fields as written.
pub struct ProductFields {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price: i64,
    pub currency: String,
    pub stock: i32,
    pub image_url: Option<String>,
    pub active: bool,
}

/// Writes a product: inserts it when `id` is new, else replaces its fields. A SKU another
/// product has fails on `products_sku_key`.
pub async fn save(conn: &mut PgConnection, id: Uuid, fields: &ProductFields) -> sqlx::Result<Product> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO products (id, sku, name, description, price, currency, stock, image_url, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET
            sku = EXCLUDED.sku, name = EXCLUDED.name, description = EXCLUDED.description,
            price = EXCLUDED.price, currency = EXCLUDED.currency, stock = EXCLUDED.stock,
            image_url = EXCLUDED.image_url, active = EXCLUDED.active, updated_at = now()
         RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(&fields.sku)
    .bind(&fields.name)
    .bind(&fields.description)
    .bind(fields.price)
    .bind(&fields.currency)
    .bind(fields.stock)
    .bind(&fields.image_url)
    .bind(fields.active)
    .fetch_one(conn)
    .await
}

/// Records the stock of products put in without an operator (the demo seed, load-products) as
/// their initial stock, changed by the nil id (the shop itself), as creating a product through
/// the API does: the stock check adds up every product's changes from there.
pub async fn record_initial_stock(conn: &mut PgConnection, product_ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO stock_changes (product_id, changed_by, stock_from, stock_to, reason)
         SELECT id, $2, 0, stock, 'initial stock' FROM products WHERE id = ANY($1) AND stock > 0",
    )
    .bind(product_ids)
    .bind(Uuid::nil())
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn record_stock_change(
    conn: &mut PgConnection,
    product_id: Uuid,
    operator: Uuid,
    from: i32,
    to: i32,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO stock_changes (product_id, changed_by, stock_from, stock_to, reason) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(product_id)
    .bind(operator)
    .bind(from)
    .bind(to)
    .bind(reason)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn stock_changes(db: impl PgExecutor<'_>, product_id: Uuid) -> sqlx::Result<Vec<StockChange>> {
    let rows: Vec<(DateTime<Utc>, Uuid, i32, i32, String)> = sqlx::query_as(
        "SELECT changed_at, changed_by, stock_from, stock_to, reason FROM stock_changes
         WHERE product_id = $1 ORDER BY changed_at DESC, id DESC LIMIT 200",
    )
    .bind(product_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(changed_at, changed_by, from, to, reason)| StockChange {
            changed_at,
            changed_by,
            from,
            to,
            reason,
        })
        .collect())
}

pub async fn count(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM products").fetch_one(db).await
}

/// Active products with at most `threshold` in stock, lowest first. No index serves this: one
/// on `stock` would cost every stock reservation its heap-only update, for a query that only
/// the operators' board runs (a scan of the catalog).
pub async fn low_stock(db: impl PgExecutor<'_>, threshold: i32, limit: i64) -> sqlx::Result<Vec<Product>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM products WHERE active AND stock <= $1 ORDER BY stock, name, id LIMIT $2"
    )))
    .bind(threshold)
    .bind(limit)
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::Search;

    fn tsquery(q: &str) -> Option<String> {
        Search::parse(q).map(|s| s.tsquery().to_owned())
    }

    #[test]
    fn search_words_match_whole_but_the_last_and_nothing_else_passes() {
        assert_eq!(tsquery("Green  TE"), Some("green & te:*".into()));
        assert_eq!(tsquery("tea-001"), Some("tea & 001:*".into()));
        assert_eq!(
            tsquery("'); DROP TABLE products; --"),
            Some("drop & table & products:*".into())
        );
        assert_eq!(tsquery("!!! & |"), None);
    }
}
