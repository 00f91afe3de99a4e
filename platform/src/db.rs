//! PostgreSQL: create the service's database when missing, connect, apply migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::StartupError;

const START_HINT: &str = "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
or `docker compose up -d postgres`";

/// Opens a pool on `url`, creating its database first when missing, and applies `migrator`.
pub async fn connect(url: &str, max_connections: u32, migrator: &Migrator) -> Result<PgPool, StartupError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| {
        StartupError::new(format!(
            "database URL {} is not valid: {e}",
            crate::config::redact_url(url)
        ))
    })?;
    let options = options.log_statements(tracing::log::LevelFilter::Debug);
    let where_ = describe(&options);
    ensure_database(&options)
        .await
        .map_err(|e| StartupError::new(format!("cannot reach PostgreSQL at {where_} ({e}); {START_HINT}")))?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|e| StartupError::new(format!("cannot connect to PostgreSQL at {where_} ({e}); {START_HINT}")))?;
    migrator
        .run(&pool)
        .await
        .map_err(|e| StartupError::new(format!("migrating database at {where_} failed: {e}")))?;
    Ok(pool)
}

fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default)")
    )
}

/// Creates the target database through the server's `postgres` database when it is missing.
async fn ensure_database(options: &PgConnectOptions) -> Result<(), sqlx::Error> {
    let Some(name) = options.get_database() else {
        return Ok(());
    };
    let maintenance = options.clone().database("postgres");
    let mut conn = tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect_with(&maintenance))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        // Identifiers cannot be bound; quoting with doubled quotes makes any name safe.
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
            Ok(_) => tracing::info!(database = name, "created database"),
            // Another instance created it in the meantime.
            Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P04" | "23505")) => {}
            Err(e) => return Err(e),
        }
    }
    conn.close().await?;
    Ok(())
}

/// True when the database answers a trivial query.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}

/// True when `error` is the violation of the named constraint (e.g. `customers_email_key`).
pub fn violates(error: &sqlx::Error, constraint: &str) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.constraint() == Some(constraint))
}
