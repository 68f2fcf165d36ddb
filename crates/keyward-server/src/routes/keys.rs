//! `/v1/keys`: the key lifecycle over HTTP.
//!
//! Every handler asks `keyward_domain::policy::authorize_keys` for a proof (read, manage or
//! issue) and passes it to the service, which applies its visibility: another admin's key is
//! answered `404`, exactly like a key that does not exist. Handlers never compare owners.

use crate::dto::{
    grant_inputs, role_inputs, CreateKeyRequest, EmptyRequest, IssuedKeyResponse, KeyDto, KeyList, KeyListQuery,
    KeyResponse, KeyStatsDto, RefreshRequest, UpdateKeyRequest,
};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Caller, OptionalJson};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use keyward_domain::ids::KeyId;
use keyward_domain::policy::{authorize_keys, KeyAccess, KeyAction};
use keyward_service::keys::{ExpiryFields, IssuedKey, KeyListing, KeyPatch, NewKey};

fn authorize(state: &AppState, caller: &Caller, action: KeyAction) -> Result<KeyAccess, ApiError> {
    Ok(authorize_keys(&caller.auth.principal, action, state.keyward.config().policy())?)
}

fn issued(issued: &IssuedKey) -> IssuedKeyResponse {
    IssuedKeyResponse {
        key: KeyDto::new(&issued.view),
        secret: issued.secret.expose().to_string(),
        signing_private_key_pem: issued.signing_private_key_pem.as_ref().map(|p| p.expose().to_owned()),
    }
}

/// Create a key. The secret is in this answer and never again.
///
/// Needs an admin with `can_manage_keys` (or a key of theirs with `keyward.keys:write`); a
/// superadmin cannot issue keys unless `superadmin_can_issue_keys`. The key's grants and roles
/// must be within the owner's permissions (`422` otherwise).
#[utoipa::path(
    post, path = "/v1/keys", tag = "keys",
    request_body = CreateKeyRequest,
    responses(
        (status = 201, body = IssuedKeyResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "You already have a key with this name", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = []), ("basic" = []))
)]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateKeyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let access = authorize(&state, &caller, KeyAction::Issue)?;
    let input = NewKey {
        name: body.name,
        description: body.description,
        expiry: ExpiryFields {
            expires_at: body.expires_at,
            lifetime_days: body.lifetime_days,
            never_expires: body.never_expires,
        },
        roles: role_inputs(body.roles),
        grants: grant_inputs(body.grants),
        inherit: body.inherit,
        networks: body.networks,
        format: body.format,
        verify_key: body.verify_key,
        signing: body.signing,
        require_signed_writes: body.require_signed_writes,
    };
    let key = state.keyward.create_key(&access, input, &caller.ctx).await?;
    Ok((StatusCode::CREATED, Json(issued(&key))))
}

/// List the keys the caller may see, newest first.
///
/// Follow `next_cursor` until it is `null`: a page may hold fewer keys than `limit`, even none,
/// when the request stopped after examining the most keys one request examines
/// (`list_walk_limit`); the cursor then resumes the search where it stopped.
#[utoipa::path(
    get, path = "/v1/keys", tag = "keys",
    params(KeyListQuery),
    responses(
        (status = 200, body = KeyList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = []), ("basic" = []))
)]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<KeyListQuery>,
) -> Result<Json<KeyList>, ApiError> {
    let access = authorize(&state, &caller, KeyAction::Read)?;
    let listing = KeyListing {
        status: query.status,
        q: query.q,
        owner: query.owner,
        expiring_within_days: query.expiring_within_days,
        limit: query.limit,
        cursor: query.cursor,
    };
    let page = state.keyward.list_keys(&access, listing).await?;
    let items = page.items.iter().map(KeyDto::new).collect();
    Ok(Json(KeyList { items, next_cursor: page.next_cursor }))
}

/// Counts over the keys the caller may see.
#[utoipa::path(
    get, path = "/v1/keys/stats", tag = "keys",
    responses(
        (status = 200, body = KeyStatsDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = []), ("basic" = []))
)]
pub async fn key_stats(State(state): State<AppState>, caller: Caller) -> Result<Json<KeyStatsDto>, ApiError> {
    let access = authorize(&state, &caller, KeyAction::Read)?;
    Ok(Json(state.keyward.key_stats(&access).await?.into()))
}

