//! Typed HTTP clients for the shop's services; web never reads their databases.

pub mod customer;
pub mod product_order;

use std::collections::BTreeMap;

use serde::Deserialize;

pub use customer::CustomerClient;
pub use product_order::ProductOrderClient;

/// The error body every service answers with.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// The body of a failed call, as our error shape when it has it.
pub(crate) async fn error_detail(response: reqwest::Response) -> ErrorDetail {
    let status = response.status();
    match response.json::<ErrorBody>().await {
        Ok(body) => body.error,
        Err(_) => ErrorDetail {
            code: String::new(),
            message: format!("answered {status}"),
            fields: BTreeMap::new(),
        },
    }
}
