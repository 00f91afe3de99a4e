//! JSON logs through tracing.

use tracing_subscriber::EnvFilter;

/// Installs the JSON log subscriber once per process (later calls do nothing, so the
/// all-in-one binary and tests can start several services).
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,lapin=warn,amq_protocol=warn,tower_http=warn"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .try_init();
}
