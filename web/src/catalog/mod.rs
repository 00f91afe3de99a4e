//! The catalog as shoppers see it: the product list with search and "Load more", and the
//! product page with its add-to-cart form.

pub mod views;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use crate::app::AppState;
use crate::cart::views::AddToCartView;
use crate::clients::product_order::{Caller, ProductQuery, Sort};
use crate::error::{WebError, parse_id};
use crate::render::{PageContext, fragment, page};
use views::{LoadMore, MoreProductsView, ProductListView, ProductView, listing_url};

/// Products per page of the list.
const PAGE_SIZE: u32 = 12;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products", get(products_page))
        .route("/products/{id}", get(product_page))
}

/// The query of a listing page: `?q=&sort=&cursor=`.
#[derive(Debug, Default, Deserialize)]
pub struct ListingParams {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub cursor: String,
}

impl ListingParams {
    pub fn q(&self) -> &str {
        self.q.trim()
    }

    /// The order asked for; anything unknown is the default.
    pub fn sort(&self) -> Sort {
        if self.sort == "name" { Sort::Name } else { Sort::Newest }
    }

    pub fn cursor(&self) -> Option<&str> {
        Some(self.cursor.trim()).filter(|c| !c.is_empty())
    }
}

async fn products_page(
    State(state): State<AppState>,
    ctx: PageContext,
    Query(params): Query<ListingParams>,
) -> Result<Response, WebError> {
    let (q, sort, cursor) = (params.q(), params.sort(), params.cursor());
    let query = ProductQuery {
        q: Some(q).filter(|q| !q.is_empty()),
        cursor,
        limit: Some(PAGE_SIZE),
        sort,
        include_inactive: false,
    };
    let listing = state.product_order.products(Caller::Anonymous, &query).await?;
    let next_url = listing
        .next_cursor
        .as_deref()
        .map(|next| listing_url("/products", q, sort, Some(next)));
    let mut load_more = LoadMore {
        next_url,
        target: "#product-list",
        oob: false,
    };
    if ctx.partial && cursor.is_some() {
        load_more.oob = true;
        let view = MoreProductsView {
            products: &listing.items,
            load_more,
        };
        return Ok(fragment(StatusCode::OK, &view));
    }
    let view = ProductListView {
        q,
        sort,
        products: &listing.items,
        continued: cursor.is_some(),
        load_more,
    };
    Ok(page(&ctx, StatusCode::OK, "Products", &view))
}

async fn product_page(
    State(state): State<AppState>,
    ctx: PageContext,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let product = state.product_order.product(Caller::Anonymous, parse_id(&id)?).await?;
    let view = ProductView::new(&product, AddToCartView::new(&ctx, &product));
    Ok(page(&ctx, StatusCode::OK, &product.name, &view))
}
