//! The HTTP stack shared by every service: request ids (also carried on calls to other
//! services), access logs, metrics, panics and timeouts answered cleanly, health routes,
//! the JSON extractor, and serving with graceful shutdown.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::ErrorCode;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::header::{self, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use utoipa::openapi::OpenApi;

use crate::broker::Broker;
use crate::metrics::Metrics;
use crate::{ApiError, FieldErrors};

/// The header carrying the request id across services.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT_REQUEST_ID: String;
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

/// Adds the current request id to an outgoing call so logs can be joined across services.
pub trait WithRequestId {
    fn with_request_id(self) -> Self;
}

impl WithRequestId for reqwest::RequestBuilder {
    fn with_request_id(self) -> Self {
        match current_request_id() {
            Some(id) => self.header(REQUEST_ID, id),
            None => self,
        }
    }
}

/// What every answer tells a browser unless it says otherwise (web's pages do): it is data,
/// not a document to run, frame or sniff, and links from it carry no referrer.
const JSON_DEFAULTS: [(HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// Whose `X-Request-Id` a server keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestIds {
    /// The caller's, when it sends one: the services behind web keep the id web set, so one
    /// id follows a request through the shop.
    FromCaller,
    /// Always one of its own: at the edge (web) a client's id would let it forge or mix up
    /// other requests' log lines.
    Own,
}

/// Records the verified caller on the request's access-log line.
pub fn record_user(user: &impl std::fmt::Display) {
    tracing::Span::current().record("user", tracing::field::display(user));
}

/// Wraps a service's router in the shared layers: request id, access log (with the peer, what
/// it says it forwards for, and the user once known), metrics, panic and timeout handling, a
/// body size limit and the default security headers.
pub fn with_common_layers(router: Router, metrics: Arc<Metrics>, request_ids: RequestIds) -> Router {
    let router = JSON_DEFAULTS.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ))
    });
    let router = router.layer(middleware::from_fn_with_state(metrics, observe)).layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request| {
                        let request_id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        let peer = req
                            .extensions()
                            .get::<ConnectInfo<SocketAddr>>()
                            .map(|ConnectInfo(peer)| peer.ip().to_string())
                            .unwrap_or_default();
                        let forwarded_for = req
                            .headers()
                            .get("x-forwarded-for")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        tracing::info_span!(
                            "request",
                            method = %req.method(),
                            path = %req.uri().path(),
                            request_id = %request_id,
                            peer = %peer,
                            forwarded_for = %forwarded_for,
                            user = tracing::field::Empty,
                        )
                    })
                    .on_request(())
                    .on_response(
                        |res: &axum::http::Response<_>, latency: Duration, _span: &tracing::Span| {
                            tracing::info!(
                                status = res.status().as_u16(),
                                latency_ms = latency.as_secs_f64() * 1000.0,
                                "answered"
                            );
                        },
                    )
                    .on_failure(()),
            )
            .layer(CatchPanicLayer::custom(|_| {
                ApiError::internal("handler panicked").into_response()
            }))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                Duration::from_secs(30),
            ))
            .layer(DefaultBodyLimit::max(256 * 1024)),
    );
    match request_ids {
        RequestIds::FromCaller => router,
        RequestIds::Own => router.layer(middleware::map_request(|mut request: Request| async move {
            request.headers_mut().remove(REQUEST_ID);
            request
        })),
    }
}

/// Records the request in the metrics and makes its id visible to outgoing calls.
async fn observe(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = CURRENT_REQUEST_ID.scope(request_id, next.run(request)).await;
    metrics.observe_request(&method, &route, response.status().as_u16(), started.elapsed());
    response
}

/// Something `/readyz` checks.
#[derive(Clone)]
pub enum Dependency {
    Database(sqlx::PgPool),
    Broker(Broker),
    /// Another service, ready when its `/readyz` answers 2xx.
    Service {
        name: &'static str,
        base_url: String,
        client: reqwest::Client,
    },
}

impl Dependency {
    fn name(&self) -> &'static str {
        match self {
            Dependency::Database(_) => "database",
            Dependency::Broker(_) => "broker",
            Dependency::Service { name, .. } => name,
        }
    }

    async fn check(&self) -> Result<(), String> {
        match self {
            Dependency::Database(pool) => crate::db::ping(pool).await.map_err(|e| e.to_string()),
            Dependency::Broker(broker) => {
                if broker.is_connected().await {
                    Ok(())
                } else {
                    Err("disconnected".into())
                }
            }
            Dependency::Service { base_url, client, .. } => {
                let response = client
                    .get(format!("{base_url}/healthz"))
                    .send()
                    .await
                    .map_err(|e| e.without_url().to_string())?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("answered {}", response.status()))
                }
            }
        }
    }
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    checks: std::collections::BTreeMap<&'static str, String>,
}

