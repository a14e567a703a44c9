//! A web client for the simulator: a page that looks and behaves enough like Discord's client
//! to use a bot by hand (channels and DMs, markdown, embeds, buttons and selects, slash
//! commands with their options, modals, ephemeral messages), acting as any member, with a
//! panel that injects the simulator's faults and a badge showing the bot's health probe.
//!
//! The page is plain HTML, CSS and JavaScript built into the binary (`assets/`). It reads
//! [`Sim::client_view`] for the member it acts as, is told of every change over Server-Sent
//! Events, and acts through the `client_*` methods, which check what Discord's client checks.
//! A refusal comes back as `{"error": "…"}` with status 400 and is shown as a note; nothing
//! internal reaches the page.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sim::Sim;

const INDEX: &str = include_str!("../assets/index.html");
const SCRIPT: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/style.css");

/// How often the page is nudged to refresh even without a change (deadline notes appear with
/// time alone).
const TICK: Duration = Duration::from_secs(1);
/// How long the health probe gets to answer.
const PROBE_DEADLINE: Duration = Duration::from_secs(2);

struct Web {
    sim: Arc<Sim>,
    /// The bot's health server, whose `GET /health` the badge shows.
    health: Option<SocketAddr>,
    /// Serve only requests addressed to a loopback name (see [`router`]).
    loopback_only: bool,
}

