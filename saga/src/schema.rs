//! The engine's tables (`saga` schema, from `migrations/saga`) and apalis's (`apalis` schema).
//! Each keeps its migration history in its own schema, so neither disturbs the host's.

use apalis_postgres::PostgresStorage;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::error::Error;

pub(crate) async fn migrate(pool: &PgPool) -> Result<(), Error> {
    let mut apalis = PostgresStorage::migrations();
    confine(&mut apalis, "apalis");
    apalis
        .run(pool)
        .await
        .map_err(|e| Error::Queue(format!("migrating apalis's tables: {e}")))?;
    let mut ours = sqlx::migrate!("../migrations/saga");
    confine(&mut ours, "saga");
    ours.run(pool)
        .await
        .map_err(|e| Error::Database(sqlx::Error::Migrate(Box::new(e))))?;
    Ok(())
}

fn confine(migrator: &mut Migrator, schema: &'static str) {
    migrator.table_name = format!("{schema}._sqlx_migrations").into();
    migrator.create_schemas = vec![schema.into()].into();
}
