//! Pages that are not a capability of their own: the home page with featured products.

use api::catalog::Product;
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use crate::app::AppState;
use crate::catalog::shown::ProductShown as _;
use crate::clients::product_order::{Caller, ProductQuery, Sort};
use crate::error::WebError;
use crate::render::{PageContext, page};
use crate::session::CurrentUser;

/// How many of the newest products the home page features.
const FEATURED: u32 = 8;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home_page))
}

#[derive(Template)]
#[template(path = "pages/home.html")]
struct HomeView<'a> {
    user: Option<&'a CurrentUser>,
    /// None when the catalog could not be reached: the page shows without it.
    featured: Option<Vec<Product>>,
}

async fn home_page(State(state): State<AppState>, ctx: PageContext) -> Result<Response, WebError> {
    let query = ProductQuery {
        limit: Some(FEATURED),
        sort: Sort::Newest,
        ..ProductQuery::default()
    };
    let featured = match state.product_order.products(Caller::Anonymous, &query).await {
        Ok(listing) => Some(listing.items),
        Err(e) => {
            tracing::warn!(error = %e, "no featured products for the home page");
            None
        }
    };
    let view = HomeView {
        user: ctx.user.as_ref(),
        featured,
    };
    Ok(page(&ctx, StatusCode::OK, "Welcome", &view))
}
