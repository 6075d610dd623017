//! The chat page at `/`: one static HTML file (no build step), served without the API key (it
//! asks for one when the API answers 401).

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX: &str = include_str!("page/index.html");

/// A fan of three lines: the page's icon.
const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><g stroke="#5aa9ff" stroke-width="2" stroke-linecap="round"><path d="M2 8h4"/><path d="M6 8l8-5"/><path d="M6 8h8"/><path d="M6 8l8 5"/></g></svg>"##;

pub(crate) fn routes() -> Router<Arc<crate::State>> {
    Router::new().route("/", get(index)).route("/favicon.svg", get(icon)).route("/favicon.ico", get(icon))
}

async fn icon() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "max-age=86400")], ICON)
}

async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
            ),
        ],
        INDEX,
    )
}
