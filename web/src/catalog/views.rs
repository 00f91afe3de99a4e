//! Catalog pages: product cards, the list with its search and "Load more", the product page.

use api::catalog::Product;
use askama::Template;

use crate::cart::views::AddToCartView;
use crate::catalog::shown::ProductShown as _;
use crate::clients::product_order::Sort;
use crate::listing::LoadMore;

/// The address of a listing page: `path` with the search, the order and where to start.
pub fn listing_url(path: &str, q: &str, sort: Sort, cursor: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    if sort != Sort::default() {
        query.append_pair("sort", sort.as_str());
    }
    if let Some(cursor) = cursor {
        query.append_pair("cursor", cursor);
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// /products: the search form, a page of product cards and "Load more".
#[derive(Template)]
#[template(path = "catalog/list.html")]
pub struct ProductListView<'a> {
    pub q: &'a str,
    pub sort: Sort,
    pub products: &'a [Product],
    /// True when this page continues an earlier one (opened without JavaScript).
    pub continued: bool,
    pub load_more: LoadMore,
}

/// A product's card in the catalog's grid.
#[derive(Template)]
#[template(path = "catalog/product_card.html")]
pub struct ProductCard<'a> {
    pub product: &'a Product,
}

/// /products/{id}.
#[derive(Template)]
#[template(path = "catalog/detail.html")]
pub struct ProductView<'a> {
    pub product: &'a Product,
    pub add_to_cart: AddToCartView<'a>,
}

impl<'a> ProductView<'a> {
    pub fn new(product: &'a Product, add_to_cart: AddToCartView<'a>) -> Self {
        Self { product, add_to_cart }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_urls_carry_only_what_differs_from_the_default() {
        assert_eq!(listing_url("/products", "", Sort::Newest, None), "/products");
        assert_eq!(
            listing_url("/products", "green tea", Sort::Name, Some("abc_-")),
            "/products?q=green+tea&sort=name&cursor=abc_-"
        );
        assert_eq!(
            listing_url("/ops/products", "a&b=c", Sort::Newest, None),
            "/ops/products?q=a%26b%3Dc"
        );
    }
}
