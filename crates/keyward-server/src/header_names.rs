//! The non-standard header names Keyward reads and writes, parsed once at compile time: a
//! lookup by a `&str` name validates and lowercases the name on every call, which the data
//! plane would pay several times per request.

use axum::http::HeaderName;

pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
pub const X_KEYWARD_PERMISSION: HeaderName = HeaderName::from_static("x-keyward-permission");
pub const X_KEYWARD_TARGET: HeaderName = HeaderName::from_static("x-keyward-target");
pub const X_KEYWARD_KEY_ID: HeaderName = HeaderName::from_static("x-keyward-key-id");
pub const X_KEYWARD_OWNER: HeaderName = HeaderName::from_static("x-keyward-owner");
pub const X_KEYWARD_CODE: HeaderName = HeaderName::from_static("x-keyward-code");
pub const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
pub const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
pub const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
pub const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub const SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");
pub const SIGNATURE: HeaderName = HeaderName::from_static("signature");
