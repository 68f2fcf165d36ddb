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
mod header_names;
mod openapi;
mod routes;
mod signed;

use axum::extract::State;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request};
use axum::http::{header, HeaderMap, HeaderValue};
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

/// The whole HTTP API: the router, behind the data plane's fast path ([`App`]).
///
/// The client address comes from the connection when the app is served with
/// [`serve`]/[`serve_tls`], or from a `ConnectInfo<SocketAddr>` extension of the request (how
/// in-process tests give one); without either the client address is unknown.
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
        .layer(from_fn_with_state(http_metrics.clone(), finish))
        .with_state(state.clone());
    let shared = Shared {
        forward_auth_histograms: http_metrics.route(FORWARD_AUTH_PATH),
        verify_histograms: http_metrics.route(VERIFY_PATH),
        router,
        state,
    };
    App { shared: Arc::new(shared), peer: None }
}

/// The HTTP API as one service: the data plane (`GET /v1/forward-auth`, `POST /v1/verify`)
/// straight to its handlers, everything else through the router.
///
/// The data plane sits on the critical path of every request a platform serves, and the
/// router's generic machinery (matching, per-route layers, boxed futures, service clones, an
/// extension map per request for the client address) cost it more than the check itself
/// (profiles in docs/BENCHMARKS.md). The fast path runs the same extractors and handlers and
/// finishes the answer with the same [`finish_response`] as the router, so answers do not
/// differ; other methods on those paths still go to the router (`405`), which also keeps them
/// in the OpenAPI document.
///
/// Served by [`serve`]/[`serve_tls`], there is one `App` per connection, holding the peer's
/// address ([`MakeApp`]); cloning one per request is one reference count.
#[derive(Clone)]
pub struct App {
    shared: Arc<Shared>,
    /// The connection's peer, when served by [`serve`]/[`serve_tls`].
    peer: Option<SocketAddr>,
}

struct Shared {
    router: Router,
    state: AppState,
    /// The fast path's latency histograms, looked up once.
    forward_auth_histograms: Arc<metrics::RouteHistograms>,
    verify_histograms: Arc<metrics::RouteHistograms>,
}

const FORWARD_AUTH_PATH: &str = "/v1/forward-auth";
const VERIFY_PATH: &str = "/v1/verify";

type BoxedAnswer = std::pin::Pin<Box<dyn Future<Output = Result<Response, std::convert::Infallible>> + Send>>;

impl<B> tower::Service<axum::http::Request<B>> for App
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::Either<<Router as tower::Service<Request>>::Future, BoxedAnswer>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        use futures_util::future::Either;
        if *request.method() == axum::http::Method::GET && request.uri().path() == FORWARD_AUTH_PATH {
            // Only the headers are read: the body is dropped here, not boxed as the router's is.
            let (head, _) = request.into_parts();
            let shared = self.shared.clone();
            let peer = self.peer.or_else(|| connect_info(&head.extensions));
            let headers = head.headers;
            return Either::Right(Box::pin(async move {
                let started = Instant::now();
                let state = &shared.state;
                let answer = caught(routes::verify::forward_auth_answer(state, &headers, peer)).await;
                drop(headers);
                let histograms = &shared.forward_auth_histograms;
                Ok(finish_response(histograms, &axum::http::Method::GET, FORWARD_AUTH_PATH, started, answer).await)
            }));
        }
        if *request.method() == axum::http::Method::POST && request.uri().path() == VERIFY_PATH {
            let (head, body) = request.into_parts();
            let shared = self.shared.clone();
            let peer = self.peer.or_else(|| connect_info(&head.extensions));
            let (headers, body) = (head.headers, axum::body::Body::new(body));
            return Either::Right(Box::pin(async move {
                let started = Instant::now();
                let answer = caught(routes::verify::verify_request(&shared.state, &headers, body, peer)).await;
                drop(headers);
                let histograms = &shared.verify_histograms;
                Ok(finish_response(histograms, &axum::http::Method::POST, VERIFY_PATH, started, answer).await)
            }));
        }
        let mut request = request.map(axum::body::Body::new);
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        Either::Left(tower::Service::call(&mut self.shared.router.clone(), request))
    }
}

