//! Checkout sagas at product-order, for operators: the list by state, one saga with its
//! steps, attempts and operator actions, and the actions that move a saga on by hand.

use api::checkout::DetailsForm;
use api::sagas::{BulkAnswer, BulkBody, EditBody, ReasonBody, Saga, SagaAction, SagaList, SagaListQuery};
use reqwest::Method;
use uuid::Uuid;

use super::{Caller, ProductOrderClient, Result, answer, send};

impl ProductOrderClient {
    /// A page of sagas, newest first, and the count of each state (operators only).
    pub async fn ops_sagas(&self, token: &str, query: &SagaListQuery) -> Result<SagaList> {
        let request = self
            .request(Method::GET, "/api/ops/sagas", Caller::Bearer(token))
            .query(query);
        answer(send(request).await?).await
    }

    /// One saga with its steps, attempts and operator actions (operators only).
    pub async fn ops_saga(&self, token: &str, id: Uuid) -> Result<Saga> {
        let request = self.request(Method::GET, &format!("/api/ops/sagas/{id}"), Caller::Bearer(token));
        answer(send(request).await?).await
    }

    /// Acts on a saga by hand, saying why; refused (409) when the action does not apply to
    /// where the saga stands, or (422) without a reason.
    pub async fn act_on_saga(&self, token: &str, id: Uuid, action: SagaAction, reason: &str) -> Result<Saga> {
        let path = format!("/api/ops/sagas/{id}/{}", action.as_str());
        let request = self
            .request(Method::POST, &path, Caller::Bearer(token))
            .json(&ReasonBody {
                reason: reason.trim().to_owned(),
            });
        answer(send(request).await?).await
    }

    /// The shopper's details of a saga, unmasked; product-order records who read them and why.
    pub async fn reveal_saga_details(&self, token: &str, id: Uuid, reason: &str) -> Result<DetailsForm> {
        let path = format!("/api/ops/sagas/{id}/reveal");
        let request = self
            .request(Method::POST, &path, Caller::Bearer(token))
            .json(&ReasonBody {
                reason: reason.trim().to_owned(),
            });
        answer(send(request).await?).await
    }

    /// Replaces the details of a saga that failed validation and runs it again; refused (422)
    /// with a message per wrong field, as the checkout form is.
    pub async fn edit_saga_details(&self, token: &str, id: Uuid, reason: &str, details: DetailsForm) -> Result<Saga> {
        let path = format!("/api/ops/sagas/{id}/details");
        let request = self.request(Method::PUT, &path, Caller::Bearer(token)).json(&EditBody {
            reason: reason.trim().to_owned(),
            contact: details.contact,
            delivery: details.delivery,
        });
        answer(send(request).await?).await
    }

    /// Counts and lists the sagas a bulk retry takes, and (unless a dry run) schedules them.
    pub async fn bulk_retry(&self, token: &str, bulk: &BulkBody) -> Result<BulkAnswer> {
        let request = self
            .request(Method::POST, "/api/ops/sagas/bulk-retry", Caller::Bearer(token))
            .json(bulk);
        answer(send(request).await?).await
    }
}
