//! Listings that grow page by page: the "Load more" link under them, and the next page's rows
//! that htmx appends, one partial for every listing.

use std::fmt::Display;

use askama::Template;

/// The "Load more" link (`#load-more`) under a listing. Without JavaScript it opens the next
/// page; htmx fetches the next page's items into `target` instead, and the answer replaces
/// this element (out of band) with the link after them.
#[derive(Template)]
#[template(path = "partials/load_more.html")]
pub struct LoadMore {
    /// The next page; None on the last one.
    pub next_url: Option<String>,
    /// The selector of the element the next items are appended to.
    pub target: &'static str,
    pub oob: bool,
}

/// The next page of a listing, for htmx to append to its `target`: each row as its own
/// template renders it, then the link after them.
#[derive(Template)]
#[template(path = "partials/more.html")]
pub struct MoreView<R: Display> {
    pub rows: Vec<R>,
    pub load_more: LoadMore,
}
