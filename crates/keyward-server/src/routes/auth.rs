//! `POST /v1/auth/login`, `POST /v1/auth/logout`, `GET /v1/auth/me`: administrators' sessions;
//! `POST /v1/auth/password`: any administrator changes their own password.
//!
//! Login answers with the session token and CSRF token in the body (for scripts and the CLI)
//! and also sets the console's cookies: `keyward_session` (`HttpOnly`) and `keyward_csrf`
//! (readable by the console's script, which echoes it in `X-CSRF-Token`).

use crate::auth::{login_cookies, logout_cookies, CSRF_HEADER};
use crate::dto::{AdminDto, ChangePasswordRequest, LoginRequest, LoginResponse};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Caller, Ctx};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use keyward_domain::policy::authorize_own_account;

/// Log in as an administrator.
///
/// Failed attempts are throttled per account and per client address (`429` with
/// `Retry-After`). A disabled administrator with the right password is `403`.
#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; also sets the `keyward_session` and `keyward_csrf` cookies", body = LoginResponse),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The administrator is disabled", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn login(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let outcome = state.keyward.login(&body.email, &body.password, &ctx).await?;
    let max_age = (outcome.expires_at - state.keyward.now()).num_seconds();
    let mut headers = HeaderMap::new();
    for cookie in login_cookies(&outcome.session_token, &outcome.csrf_token, max_age, state.secure_cookies) {
        headers.append(header::SET_COOKIE, cookie);
    }
    let response = LoginResponse {
        admin: AdminDto::from(&outcome.admin),
        session_token: outcome.session_token,
        csrf_token: outcome.csrf_token,
        expires_at: outcome.expires_at,
    };
    Ok((headers, Json(response)))
}

/// End the current session (and clear the console's cookies).
#[utoipa::path(
    post, path = "/v1/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a session (API keys have none), or a cookie write without `X-CSRF-Token`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []))
)]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<impl IntoResponse, ApiError> {
    state.keyward.logout(&caller.auth).await?;
    let mut headers = HeaderMap::new();
    for cookie in logout_cookies(state.secure_cookies) {
        headers.append(header::SET_COOKIE, cookie);
    }
    Ok((StatusCode::NO_CONTENT, headers))
}

/// The current administrator (for an API key: its owner).
///
/// For a session, the answer also carries the session's CSRF token in the `X-CSRF-Token`
/// header, so a console that lost its cookie copy can recover it.
#[utoipa::path(
    get, path = "/v1/auth/me", tag = "auth",
    responses(
        (status = 200, body = AdminDto, headers(("X-CSRF-Token" = String, description = "The session's CSRF token (sessions only)"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = []), ("basic" = []))
)]
pub async fn me(caller: Caller) -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    if let Some(csrf) = caller.auth.csrf_token.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
        headers.insert(CSRF_HEADER, csrf);
    }
    (headers, Json(AdminDto::from(&caller.auth.principal.admin)))
}

/// Change your own password (any administrator, logged in; not with an API key).
///
/// The current password must be given: an unattended open session is not enough. Wrong current
/// passwords are throttled like failed logins. Your sessions stay open. A superadmin resets
/// other administrators' passwords with `PATCH /v1/admins/{id}`.
#[utoipa::path(
    post, path = "/v1/auth/password", tag = "auth",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The current password is wrong, an API key asked, or a cookie write without `X-CSRF-Token`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password is not acceptable", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong current passwords; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []))
)]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let proof = authorize_own_account(&caller.auth.principal)?;
    state.keyward.change_own_password(&proof, &body.current_password, &body.new_password, &caller.ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
