//! Pages that are not a capability of their own: the home page.

use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use crate::app::AppState;
use crate::render::{PageContext, page};
use crate::session::CurrentUser;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home_page))
}

#[derive(Template)]
#[template(path = "pages/home.html")]
struct HomeView<'a> {
    user: Option<&'a CurrentUser>,
}

async fn home_page(ctx: PageContext) -> Response {
    page(
        &ctx,
        StatusCode::OK,
        "Welcome",
        &HomeView {
            user: ctx.user.as_ref(),
        },
    )
}