/// `/healthz`: the process answers (for load balancers, on every listener).
fn liveness_router() -> Router {
    Router::new().route("/healthz", get(|| async { "ok" }))
}

/// The internal listener's routes: `/healthz`, `/readyz` (its dependencies answer),
/// `/metrics` and the API's description (`/openapi.json`), which say what the shop depends
/// on, how busy it is and what it answers, so they stay off the public port.
fn internal_router(metrics: Arc<Metrics>, dependencies: Vec<Dependency>, openapi: Option<OpenApi>) -> Router {
    let dependencies = Arc::new(dependencies);
    let described = match openapi {
        Some(api) => {
            let api = Arc::new(api);
            Router::new().route("/openapi.json", get(move || async move { Json(api.as_ref().clone()) }))
        }
        None => Router::new(),
    };
    liveness_router()
        .merge(described)
        .route(
            "/readyz",
            get(move || {
                let dependencies = dependencies.clone();
                async move { readiness(&dependencies).await }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.render(),
                    )
                }
            }),
        )
}

async fn readiness(dependencies: &[Dependency]) -> Response {
    let results = futures_join_all(dependencies).await;
    let ready = results.iter().all(|(_, r)| r.is_ok());
    let checks = results
        .into_iter()
        .map(|(name, r)| (name, r.map_or_else(|e| format!("down: {e}"), |()| "ok".to_owned())))
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if ready { "ready" } else { "not_ready" },
            checks,
        }),
    )
        .into_response()
}

async fn futures_join_all(dependencies: &[Dependency]) -> Vec<(&'static str, Result<(), String>)> {
    let mut set = tokio::task::JoinSet::new();
    for (index, dependency) in dependencies.iter().cloned().enumerate() {
        set.spawn(async move {
            let outcome = tokio::time::timeout(Duration::from_secs(2), dependency.check())
                .await
                .unwrap_or_else(|_| Err("no answer within 2s".into()));
            (index, dependency.name(), outcome)
        });
    }
    let mut results: Vec<_> = set.join_all().await;
    results.sort_by_key(|(index, ..)| *index);
    results.into_iter().map(|(_, name, outcome)| (name, outcome)).collect()
}

/// Serves `app` on `listener` until `shutdown`, then lets in-flight requests finish.
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// Answers an unknown address (404) and a method an address does not take (405) with our
/// JSON error body; for a JSON service's router, once its routes are in.
pub fn json_fallbacks<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                "This address does not take this method.",
            )
        })
}

/// Where a service answers: its public address, and the internal one of `/readyz` and
/// `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    pub addr: SocketAddr,
    pub internal_addr: SocketAddr,
}

/// Binds a service's public and internal listeners, saying which variable to change when a
/// port is taken.
pub async fn bind_both(
    (addr, variable): (SocketAddr, &str),
    (internal_addr, internal_variable): (SocketAddr, &str),
) -> Result<(TcpListener, TcpListener, Listening), crate::StartupError> {
    let public = bind(addr, variable).await?;
    let internal = bind(internal_addr, internal_variable).await?;
    let local = |listener: &TcpListener| {
        listener
            .local_addr()
            .map_err(|e| crate::StartupError::new(e.to_string()))
    };
    let listening = Listening {
        addr: local(&public)?,
        internal_addr: local(&internal)?,
    };
    Ok((public, internal, listening))
}

/// What a service serves over HTTP.
pub struct Service {
    pub name: &'static str,
    pub app: Router,
    pub metrics: Arc<Metrics>,
    /// What `/readyz` checks.
    pub dependencies: Vec<Dependency>,
    pub request_ids: RequestIds,
    /// The API's description, served at `/openapi.json` on the internal listener.
    pub openapi: Option<OpenApi>,
}

/// Serves a service's `app` (with the shared layers and `/healthz`) on `public`, and its
/// readiness and metrics on `internal`, until `shutdown`, tracked by `tasks`. A server that
/// fails stops the process's other work too.
pub fn spawn_server(
    service: Service,
    public: TcpListener,
    internal: TcpListener,
    shutdown: CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) {
    let Service {
        name,
        app,
        metrics,
        dependencies,
        request_ids,
        openapi,
    } = service;
    let internal_app = with_common_layers(
        internal_router(metrics.clone(), dependencies, openapi),
        metrics.clone(),
        RequestIds::FromCaller,
    );
    let app = with_common_layers(app.merge(liveness_router()), metrics, request_ids);
    for (listener, app, role) in [(public, app, "public"), (internal, internal_app, "internal")] {
        let addr = listener
            .local_addr()
            .map_or_else(|_| "unknown".to_owned(), |a| a.to_string());
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = serve(listener, app, shutdown.clone()).await {
                tracing::error!(error = %e, service = name, role, "HTTP server failed");
                shutdown.cancel();
            }
        });
        tracing::info!(service = name, role, %addr, "listening");
    }
}

