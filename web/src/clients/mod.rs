//! Typed HTTP clients for the shop's services; web never reads their databases.

pub mod customer;
pub mod product_order;

use std::collections::BTreeMap;

use api::{ErrorBody, ErrorCode};

pub use customer::CustomerClient;
pub use product_order::ProductOrderClient;

/// What a failed call said: the service's error body, or (when it sent none: a proxy's page,
/// a cut connection) only its status.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: Option<ErrorCode>,
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

/// The body of a failed call, as our error shape when it has it.
pub(crate) async fn error_detail(response: reqwest::Response) -> Failure {
    let status = response.status();
    match response.json::<ErrorBody>().await {
        Ok(ErrorBody { error }) => Failure {
            code: Some(error.code),
            message: error.message,
            fields: error.fields,
        },
        Err(_) => Failure {
            code: None,
            message: format!("answered {status}"),
            fields: BTreeMap::new(),
        },
    }
}
