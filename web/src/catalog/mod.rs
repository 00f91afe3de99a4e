//! The catalog as shoppers see it: the product list with search and "Load more", and the
//! product page with its add-to-cart form.

pub mod images;
pub mod shown;
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
use crate::listing::{LoadMore, MoreView};
use crate::render::{PageContext, fragment, page};
use views::{ProductCard, ProductListView, ProductView, listing_url};

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

/// What a listing page shows: one page of products and its "Load more" link.
pub struct ListingPage {
    pub products: Vec<api::catalog::Product>,
    pub load_more: LoadMore,
    /// Not the first page.
    pub continued: bool,
}

/// Where a listing lives and whose it is.
pub struct ListingSpec {
    pub path: &'static str,
    /// The element "Load more" appends to.
    pub target: &'static str,
    pub page_size: u32,
    pub include_inactive: bool,
}

impl ListingParams {
    /// The page of `spec` these parameters ask for. An htmx request for a later page gets
    /// its "Load more" link swapped out of band.
    pub async fn fetch(
        &self,
        state: &AppState,
        caller: Caller<'_>,
        spec: ListingSpec,
        partial: bool,
    ) -> Result<ListingPage, WebError> {
        let (q, sort, cursor) = (self.q(), self.sort(), self.cursor());
        let query = ProductQuery {
            q: Some(q).filter(|q| !q.is_empty()),
            cursor,
            limit: Some(spec.page_size),
            sort,
            include_inactive: spec.include_inactive,
        };
        let listing = state.product_order.products(caller, &query).await?;
        let load_more = LoadMore {
            next_url: listing
                .next_cursor
                .as_deref()
                .map(|next| listing_url(spec.path, q, sort, Some(next))),
            target: spec.target,
            oob: partial && cursor.is_some(),
        };
        Ok(ListingPage {
            products: listing.items,
            load_more,
            continued: cursor.is_some(),
        })
    }

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
    let spec = ListingSpec {
        path: "/products",
        target: "#product-list",
        page_size: PAGE_SIZE,
        include_inactive: false,
    };
    let listing = params.fetch(&state, Caller::Anonymous, spec, ctx.partial).await?;
    if listing.load_more.oob {
        let view = MoreView {
            rows: listing.products.iter().map(|product| ProductCard { product }).collect(),
            load_more: listing.load_more,
        };
        return Ok(fragment(StatusCode::OK, &view));
    }
    let view = ProductListView {
        q: params.q(),
        sort: params.sort(),
        products: &listing.products,
        continued: listing.continued,
        load_more: listing.load_more,
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
