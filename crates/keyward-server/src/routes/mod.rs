//! The HTTP endpoints, one module per area of SPEC §2. Every handler carries a
//! `#[utoipa::path]`, and [`api_router`] registers each through `utoipa_axum::routes!`, so the
//! router and the OpenAPI document are built from the same list and cannot drift apart.

pub mod admins;
pub mod auth;
pub mod console;
pub mod keys;
pub mod logs;
pub mod oauth;
pub mod ops;
pub mod verify;

use crate::openapi::ApiDoc;
use crate::AppState;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every endpoint, with its OpenAPI description.
pub(crate) fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(admins::list_admins, admins::create_admin))
        .routes(routes!(admins::get_admin, admins::update_admin, admins::delete_admin))
        .routes(routes!(admins::catalog))
        .routes(routes!(keys::create_key, keys::list_keys))
        .routes(routes!(keys::key_stats))
        .routes(routes!(keys::get_key, keys::update_key, keys::delete_key))
        .routes(routes!(keys::refresh_key))
        .routes(routes!(keys::regenerate_key))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(logs::search_logs))
        // The management routes above see the buffered body of API-key requests (signed writes);
        // a management route (one taking `Caller`) must be registered above this line.
        .route_layer(axum::middleware::from_fn(crate::signed::capture_body))
        .routes(routes!(verify::verify))
        .routes(routes!(verify::forward_auth))
        .routes(routes!(oauth::token))
        .routes(routes!(oauth::introspect))
        .routes(routes!(oauth::revoke))
        .routes(routes!(oauth::jwks))
        .routes(routes!(oauth::metadata))
        .routes(routes!(oauth::list_signing_keys))
        .routes(routes!(oauth::rotate_signing_key))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi_json))
        .routes(routes!(console::index))
        .routes(routes!(console::console_asset))
        // The console's files one folder down (`views/…`); documented with the route above.
        .route("/console/{dir}/{path}", axum::routing::get(console::console_asset))
}
