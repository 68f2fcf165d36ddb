//! Keyward's HTTP layer: a thin axum front over [`keyward_service::Keyward`].
//!
//! # Layout
//! - [`app`]: the whole router (what tests drive in-process with `oneshot`); [`serve`] and
//!   [`serve_tls`] run it on a listener with graceful shutdown.
//! - `routes`: the handlers, one module per area of SPEC §2, each with its OpenAPI description,
//!   and the web console's files (`routes::console`, SPEC §4).
//! - [`error`]: the one mapping from errors to problem details.
//! - `extract`: extractors whose rejections are problem details; the authenticated caller.
//! - `auth`: where credentials are read from; session and CSRF cookies.
//! - `signed`: requests as RFC 9421 signatures see them (management calls, `/v1/verify`'s
//!   `request`, forward-auth's forwarded headers).
//! - [`client_ip`]: the client address, believing forwarding headers only from trusted proxies.
//! - [`dto`]: the wire types and their explicit conversions from domain and service types.
//! - `openapi`: the document's frame and security schemes.
//! - [`metrics`]: request-latency histograms and the Prometheus text of `GET /metrics`.
//!
//! Architecture invariants: handlers decide nothing about authorization themselves; they ask
//! `keyward_domain::policy` for a proof and pass it to the service. Only this crate knows HTTP.
//! Request logs name the method, the matched route template, the status and the latency,
//! never headers, bodies or query strings (which could hold secrets).

pub mod client_ip;
pub mod dto;
pub mod error;
pub mod metrics;

mod auth;
mod extract;
mod openapi;
mod routes;
mod signed;

use axum::extract::State;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::Response;
use axum::Router;
use keyward_service::Keyward;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The service; every decision and every write happens behind it.
    pub(crate) keyward: Keyward,
    /// Whether cookies get the `Secure` attribute: when this node serves TLS itself.
    pub(crate) secure_cookies: bool,
    /// The OpenAPI document, serialized once when the router is built.
    pub(crate) openapi_json: Arc<str>,
    /// Request-latency histograms of this router (`GET /metrics`).
    pub(crate) http_metrics: Arc<metrics::HttpMetrics>,
}

/// The whole HTTP API: the router, behind the forward-auth fast path ([`App`]).
///
/// The client address comes from `ConnectInfo<SocketAddr>` when the app is served with
/// [`serve`]/[`serve_tls`]; without it (in-process tests) the client address is unknown.
pub fn app(keyward: Keyward) -> App {
    let (router, doc) = routes::api_router().split_for_parts();
    let openapi_json: Arc<str> = match doc.to_json() {
        Ok(json) => json.into(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize the OpenAPI document");
            "{}".into()
        }
    };
    let http_metrics = Arc::new(metrics::HttpMetrics::default());
    let state = AppState {
        secure_cookies: keyward.config().tls_cert.is_some(),
        keyward,
        openapi_json,
        http_metrics: http_metrics.clone(),
    };
    // Layers added later wrap the ones added before: the request log (which also feeds the
    // latency histograms) is outermost, so it sees the final status and the whole latency;
    // panics are caught innermost, so they still become problem details.
    let router = router
        .fallback(error::not_found_fallback)
        .method_not_allowed_fallback(error::method_not_allowed_fallback)
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(from_fn_with_state(http_metrics, finish))
        .with_state(state.clone());
    App { router, state }
}

/// The HTTP API as one service: `GET /v1/forward-auth` straight to its handler, everything else
/// through the router.
///
/// Forward-auth sits on the critical path of every request a gateway lets through, and the
/// router's generic machinery (matching, per-route layers, boxed futures and service clones)
/// cost it more than the check itself (profile in docs/BENCHMARKS.md). The fast path calls the
/// same handler and finishes the answer with the same [`finish_response`] as every other
/// route, so answers do not differ; other methods on that path still go to the router (`405`),
/// which also keeps it in the OpenAPI document.
#[derive(Clone)]
pub struct App {
    router: Router,
    state: AppState,
}

