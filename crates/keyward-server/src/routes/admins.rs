//! `/v1/admins` (superadmin sessions only) and `GET /v1/catalog` (any authenticated caller).
//!
//! Who may manage administrators is decided by `keyward_domain::policy::authorize_admin_management`;
//! handlers only pass its proof on.

use crate::dto::{grant_inputs, AdminDto, AdminList, CatalogDto, CreateAdminRequest, UpdateAdminRequest};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Caller};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use keyward_domain::ids::AdminId;
use keyward_domain::policy::authorize_admin_management;
use keyward_service::admins::{AdminPatch, NewAdmin};

/// List administrators.
#[utoipa::path(
    get, path = "/v1/admins", tag = "admins",
    responses(
        (status = 200, body = AdminList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a superadmin session", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []))
)]
pub async fn list_admins(State(state): State<AppState>, caller: Caller) -> Result<Json<AdminList>, ApiError> {
    let proof = authorize_admin_management(&caller.auth.principal)?;
    let admins = state.keyward.list_admins(&proof).await?;
    Ok(Json(AdminList { items: admins.iter().map(AdminDto::from).collect(), next_cursor: None }))
}

/// Create an administrator.
#[utoipa::path(
    post, path = "/v1/admins", tag = "admins",
    request_body = CreateAdminRequest,
    responses(
        (status = 201, body = AdminDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The email is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []))
)]
pub async fn create_admin(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateAdminRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let proof = authorize_admin_management(&caller.auth.principal)?;
    let input = NewAdmin {
        email: body.email,
        name: body.name,
        password: body.password,
        role: body.role,
        can_manage_keys: body.can_manage_keys,
        permissions: grant_inputs(Some(body.permissions)).unwrap_or_default(),
    };
    let admin = state.keyward.create_admin(&proof, input, &caller.ctx).await?;
    Ok((StatusCode::CREATED, Json(AdminDto::from(&admin))))
}

/// Show an administrator.
#[utoipa::path(
    get, path = "/v1/admins/{id}", tag = "admins",
    params(("id" = String, Path, description = "Administrator id")),
    responses(
        (status = 200, body = AdminDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []))
)]
pub async fn get_admin(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AdminDto>, ApiError> {
    let proof = authorize_admin_management(&caller.auth.principal)?;
    let admin = state.keyward.get_admin(&proof, &AdminId::from_string(id)).await?;
    Ok(Json(AdminDto::from(&admin)))
}

/// Change an administrator: disable/enable, role, keys permission, permissions, password.
///
/// Disabling ends the admin's sessions at once and every key they own stops verifying
/// (`owner_disabled`). Narrowing their permissions narrows every key they own at once.
#[utoipa::path(
    patch, path = "/v1/admins/{id}", tag = "admins",
    params(("id" = String, Path, description = "Administrator id")),
    request_body = UpdateAdminRequest,
    responses(
        (status = 200, body = AdminDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email taken, or a change to yourself that is not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []))
)]
pub async fn update_admin(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateAdminRequest>,
) -> Result<Json<AdminDto>, ApiError> {
    let proof = authorize_admin_management(&caller.auth.principal)?;
    let patch = AdminPatch {
        email: body.email,
        name: body.name,
        role: body.role,
        can_manage_keys: body.can_manage_keys,
        permissions: grant_inputs(body.permissions),
        disabled: body.disabled,
        password: body.password,
    };
    let admin = state.keyward.update_admin(&proof, &AdminId::from_string(id), patch, &caller.ctx).await?;
    Ok(Json(AdminDto::from(&admin)))
}

/// Delete an administrator; every key they own is revoked first (each revocation audited).
#[utoipa::path(
    delete, path = "/v1/admins/{id}", tag = "admins",
    params(("id" = String, Path, description = "Administrator id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "You cannot delete yourself", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []))
)]
pub async fn delete_admin(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let proof = authorize_admin_management(&caller.auth.principal)?;
    state.keyward.delete_admin(&proof, &AdminId::from_string(id), &caller.ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The permission catalog: scopes with their resources, and roles.
#[utoipa::path(
    get, path = "/v1/catalog", tag = "admins",
    responses(
        (status = 200, body = CatalogDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = []), ("basic" = []))
)]
pub async fn catalog(State(state): State<AppState>, _caller: Caller) -> Json<CatalogDto> {
    Json(CatalogDto::from(state.keyward.catalog()))
}