/// The client address an in-process caller put in the request.
pub(crate) fn connect_info(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| *addr)
}

/// A fast-path answer, with a panic turned into the same problem as the router's
/// (`CatchPanicLayer` there).
///
/// A combinator rather than an `async fn`: an `async fn` keeps its argument (here the whole
/// handler's future) twice in its own future, once as passed and once as moved into its body,
/// and the fast path boxes that future for every request (see [`App`]).
fn caught(answer: impl Future<Output = Response>) -> impl Future<Output = Response> {
    use futures_util::FutureExt as _;
    std::panic::AssertUnwindSafe(answer).catch_unwind().map(|caught| caught.unwrap_or_else(error::panic_response))
}

/// Makes one [`App`] per connection, holding the peer's address (for `axum::serve`, and for
/// `axum_server` with TLS).
#[derive(Clone)]
pub struct MakeApp(App);

impl App {
    /// What [`serve`] and [`serve_tls`] serve: this app, told each connection's peer.
    pub fn into_make_service(self) -> MakeApp {
        MakeApp(self)
    }

    fn for_peer(&self, peer: SocketAddr) -> App {
        App { shared: self.shared.clone(), peer: Some(peer) }
    }
}

impl<'a, L> tower::Service<axum::serve::IncomingStream<'a, L>> for MakeApp
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    type Response = App;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<App, std::convert::Infallible>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: axum::serve::IncomingStream<'a, L>) -> Self::Future {
        std::future::ready(Ok(self.0.for_peer(*stream.remote_addr())))
    }
}

impl tower::Service<SocketAddr> for MakeApp {
    type Response = App;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<App, std::convert::Infallible>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, peer: SocketAddr) -> Self::Future {
        std::future::ready(Ok(self.0.for_peer(peer)))
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
    axum::serve(listener, app(keyward).into_make_service()).with_graceful_shutdown(shutdown).await
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
    axum_server::from_tcp_rustls(listener.into_std()?, tls).handle(handle).serve(app(keyward).into_make_service()).await
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
    let route = route.as_ref().map_or(metrics::UNMATCHED, MatchedPath::as_str);
    finish_response(&http_metrics.route(route), &method, route, started, response).await
}

/// The headers every answer carries (see [`finish`]). They are set together, here only, so an
/// answer that has the first has them all: forward-auth's answers are copies of templates made
/// with them (`routes::verify`), and are not given them again.
pub(crate) fn secure_headers(headers: &mut HeaderMap) {
    if headers.contains_key(header::X_CONTENT_TYPE_OPTIONS) {
        return;
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
}

/// What [`finish`] does to an answer, for the router and the data plane's fast path alike.
/// `route` is the matched route template, or [`metrics::UNMATCHED`].
///
/// A combinator rather than an `async fn`, for the size of the fast path's future (see
/// [`caught`]): an answer that needs no conversion (every answer of the data plane) is not
/// held twice in it.
fn finish_response<'a>(
    histograms: &'a metrics::RouteHistograms,
    method: &'a axum::http::Method,
    route: &'a str,
    started: Instant,
    response: Response,
) -> impl Future<Output = Response> + 'a {
    use futures_util::FutureExt as _;
    error::ensure_problem_json(response).map(move |mut response| {
        secure_headers(response.headers_mut());
        let elapsed = started.elapsed();
        histograms.observe(method, elapsed);
        let status = response.status().as_u16();
        let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let route = if route == metrics::UNMATCHED { "<unmatched>" } else { route };
        if DATA_PLANE_ROUTES.contains(&route) {
            tracing::debug!(method = %method, route, status, latency_us, "request");
        } else {
            tracing::info!(method = %method, route, status, latency_us, "request");
        }
        response
    })
}