const FORWARD_AUTH_PATH: &str = "/v1/forward-auth";

impl<B> tower::Service<axum::http::Request<B>> for App
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::Either<
        <Router as tower::Service<Request>>::Future,
        std::pin::Pin<Box<dyn Future<Output = Result<Response, std::convert::Infallible>> + Send>>,
    >;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        use futures_util::FutureExt as _;
        let request = request.map(axum::body::Body::new);
        if request.method() != axum::http::Method::GET || request.uri().path() != FORWARD_AUTH_PATH {
            return futures_util::future::Either::Left(tower::Service::call(&mut self.router, request));
        }
        let state = self.state.clone();
        futures_util::future::Either::Right(Box::pin(async move {
            let started = Instant::now();
            let http_metrics = state.http_metrics.clone();
            let answer = std::panic::AssertUnwindSafe(routes::verify::forward_auth(State(state), request))
                .catch_unwind()
                .await
                .unwrap_or_else(error::panic_response);
            Ok(finish_response(&http_metrics, &axum::http::Method::GET, Some(FORWARD_AUTH_PATH), started, answer).await)
        }))
    }
}

/// The OpenAPI 3.1 document of [`app`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes::api_router().split_for_parts().1
}

/// Serves plain HTTP on `listener` until `shutdown` completes, then lets open requests finish.
pub async fn serve(
    keyward: Keyward,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    // Answers are small and written at once: send them without waiting for more (Nagle).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let app = axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app(keyward));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// How long open connections may take to finish after a TLS server is told to shut down.
const TLS_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves HTTPS (rustls) on `listener` with the PEM certificate chain and private key given,
/// until `shutdown` completes. Session cookies are `Secure` when the configuration names a
/// certificate.
pub async fn serve_tls(
    keyward: Keyward,
    listener: tokio::net::TcpListener,
    cert: &Path,
    key: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Several rustls back ends are compiled in, so one must be chosen for the process; an
    // error only means one was installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await?;
    let handle = axum_server::Handle::new();
    let watcher = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        watcher.graceful_shutdown(Some(TLS_SHUTDOWN_GRACE));
    });
    axum_server::from_tcp_rustls(listener.into_std()?, tls)
        .handle(handle)
        .serve(axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app(keyward)))
        .await
}

/// The routes whose request lines are logged at `debug` (see [`finish`]).
const DATA_PLANE_ROUTES: [&str; 2] = ["/v1/forward-auth", "/v1/verify"];

/// Every answer passes here once (one middleware rather than several: each layer costs the data
/// plane a service clone and a boxed future per request):
/// - error answers that did not come from `ApiError` become problem details
///   ([`error::ensure_problem_json`]);
/// - the headers every answer carries: no MIME sniffing, no referrer, no framing, no caching
///   (API answers hold keys and personal data);
/// - one log line: method, route template, status, latency, and the latency in the histogram of
///   its method and route template. Nothing else from the request is logged, because headers,
///   bodies and query strings can hold secrets. The data plane's lines are at `debug`: every
///   check is in the usage log already, and a line per check would cost the gateway's hot path
///   more than the check itself.
async fn finish(State(http_metrics): State<Arc<metrics::HttpMetrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    finish_response(&http_metrics, &method, route.as_ref().map(MatchedPath::as_str), started, response).await
}

/// What [`finish`] does to an answer, for the router and the forward-auth fast path alike.
async fn finish_response(
    http_metrics: &metrics::HttpMetrics,
    method: &axum::http::Method,
    route: Option<&str>,
    started: Instant,
    response: Response,
) -> Response {
    let mut response = error::ensure_problem_json(response).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    let elapsed = started.elapsed();
    http_metrics.observe(method, route.unwrap_or(metrics::UNMATCHED), elapsed);
    let route = route.unwrap_or("<unmatched>");
    let status = response.status().as_u16();
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    if DATA_PLANE_ROUTES.contains(&route) {
        tracing::debug!(method = %method, route, status, latency_us, "request");
    } else {
        tracing::info!(method = %method, route, status, latency_us, "request");
    }
    response
}
