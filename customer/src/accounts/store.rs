//! SQL for accounts.

use contracts::Role;
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

use super::domain::{DisplayName, Email};

/// An account as stored.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

const COLUMNS: &str = "id, email, name, role, password_hash";

fn from_row(row: sqlx::postgres::PgRow) -> sqlx::Result<Account> {
    let role: String = row.try_get("role")?;
    Ok(Account {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: role.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        password_hash: row.try_get("password_hash")?,
    })
}

/// Inserts a new account; a taken email fails on `customers_email_key`.
pub async fn insert(
    db: impl PgExecutor<'_>,
    email: &Email,
    name: &DisplayName,
    password_hash: &str,
    role: Role,
) -> sqlx::Result<Account> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO customers (id, email, name, password_hash, role) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(email.as_str())
    .bind(name.as_str())
    .bind(password_hash)
    .bind(role.as_str())
    .fetch_one(db)
    .await?;
    from_row(row)
}

pub async fn find_by_email(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<Account>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customers WHERE email = $1"
    )))
    .bind(email)
    .fetch_optional(db)
    .await?
    .map(from_row)
    .transpose()
}

pub async fn find_by_id(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Account>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customers WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?
    .map(from_row)
    .transpose()
}

/// Makes `email` an operator with `password_hash`, creating the account when missing.
pub async fn upsert_operator(db: impl PgExecutor<'_>, email: &Email, password_hash: &str) -> sqlx::Result<Account> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO customers (id, email, name, password_hash, role) VALUES ($1, $2, 'Operator', $3, 'operator')
         ON CONFLICT (email) DO UPDATE
           SET password_hash = EXCLUDED.password_hash, role = 'operator', updated_at = now()
         RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(email.as_str())
    .bind(password_hash)
    .fetch_one(db)
    .await?;
    from_row(row)
}

/// Replaces the password of account `id`.
pub async fn set_password(db: impl PgExecutor<'_>, id: Uuid, password_hash: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE customers SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .execute(db)
        .await
        .map(|_| ())
}
