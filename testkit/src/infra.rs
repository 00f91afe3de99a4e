//! Finding (or starting) the PostgreSQL and RabbitMQ the tests run against.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use testcontainers_modules::testcontainers::ContainerAsync;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::{postgres::Postgres, rabbitmq::RabbitMq};
use tokio::sync::OnceCell;

const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const LOCAL_AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Where the tests' dependencies are.
pub struct Infra {
    /// A URL of the PostgreSQL server whose user may create databases.
    pub postgres_url: String,
    pub amqp_url: String,
}

static INFRA: OnceCell<Infra> = OnceCell::const_new();

/// The tests' PostgreSQL and RabbitMQ, found once per test process.
pub async fn infra() -> &'static Infra {
    INFRA
        .get_or_init(|| async {
            let postgres_url = postgres().await;
            drop_stale_databases(&postgres_url).await;
            Infra {
                postgres_url,
                amqp_url: rabbitmq().await,
            }
        })
        .await
}

async fn postgres() -> String {
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        return url;
    }
    if postgres_answers(LOCAL_POSTGRES).await {
        return LOCAL_POSTGRES.to_owned();
    }
    require_docker("PostgreSQL", "TEST_DATABASE_URL");
    let container = Postgres::default()
        .start()
        .await
        .expect("starting a PostgreSQL container");
    let port = container
        .get_host_port_ipv4(5432)
        .await
        .expect("PostgreSQL container port");
    keep(container);
    format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres")
}

async fn rabbitmq() -> String {
    if let Ok(url) = std::env::var("TEST_AMQP_URL") {
        return url;
    }
    if tokio::net::TcpStream::connect("127.0.0.1:5672").await.is_ok() {
        return LOCAL_AMQP.to_owned();
    }
    require_docker("RabbitMQ", "TEST_AMQP_URL");
    let container = RabbitMq::default()
        .start()
        .await
        .expect("starting a RabbitMQ container");
    let port = container
        .get_host_port_ipv4(5672)
        .await
        .expect("RabbitMQ container port");
    keep(container);
    format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
}

async fn postgres_answers(url: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), sqlx::PgConnection::connect(url)).await,
        Ok(Ok(_))
    )
}

fn require_docker(what: &str, variable: &str) {
    let socket = std::path::Path::new("/var/run/docker.sock").exists();
    if !socket && std::env::var_os("DOCKER_HOST").is_none() {
        panic!(
            "no {what} for the tests: set {variable}, start the local one on its default port, \
             or make Docker available (DOCKER_HOST) for testcontainers"
        );
    }
}

/// Containers live as long as the test process.
fn keep<I: testcontainers_modules::testcontainers::Image>(container: ContainerAsync<I>) {
    std::mem::forget(container);
}

const TEST_DB_PREFIX: &str = "shop_test_";

/// A URL on the test server naming a database no other test uses (the service creates it).
/// Names carry their creation time so later runs can drop leftovers.
pub fn fresh_database_url(infra: &Infra, label: &str) -> String {
    let mut url = url::Url::parse(&infra.postgres_url).expect("TEST_DATABASE_URL is a URL");
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let unique = uuid::Uuid::new_v4().simple().to_string();
    url.set_path(&format!("{TEST_DB_PREFIX}{secs}_{label}_{}", &unique[..12]));
    url.to_string()
}

/// Drops test databases more than three hours old (left by earlier runs).
async fn drop_stale_databases(postgres_url: &str) {
    let Ok(mut conn) = sqlx::PgConnection::connect(postgres_url).await else {
        return;
    };
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'shop\\_test\\_%'")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
    let cutoff = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(3 * 3600);
    for name in names {
        let created = name
            .strip_prefix(TEST_DB_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|secs| secs < cutoff) {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", name.replace('"', "\"\""));
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
        }
    }
}