/// Binds `addr`, saying which variable to change when the port is taken.
pub async fn bind(addr: SocketAddr, variable: &str) -> Result<TcpListener, crate::StartupError> {
    TcpListener::bind(addr).await.map_err(|e| {
        crate::StartupError::new(format!(
            "cannot listen on {addr} ({e}); set {variable} to another address"
        ))
    })
}

/// An address or a CIDR range (`10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let network: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has a bad prefix length"))?,
        };
        Ok(Self { network, prefix })
    }
}

/// The caller's address: the right-most `X-Forwarded-For` hop that is not a trusted proxy,
/// when the peer itself is one; the peer otherwise. Each proxy appends the address it was
/// reached from, so hops left of the last untrusted one are whatever the client wrote (an
/// attacker's choice, read left-most they would pick a new address per request). With every
/// hop trusted, the left-most is the client. A hop that is not an address stops the walk: what
/// lies left of it cannot be believed either.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted_proxies: &[IpRange]) -> IpAddr {
    let trusted = |ip: IpAddr| trusted_proxies.iter().any(|range| range.contains(ip));
    let mut client = peer.ip();
    if !trusted(client) {
        return client;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !trusted(ip) {
            break;
        }
    }
    client
}

/// A service's state names the proxies whose `X-Forwarded-For` it believes.
pub trait TrustsProxies {
    fn trusted_proxies(&self) -> &[IpRange];
}

/// The address a request comes from, as rate limits count it: [`client_ip`] of its
/// connection and headers, with the proxies the service's state trusts.
pub struct ClientAddress(pub IpAddr);

impl<S: TrustsProxies + Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |ConnectInfo(peer)| *peer);
        Ok(Self(client_ip(peer, &parts.headers, state.trusted_proxies())))
    }
}

/// A JSON body whose rejections are answered with our error body: malformed JSON is 400,
/// JSON of the wrong shape (not an object, a field of the wrong type) is 422 naming the
/// problem, text with a NUL character 422 naming its field, a wrong content type 415 and a
/// body over the limit 413.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "Send the body as JSON with `Content-Type: application/json`.",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PayloadTooLarge,
                    "The request body is too large.",
                )
            } else {
                ApiError::bad_request(rejection.body_text())
            }
        })?;
        // Every body of ours is an object; serde would also read a struct from an array.
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
                Ok(_) => wrong_shape("it must be a JSON object.".into()),
                Err(e) => ApiError::bad_request(format!("The request body is not valid JSON: {e}")),
            });
        }
        let value = parse_json::<T>(&bytes)?;
        // PostgreSQL stores no NUL in text or jsonb, so no field of ours can take one.
        if let Some(field) = field_with_nul(&bytes) {
            let mut errors = FieldErrors::new();
            errors.add(field, "Remove the NUL character (\\u0000).");
            return Err(ApiError::validation(errors));
        }
        Ok(Self(value))
    }
}

fn has_json_content_type(headers: &HeaderMap) -> bool {
    let essence = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn wrong_shape(detail: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::InvalidBody,
        format!("The request body has the wrong shape: {detail}"),
    )
}

/// The body read as `T`: malformed JSON is 400; JSON of the wrong shape is 422 with the
/// field it concerns (the path serde was at, or the field it missed) and serde's words for it.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize(&mut deserializer);
    let error = match parsed {
        Ok(value) => match deserializer.end() {
            Ok(()) => return Ok(value),
            Err(e) => {
                return Err(ApiError::bad_request(format!(
                    "The request body is not valid JSON: {e}"
                )));
            }
        },
        Err(error) => error,
    };
    let full = error.inner().to_string();
    // "… at line 1 column 16" says nothing to a caller who built the body as an object.
    let message = full.split(" at line ").next().unwrap_or(&full).to_owned();
    // 1e309 is valid JSON that no number type holds: a value out of range, like 2^63.
    if !error.inner().is_data() && message != "number out of range" {
        return Err(ApiError::bad_request(format!(
            "The request body is not valid JSON: {full}"
        )));
    }
    let field = match error.path().to_string() {
        root if root == "." => message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned),
        path => Some(path),
    };
    let mut refusal = wrong_shape(match &field {
        Some(field) => format!("{field}: {message}."),
        None => format!("{message}."),
    });
    if let Some(field) = field {
        refusal.fields.insert(field, message);
    }
    Err(refusal)
}

