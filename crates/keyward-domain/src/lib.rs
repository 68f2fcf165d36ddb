//! Keyward's domain: what an API key, a permission, a grant, a role, a catalog, a network
//! restriction and an administrator *are*, and the rules that relate them.
//!
//! # Layout
//! - [`ids`] — newtype ids and the base62 alphabet they use.
//! - [`secret`] — the opaque key format (`<prefix>_<id>_<secret><check>`), keyed hashing, parsing
//!   of presented credentials.
//! - [`permission`] — the permission grammar, grants with targets, coverage and intersection.
//! - [`catalog`] — scopes, resources and roles the operator configures; the example catalog.
//! - [`network`] — network restrictions (normalized CIDRs).
//! - [`key`] — the API key record, its status, expiry and privileges.
//! - [`admin`] — administrators.
//! - [`policy`] — the authorization rules of SPEC §1, decided in one place.
//! - [`clock`] — the injected clock.
//! - [`signing_key`] — ECDSA P-256 verify keys (parsed once, checked with `ring`) and signing keys.
//! - [`signature`] — RFC 9421 HTTP Message Signatures of requests and RFC 9530 `Content-Digest`.
//! - [`token`] — access-token and jwt-format key claims, scopes, and their time rules.
//!
//! Architecture invariant: this crate does no I/O. It knows nothing of HTTP, SQL or JSON
//! (`serde` derives only; no `serde_json`), so every rule here is testable as a pure function.

pub mod admin;
pub mod catalog;
pub mod clock;
pub mod error;
pub mod ids;
pub mod key;
pub mod network;
pub mod permission;
pub mod policy;
pub mod secret;
pub mod signature;
pub mod signing_key;
pub mod token;

pub use error::ValidationError;