/// Show a key.
#[utoipa::path(
    get, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, body = KeyDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, deleted, or not the caller's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = []), ("basic" = []))
)]
pub async fn get_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyDto>, ApiError> {
    let access = authorize(&state, &caller, KeyAction::Read)?;
    let view = state.keyward.get_key(&access, &KeyId::from_string(id)).await?;
    Ok(Json(KeyDto::new(&view)))
}

/// Change a key's name, description, expiry, privileges, networks or verify key.
#[utoipa::path(
    patch, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    request_body = UpdateKeyRequest,
    responses(
        (status = 200, body = KeyDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken, or the key is revoked", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = []), ("basic" = []))
)]
pub async fn update_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateKeyRequest>,
) -> Result<Json<KeyDto>, ApiError> {
    let access = authorize(&state, &caller, KeyAction::Manage)?;
    if body.format.is_some() {
        return Err(ApiError::validation("format", "a key's format is chosen at creation and cannot be changed"));
    }
    if body.signing.is_some() {
        return Err(ApiError::validation(
            "signing",
            "a signing key pair is generated only at creation; to replace the verify key, generate a pair \
             yourself (e.g. `openssl ecparam -name prime256v1 -genkey`) and set `verify_key` to its public half",
        ));
    }
    let patch = KeyPatch {
        name: body.name,
        description: body.description,
        expiry: ExpiryFields {
            expires_at: body.expires_at,
            lifetime_days: body.lifetime_days,
            never_expires: body.never_expires,
        },
        roles: role_inputs(body.roles),
        grants: grant_inputs(body.grants),
        inherit: body.inherit,
        networks: body.networks,
        verify_key: body.verify_key,
        require_signed_writes: body.require_signed_writes,
    };
    let view = state.keyward.update_key(&access, &KeyId::from_string(id), patch, &caller.ctx).await?;
    Ok(Json(KeyDto::new(&view)))
}

/// Delete a key: revoked first if needed, then hidden from listings. Its log history stays
/// searchable by its id.
#[utoipa::path(
    delete, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, already deleted, or not the caller's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = []), ("basic" = []))
)]
pub async fn delete_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let access = authorize(&state, &caller, KeyAction::Manage)?;
    state.keyward.delete_key(&access, &KeyId::from_string(id), &caller.ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// New secret, same settings and expiry. With `grace_period_seconds` the old secret keeps
/// working until then. The body is optional.
#[utoipa::path(
    post, path = "/v1/keys/{id}/refresh", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    request_body(content = Option<RefreshRequest>, description = "Optional"),
    responses(
        (status = 200, body = IssuedKeyResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is revoked", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = []), ("basic" = []))
)]
pub async fn refresh_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<RefreshRequest>,
) -> Result<Json<IssuedKeyResponse>, ApiError> {
    let access = authorize(&state, &caller, KeyAction::Issue)?;
    let key =
        state.keyward.refresh_key(&access, &KeyId::from_string(id), body.grace_period_seconds, &caller.ctx).await?;
    Ok(Json(issued(&key)))
}

/// New secret, expiry reset to now + the key's `lifetime_days`, privileges reset to
/// `initial_privileges`. The body is optional (empty object).
#[utoipa::path(
    post, path = "/v1/keys/{id}/regenerate", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    request_body(content = Option<EmptyRequest>, description = "Optional"),
    responses(
        (status = 200, body = IssuedKeyResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is revoked", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = []), ("basic" = []))
)]
pub async fn regenerate_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(EmptyRequest {}): OptionalJson<EmptyRequest>,
) -> Result<Json<IssuedKeyResponse>, ApiError> {
    let access = authorize(&state, &caller, KeyAction::Issue)?;
    let key = state.keyward.regenerate_key(&access, &KeyId::from_string(id), &caller.ctx).await?;
    Ok(Json(issued(&key)))
}

/// Revoke a key: unusable at once, irreversibly. Idempotent. The body is optional.
#[utoipa::path(
    post, path = "/v1/keys/{id}/revoke", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    request_body(content = Option<EmptyRequest>, description = "Optional"),
    responses(
        (status = 200, body = KeyResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = []), ("basic" = []))
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(EmptyRequest {}): OptionalJson<EmptyRequest>,
) -> Result<Json<KeyResponse>, ApiError> {
    let access = authorize(&state, &caller, KeyAction::Manage)?;
    let view = state.keyward.revoke_key(&access, &KeyId::from_string(id), &caller.ctx).await?;
    Ok(Json(KeyResponse { key: KeyDto::new(&view) }))
}