/// The dotted path of the first string (or key) holding a NUL character, if any.
fn field_with_nul(body: &[u8]) -> Option<String> {
    fn walk(value: &serde_json::Value, path: &str) -> Option<String> {
        let join = |key: &str| {
            if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            }
        };
        match value {
            serde_json::Value::String(text) if text.contains('\0') => Some(path.to_owned()),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, &join(&i.to_string()))),
            serde_json::Value::Object(map) => map.iter().find_map(|(key, v)| {
                if key.contains('\0') {
                    Some(join(key))
                } else {
                    walk(v, &join(key))
                }
            }),
            _ => None,
        }
    }
    // Only a body with the escape can hold one (a raw NUL is not valid JSON).
    if !body.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    walk(&serde_json::from_slice(body).ok()?, "")
}

/// A path parameter whose rejection (say, a malformed id) is our 404 body: a path that does
/// not parse names nothing that exists.
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    axum::extract::Path<T>: FromRequestParts<S, Rejection = PathRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|_| ApiError::not_found())
    }
}

/// Query parameters whose rejection is our 400 body naming the problem.
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    axum::extract::Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|e| ApiError::bad_request(format!("The query string is not valid: {}", e.body_text())))
    }
}

/// Keyset paging: from up to `limit + 1` rows fetched, keeps `limit` and gives the cursor of the
/// next page (the last row kept) when there is one.
pub fn keyset_page<T, C>(mut rows: Vec<T>, limit: usize, cursor_of: impl Fn(&T) -> C) -> (Vec<T>, Option<C>) {
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(cursor_of);
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_match_their_addresses_only() {
        let range: IpRange = "172.30.0.0/24".parse().unwrap();
        assert!(range.contains("172.30.0.10".parse().unwrap()));
        assert!(!range.contains("172.30.1.10".parse().unwrap()));
        let single: IpRange = "::1".parse().unwrap();
        assert!(single.contains("::1".parse().unwrap()));
        assert!(!single.contains("127.0.0.1".parse().unwrap()));
        let everything: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(everything.contains("203.0.113.9".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
        assert!("nonsense".parse::<IpRange>().is_err());
    }

    #[test]
    fn the_client_is_the_right_most_hop_no_trusted_proxy_added() {
        let proxies: Vec<IpRange> = ["127.0.0.1", "10.0.0.0/8"].map(|r| r.parse().unwrap()).to_vec();
        let from = |peer: &str, forwarded: &[&str]| {
            let mut headers = HeaderMap::new();
            for value in forwarded {
                headers.append("x-forwarded-for", value.parse().unwrap());
            }
            let peer = SocketAddr::new(peer.parse().unwrap(), 40000);
            client_ip(peer, &headers, &proxies).to_string()
        };
        // A client the shop is reached by directly cannot choose its address.
        assert_eq!(from("203.0.113.9", &["198.51.100.1"]), "203.0.113.9");
        // Behind proxies that append, what the client wrote on the left is not believed.
        assert_eq!(from("127.0.0.1", &["1.2.3.4, 203.0.113.9"]), "203.0.113.9");
        assert_eq!(from("127.0.0.1", &["1.2.3.4, 203.0.113.9, 10.1.2.3"]), "203.0.113.9");
        assert_eq!(from("127.0.0.1", &["1.2.3.4", "203.0.113.9"]), "203.0.113.9");
        // Every hop a proxy: the first one is where it started.
        assert_eq!(from("127.0.0.1", &["10.0.0.7, 10.0.0.8"]), "10.0.0.7");
        // Garbage stops the walk at the last address believed.
        assert_eq!(from("127.0.0.1", &["203.0.113.9, nonsense"]), "127.0.0.1");
        assert_eq!(from("127.0.0.1", &[]), "127.0.0.1");
        // Trusting nothing (the default), the peer it is.
        let peer = SocketAddr::new("127.0.0.1".parse().unwrap(), 40000);
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
        assert_eq!(client_ip(peer, &headers, &[]).to_string(), "127.0.0.1");
    }

    #[test]
    fn nul_characters_are_found_with_their_field() {
        assert_eq!(
            field_with_nul(br#"{"a": {"b": ["x", "y\u0000"]}}"#).as_deref(),
            Some("a.b.1")
        );
        assert_eq!(field_with_nul(br#"{"k\u0000": 1}"#).as_deref(), Some("k\u{0}"));
        // An escaped backslash before "u0000" is text, not a NUL.
        assert_eq!(field_with_nul(br#"{"a": "\\u0000"}"#), None);
        assert_eq!(field_with_nul(br#"{"a": "plain"}"#), None);
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            quantity: i64,
            name: String,
        }
        for (body, field) in [
            (r#"{"quantity": 1.5, "name": "x"}"#, "quantity"),
            (r#"{"quantity": 1e309, "name": "x"}"#, "quantity"),
            (r#"{"quantity": 1}"#, "name"),
        ] {
            let error = parse_json::<Body>(body.as_bytes()).expect_err(body);
            assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert!(error.fields.contains_key(field), "{body}: {error}");
        }
        let error = parse_json::<Body>(b"{\"quantity\": ").expect_err("truncated");
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
    }
}