/// The web client's routes, over `sim`; `health` is the bot's health server, if known.
///
/// The page has no login: anyone who reaches it acts as any member. With `loopback_only`
/// (for a page listening on a loopback address), a request whose `Host` is not a loopback
/// name (a rebound DNS name) or whose `Origin` is another site is refused.
pub fn router(sim: Arc<Sim>, health: Option<SocketAddr>, loopback_only: bool) -> Router {
    let web = Arc::new(Web {
        sim,
        health,
        loopback_only,
    });
    Router::new()
        .route(
            "/",
            get(|| async { page(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { page(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/style.css",
            get(|| async { page(STYLE, "text/css; charset=utf-8") }),
        )
        .route("/api/state", get(state))
        .route("/api/events", get(events))
        .route("/api/health", get(health_badge))
        .route("/api/say", post(say))
        .route("/api/slash", post(slash))
        .route("/api/click", post(click))
        .route("/api/select", post(select))
        .route("/api/modal", post(modal))
        .route("/api/modal/dismiss", post(dismiss))
        .route("/api/dm", post(open_dm))
        .route("/api/fault", post(fault))
        .route("/api/join", post(join))
        .layer(axum::middleware::from_fn_with_state(web.clone(), same_site))
        .with_state(web)
}

/// Refuses requests for another host name, or sent by another site's page.
async fn same_site(
    State(web): State<Arc<Web>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if web.loopback_only {
        let header = |name| {
            request
                .headers()
                .get(name)
                .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let host = header(header::HOST);
        let name = host
            .rsplit_once(':')
            .map_or(host.as_str(), |(name, _)| name);
        if !matches!(name, "127.0.0.1" | "localhost" | "[::1]") {
            return (
                StatusCode::FORBIDDEN,
                "This page answers on loopback addresses only.",
            )
                .into_response();
        }
        let origin = header(header::ORIGIN);
        if !origin.is_empty() && origin != format!("http://{host}") {
            return (
                StatusCode::FORBIDDEN,
                "Requests from other sites are refused.",
            )
                .into_response();
        }
    }
    next.run(request).await
}

fn page(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
            // Only this page's own script and style run; no other site may frame it.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

/// A refusal the page shows as a note.
fn refused(note: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": note.into()}))).into_response()
}

fn done(result: Result<String, String>) -> Response {
    match result {
        Ok(value) => Json(json!({"ok": value})).into_response(),
        Err(note) => refused(note),
    }
}

fn id(value: &Value, field: &str) -> Result<u64, String> {
    value[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("`{field}` is missing."))
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn pairs(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|pair| {
            Some((
                pair[0].as_str()?.to_owned(),
                pair[1].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

async fn state(
    State(web): State<Arc<Web>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    // Until the page has picked a member, it sees the server as its owner does.
    let user = query
        .get("user")
        .and_then(|u| u.parse().ok())
        .filter(|u| web.sim.is_member(*u))
        .unwrap_or_else(|| web.sim.with_guild(|g| g.owner));
    Json(web.sim.client_view(user)).into_response()
}

async fn events(
    State(web): State<Arc<Web>>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let stream = stream::unfold(web, |web| async move {
        let kind = tokio::select! {
            () = web.sim.changed() => "change",
            () = tokio::time::sleep(TICK) => "tick",
        };
        // An event without data is never dispatched by browsers (the SSE spec).
        Some((Ok(Event::default().event(kind).data(kind)), web))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn say(State(web): State<Arc<Web>>, Json(body): Json<Value>) -> Response {
    let run = || {
        let user = id(&body, "user")?;
        let channel = id(&body, "channel")?;
        web.sim
            .client_say(user, channel, text(&body, "content"))
            .map(|id| id.to_string())
    };
    done(run())
}

async fn slash(State(web): State<Arc<Web>>, Json(body): Json<Value>) -> Response {
    let run = || {
        let user = id(&body, "user")?;
        let channel = id(&body, "channel")?;
        let options = pairs(&body["options"]);
        web.sim
            .client_slash(user, channel, text(&body, "name"), &options)
            .map(|i| i.id.to_string())
    };
    done(run())
}

async fn click(State(web): State<Arc<Web>>, Json(body): Json<Value>) -> Response {
    let run = || {
        let user = id(&body, "user")?;
        web.sim
            .client_click(user, text(&body, "message"), text(&body, "custom_id"))
            .map(|i| i.id.to_string())
    };
    done(run())
}

async fn select(State(web): State<Arc<Web>>, Json(body): Json<Value>) -> Response {
    let run = || {
        let user = id(&body, "user")?;
        let values = strings(&body["values"]);
        web.sim
            .client_select(
                user,
                text(&body, "message"),
                text(&body, "custom_id"),
                &values,
            )
            .map(|i| i.id.to_string())
    };
    done(run())
}

async fn modal(State(web): State<Arc<Web>>, Json(body): Json<Value>) -> Response {
    let run = || {
        let user = id(&body, "user")?;
        web.sim
            .client_submit_modal(user, &pairs(&body["fields"]))
            .map(|i| i.id.to_string())
    };
    done(run())
}

async fn dismiss(State(web): State<Arc<Web>>, Json(body): Json<Value>) -> Response {
    done(id(&body, "user").map(|user| {
        web.sim.dismiss_modal(user);
        "dismissed".to_owned()
    }))
}

async fn open_dm(State(web): State<Arc<Web>>, Json(body): Json<Value>) -> Response {
    done(id(&body, "user").and_then(|user| web.sim.open_dm(user).map(|c| c.to_string())))
}

/// A new member joins the server (named `newcomer-N`), as Discord tells a bot that asked for
/// member events; returns their id.
async fn join(State(web): State<Arc<Web>>) -> Response {
    let sim = &web.sim;
    let id = sim.next_id();
    let number = sim.with_guild(|g| {
        g.names
            .values()
            .filter(|n| n.starts_with("newcomer-"))
            .count()
    }) + 1;
    sim.member_joins(id, &format!("newcomer-{number}"));
    done(Ok(id.to_string()))
}

/// Injects one of the simulator's faults, by name.
async fn fault(State(web): State<Arc<Web>>, Json(body): Json<Value>) -> Response {
    let sim = &web.sim;
    let applied = match text(&body, "kind") {
        "drop" => sim.drop_connection(None),
        "close" => sim.drop_connection(Some(1001)),
        "reset" => sim.reset_connection(),
        "reconnect" => sim.request_reconnect(),
        "invalid_session" => sim.invalidate_session(false),
        "rate_limit" => {
            sim.fail_next(1, 429, "");
            true
        }
        "server_error" => {
            sim.fail_next(1, 500, "");
            true
        }
        other => return refused(format!("There is no fault called {other:?}.")),
    };
    if applied {
        done(Ok("applied".to_owned()))
    } else {
        refused("The bot is not connected right now.")
    }
}

/// The bot's `GET /health`: its status code and body, or why it could not be read.
async fn health_badge(State(web): State<Arc<Web>>) -> Response {
    let Some(addr) = web.health else {
        return Json(json!({"status": null, "body": "no health server given"})).into_response();
    };
    let probe = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        stream.take(16 * 1024).read_to_end(&mut answer).await.ok()?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status: u16 = answer.split_whitespace().nth(1)?.parse().ok()?;
        let body = answer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        Some((status, body))
    };
    match tokio::time::timeout(PROBE_DEADLINE, probe).await {
        Ok(Some((status, body))) => Json(json!({"status": status, "body": body})),
        _ => Json(json!({"status": null, "body": "the health server did not answer"})),
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn call(app: &Router, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "127.0.0.1:8090")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("a request");
        let response = app.clone().oneshot(request).await.expect("an answer");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    #[tokio::test]
    async fn the_page_and_its_api_answer_refusals_as_notes() {
        let sim = Arc::new(Sim::start().await);
        let app = router(sim.clone(), None, true);
        let (status, view) = call(&app, "GET", "/api/state", Value::Null).await;
        assert_eq!(status, StatusCode::OK);
        let owner = sim.with_guild(|g| g.owner).to_string();
        assert_eq!(view["me"], owner, "without a member, the owner's view");
        let (status, answer) = call(&app, "POST", "/api/say", json!({"channel": "1"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(answer["error"], "`user` is missing.");
        let (status, answer) = call(&app, "POST", "/api/fault", json!({"kind": "meteor"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(answer["error"].as_str().unwrap().contains("no fault"));
        let (status, answer) = call(&app, "POST", "/api/fault", json!({"kind": "drop"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "no bot is connected");
        assert!(answer["error"].as_str().unwrap().contains("not connected"));
        let (status, answer) = call(&app, "GET", "/api/health", Value::Null).await;
        assert_eq!(status, StatusCode::OK);
        assert!(answer["status"].is_null());
        let get_page = |host: &str| {
            Request::get("/")
                .header("host", host)
                .body(Body::empty())
                .expect("a request")
        };
        let rebound = app.clone().oneshot(get_page("evil.example:8090")).await;
        assert_eq!(rebound.expect("an answer").status(), StatusCode::FORBIDDEN);
        let cross_site = Request::post("/api/say")
            .header("host", "127.0.0.1:8090")
            .header("origin", "http://evil.example")
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .expect("a request");
        let cross = app.clone().oneshot(cross_site).await.expect("an answer");
        assert_eq!(cross.status(), StatusCode::FORBIDDEN);
        let page = app
            .clone()
            .oneshot(get_page("localhost:8090"))
            .await
            .expect("the page");
        assert_eq!(page.status(), StatusCode::OK);
        let policy = page.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(policy.contains("default-src 'self'"), "{policy}");
        let html = page.into_body().collect().await.expect("body").to_bytes();
        assert!(String::from_utf8_lossy(&html).contains("<script src=\"/app.js\">"));
    }
}
