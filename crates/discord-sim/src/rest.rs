//! The REST API: the routes a bot calls, with Discord's checks (token, `User-Agent`, OpenAPI
//! bodies, rate limits, the interaction rules) and the faults a test injects.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::guild::bits;
use crate::payloads::{self, APP_ID, GUILD_ID};
use crate::ratelimit::{self, Verdict};
use crate::{limits, mentions, schema};

use crate::world::*;

// ---- REST ---------------------------------------------------------------------------------------

pub(crate) fn discord_error(status: u16, code: u32, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({"message": message, "code": code})),
    )
        .into_response()
}

pub(crate) async fn rest_handler(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let full_path = uri.path().to_owned();
    let path = full_path
        .strip_prefix("/api/v10")
        .unwrap_or(&full_path)
        .to_owned();
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let mut violations = Vec::new();
    if !full_path.starts_with("/api/v10/") {
        violations.push(format!("{method} {full_path}: not under /api/v10"));
    }
    let agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !agent.starts_with("DiscordBot (") {
        violations.push(format!(
            "{method} {path}: User-Agent must be `DiscordBot (url, version)`, got {agent:?}"
        ));
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // A body Discord would refuse is answered as Discord answers it (400) and recorded.
    let mut refused_body = None;
    if !body.is_empty() && inner.options.validate {
        match &json_body {
            Some(value) if content_type.starts_with("application/json") => {
                let mut broken = limits::check(method.as_str(), &path, value);
                if let Err(why) = schema::validate(method.as_str(), &path, value) {
                    let code = limits::INVALID_FORM_BODY;
                    broken.push(limits::Broken { code, why });
                }
                // One answer for all: a form error outweighs an empty message.
                refused_body = broken.iter().map(|b| b.code).max().map(|code| {
                    if code == limits::INVALID_FORM_BODY {
                        (code, "Invalid Form Body")
                    } else {
                        (code, "Cannot send an empty message")
                    }
                });
                violations.extend(broken.into_iter().map(|b| b.why));
            }
            _ => {
                refused_body = Some((50109, "The request body contains invalid JSON."));
                violations.push(format!(
                    "{method} {path}: body is not JSON (content-type {content_type:?})"
                ));
            }
        }
    }

    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let verdict = {
        let mut world = inner.world();
        let verdict = world
            .buckets
            .check(&inner.options.rate_limits, &segments, Instant::now());
        if let Some((retry_after, global)) = verdict.limited {
            let scope = if global {
                "the global limit"
            } else {
                "its bucket"
            };
            world.rate_limited.push(format!(
                "{method} {path} ({scope}, retry after {retry_after:?})"
            ));
        }
        verdict
    };
    let mut response = match verdict.limited {
        Some((retry_after, global)) => (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(Verdict::body(retry_after, global)),
        )
            .into_response(),
        None => match refused_body {
            Some((code, message)) => discord_error(400, code, message),
            None => {
                let answer = route(&inner, &method, &path, &headers, json_body.as_ref()).await;
                // Only a call that was carried out can have its answer lost.
                let lost = answer
                    .status()
                    .is_success()
                    .then(|| take_fault(&inner, &path, true))
                    .flatten();
                match lost {
                    Some((status, _)) => discord_error(status, 0, "simulated failure"),
                    None => answer,
                }
            }
        },
    };
    // A global 429 carries the global headers only.
    if !response.headers().contains_key("x-ratelimit-global") {
        for (name, value) in verdict.headers {
            if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
                response.headers_mut().entry(name).or_insert(value);
            }
        }
    }
    {
        let mut world = inner.world();
        let garble = world.garbled_headers.iter_mut().find(|g| {
            g.remaining > 0
                && path.contains(g.path_contains.as_str())
                && response.headers().contains_key(g.header.as_str())
        });
        if let Some(garble) = garble {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::from_bytes(garble.header.as_bytes()),
                axum::http::HeaderValue::from_str(&garble.value),
            ) {
                garble.remaining -= 1;
                response.headers_mut().insert(name, value);
            }
        }
    }
    {
        let mut world = inner.world();
        // A violation names its request; an interaction's token never appears in it.
        let token = interaction_token(&path);
        world
            .violations
            .extend(violations.into_iter().map(|v| match token {
                Some(token) => v.replace(token, ":token"),
                None => v,
            }));
        world.requests.push(Request {
            method: method.to_string(),
            path: path.clone(),
            body: json_body,
            status: response.status().as_u16(),
            at: Instant::now(),
        });
    }
    inner.changed.notify_waiters();
    response
}

/// The first injected fault for `path` with work left that is `carried_out` (or not), used up
/// by one: its status, and whether a 429 is of the global limit.
fn take_fault(inner: &Inner, path: &str, carried_out: bool) -> Option<(u16, bool)> {
    let mut world = inner.world();
    let fault = world.faults.iter_mut().find(|f| {
        f.remaining > 0 && f.carried_out == carried_out && path.contains(&f.path_contains)
    })?;
    fault.remaining -= 1;
    Some((fault.status, fault.global))
}

/// The interaction token in an interaction or webhook path, if any.
pub(crate) fn interaction_token(path: &str) -> Option<&str> {
    let mut segments = path.trim_start_matches('/').split('/');
    match segments.next() {
        Some("interactions" | "webhooks") => segments.nth(1).filter(|t| !t.is_empty()),
        _ => None,
    }
}

pub(crate) fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let expected = format!("Bot {}", inner.options.token);
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

/// A request held by `Sim::hang_requests`: listed in `World::hanging` until dropped (answered,
/// or given up by the client).
struct Held<'a> {
    inner: &'a Inner,
    path: &'a str,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut world = self.inner.world();
        if let Some(at) = world.hanging.iter().position(|p| p == self.path) {
            world.hanging.remove(at);
        }
    }
}

pub(crate) async fn route(
    inner: &Arc<Inner>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Option<&Value>,
) -> Response {
    // Injected faults come first, as from an overloaded Discord.
    let fault = take_fault(inner, path, false);
    if let Some((status, global)) = fault {
        if status == 429 {
            let retry_after = Duration::from_millis(250);
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", ratelimit::whole_seconds(retry_after))],
                axum::Json(Verdict::body(retry_after, global)),
            )
                .into_response();
            let headers = response.headers_mut();
            let scope = if global { "global" } else { "user" };
            headers.insert("x-ratelimit-scope", scope.parse().expect("a header value"));
            if global {
                headers.insert(
                    "x-ratelimit-global",
                    "true".parse().expect("a header value"),
                );
            }
            return response;
        }
        return discord_error(status, 0, "simulated failure");
    }
    let hung = {
        let mut world = inner.world();
        let hung = world.hung_paths.iter().any(|p| path.contains(p.as_str()));
        if hung {
            world.hanging.push(path.to_owned());
        }
        hung.then_some(world.hangs_answered)
    };
    if let Some(answered) = hung {
        // A connection Discord (or the network) silently dropped: no answer until a test says
        // the network is back (`Sim::answer_hung_requests`), if ever. Listed as held until
        // answered or given up by the client.
        let _held = Held { inner, path };
        inner.changed.notify_waiters();
        loop {
            let notified = inner.changed.notified();
            if inner.world().hangs_answered > answered {
                break;
            }
            notified.await;
        }
    }

    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let interaction_route =
        segments.first() == Some(&"interactions") || segments.first() == Some(&"webhooks");
    if !interaction_route && !authorized(inner, headers) {
        return discord_error(401, 0, "401: Unauthorized");
    }
    let m = method.as_str();
    match (m, segments.as_slice()) {
        ("GET", ["gateway"]) => {
            axum::Json(json!({"url": format!("ws://{}/", inner.gateway_addr)})).into_response()
        }
        ("GET", ["gateway", "bot"]) => axum::Json(json!({
            "url": format!("ws://{}/", inner.gateway_addr), "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        }))
        .into_response(),
        ("GET", ["users", "@me"]) => axum::Json(payloads::bot_user()).into_response(),
        ("GET", ["oauth2", "applications", "@me"]) | ("GET", ["applications", "@me"]) => {
            axum::Json(payloads::application()).into_response()
        }
        ("PUT", ["applications", app, "commands"]) => put_commands(inner, app, None, body),
        ("PUT", ["applications", app, "guilds", guild, "commands"]) => {
            put_commands(inner, app, guild.parse().ok(), body)
        }
        ("POST", ["interactions", id, token, "callback"]) => callback(inner, id, token, body),
        ("POST", ["webhooks", app, token]) => followup(inner, app, token, body),
        ("GET", ["webhooks", _app, token, "messages", "@original"]) => {
            let world = inner.world();
            let live = world.interactions.values().find(|i| i.token == *token);
            if live.is_some_and(|i| i.created.elapsed() > inner.options.token_lifetime) {
                return discord_error(401, 50027, "Invalid Webhook Token");
            }
            match live.and_then(|i| i.original.clone()) {
                Some(original) => axum::Json(original).into_response(),
                None => discord_error(404, 10008, "Unknown Message"),
            }
        }
        ("PATCH", ["webhooks", _app, token, "messages", target]) => edit_webhook_message(inner, token, target, body),
        ("DELETE", ["webhooks", _app, _token, "messages", _target]) => StatusCode::NO_CONTENT.into_response(),
        ("POST", ["channels", channel, "messages"]) => create_message(inner, channel, body),
        ("GET", ["channels", channel]) => {
            let world = inner.world();
            let id: u64 = channel.parse().unwrap_or(0);
            match world.guild.channel_json(id) {
                // A channel the bot cannot see is "Missing Access", not shown.
                Some(_) if !world.guild.may_view(APP_ID, id) => {
                    discord_error(403, 50001, "Missing Access")
                }
                Some(channel) => axum::Json(channel).into_response(),
                None => discord_error(404, 10003, "Unknown Channel"),
            }
        }
        ("GET", ["guilds", guild]) if *guild == GUILD_ID.to_string() => {
            axum::Json(crate::guild::guild_object(&inner.world().guild)).into_response()
        }
        ("GET", ["guilds", guild, "roles"]) if *guild == GUILD_ID.to_string() => {
            axum::Json(inner.world().guild.roles_json()).into_response()
        }
        ("GET", ["guilds", guild, "members", user]) if *guild == GUILD_ID.to_string() => {
            let world = inner.world();
            let user: u64 = user.parse().unwrap_or(0);
            if world.guild.members.contains_key(&user) {
                axum::Json(world.guild.member_json(user, true)).into_response()
            } else {
                discord_error(404, 10007, "Unknown Member")
            }
        }
        ("PATCH", ["channels", channel, "messages", message]) => edit_message(inner, channel, message, body),
        ("POST", ["users", "@me", "channels"]) => create_dm(inner, body),
        ("PUT" | "DELETE", ["guilds", guild, "members", _, "roles", _]) if *guild != GUILD_ID.to_string() => {
            discord_error(404, 10004, "Unknown Guild")
        }
        ("PUT" | "DELETE", ["guilds", _guild, "members", user, "roles", role]) => {
            let mut world = inner.world();
            let (user, role) = (id_of(&json!(user)), id_of(&json!(role)));
            // Discord: Manage Roles, and only roles below the bot's highest, never managed ones.
            let g = &world.guild;
            if g.role(role).is_none() {
                return discord_error(404, 10011, "Unknown Role");
            }
            let allowed = g.base_permissions(APP_ID) & bits::MANAGE_ROLES != 0
                && g.role(role).is_some_and(|r| !r.managed && r.position < g.highest_position(APP_ID));
            if world.roles_forbidden || !allowed {
                return discord_error(403, 50013, "Missing Permissions");
            }
            let Some(roles) = world.guild.members.get_mut(&user) else {
                return discord_error(404, 10007, "Unknown Member");
            };
            if m == "PUT" && !roles.contains(&role) {
                roles.push(role);
            } else if m == "DELETE" {
                roles.retain(|r| *r != role);
            }
            world.role_changes.push((m.to_owned(), user, role));
            StatusCode::NO_CONTENT.into_response()
        }
        _ => {
            inner
                .world()
                .violations
                .push(format!(
                    "{m} {}: the simulator does not implement this route",
                    match interaction_token(path) {
                        Some(token) => path.replace(token, ":token"),
                        None => path.to_owned(),
                    }
                ));
            discord_error(404, 0, "404: Not Found")
        }
    }
}

pub(crate) fn put_commands(
    inner: &Inner,
    app: &str,
    guild: Option<u64>,
    body: Option<&Value>,
) -> Response {
    if app != APP_ID.to_string() {
        return discord_error(403, 50001, "Missing Access");
    }
    let mut world = inner.world();
    let mut stored = Vec::new();
    for command in body.and_then(Value::as_array).cloned().unwrap_or_default() {
        world.next_id += 1;
        let mut command = command;
        command["id"] = json!(world.next_id.to_string());
        command["application_id"] = json!(APP_ID.to_string());
        command["version"] = json!(world.next_id.to_string());
        command["default_member_permissions"] = command
            .get("default_member_permissions")
            .cloned()
            .unwrap_or(Value::Null);
        command["type"] = command.get("type").cloned().unwrap_or(json!(1));
        command["description"] = command.get("description").cloned().unwrap_or(json!(""));
        if let Some(g) = guild {
            command["guild_id"] = json!(g.to_string());
        }
        stored.push(command);
    }
    world.command_puts += 1;
    match guild {
        Some(g) => {
            world.guild_commands.insert(g, stored.clone());
        }
        None => world.global_commands = Some(stored.clone()),
    }
    axum::Json(Value::Array(stored)).into_response()
}

pub(crate) fn new_bot_message(world: &mut World, channel: u64, body: &Value) -> Value {
    world.next_id += 1;
    let in_guild = !world.dm_channels.values().any(|c| *c == channel);
    let mut msg = payloads::message(
        world.next_id,
        channel,
        in_guild,
        payloads::bot_user(),
        Some(APP_ID),
        body,
    );
    mentions::apply(&mut msg, body, &world.guild, channel, in_guild);
    world.messages.push(msg.clone());
    msg
}

pub(crate) fn is_ephemeral(body: &Value) -> bool {
    body["flags"].as_u64().unwrap_or(0) & 64 != 0
}

pub(crate) fn callback(
    inner: &Arc<Inner>,
    id: &str,
    token: &str,
    body: Option<&Value>,
) -> Response {
    let id: u64 = id.parse().unwrap_or(0);
    let body = body.cloned().unwrap_or(Value::Null);
    let echo;
    {
        let mut world = inner.world();
        let Some(state) = world.interactions.get(&id) else {
            return discord_error(404, 10062, "Unknown interaction");
        };
        if state.token != token {
            return discord_error(401, 50027, "Invalid Webhook Token");
        }
        if state.responded {
            return discord_error(400, 40060, "Interaction has already been acknowledged.");
        }
        if state.created.elapsed() > INTERACTION_DEADLINE {
            let late = state.created.elapsed();
            world.violations.push(format!(
                "interaction {id} answered after {late:?}: Discord allows 3 s for the first response"
            ));
            return discord_error(404, 10062, "Unknown interaction");
        }
        let channel = state.channel;
        let (user, command, message_id) =
            (state.user, state.command.clone(), state.message_id.clone());
        let kind = body["type"].as_u64().unwrap_or(0);
        if let Some(why) = response_refused(state.kind, message_id.is_some(), kind) {
            world
                .violations
                .push(format!("interaction {id} answered with type {kind}: {why}"));
            return discord_error(400, 50035, "Invalid Form Body");
        }
        let data = body.get("data").cloned().unwrap_or(Value::Null);
        if kind == 7 {
            // UPDATE_MESSAGE edits the message the clicked component is on.
            let target = message_id.clone();
            let world = &mut *world;
            if let Some(message) = world
                .messages
                .iter_mut()
                .find(|m| Some(&m["id"]) == target.as_ref())
            {
                merge_edit(message, Some(&data), &world.guild);
            }
        }
        let original = match kind {
            4 => Some(new_bot_message(&mut world, channel, &data)),
            5 => Some(new_bot_message(
                &mut world,
                channel,
                &json!({"content": "", "flags": data["flags"].clone()}),
            )),
            _ => None,
        };
        echo = original
            .clone()
            .filter(|_| kind == 4 && !is_ephemeral(&data));
        if let Some(message) = &original {
            let origin = Origin {
                user,
                ephemeral: is_ephemeral(&data),
                command,
                token: token.to_owned(),
            };
            world
                .origins
                .insert(id_of(&message["id"]).to_string(), origin);
        }
        if kind == 9 {
            world.open_modals.insert(
                user,
                OpenModal {
                    channel,
                    message_id,
                    data: data.clone(),
                },
            );
        }
        world.answered_at.insert(id, Instant::now());
        if let Some(state) = world.interactions.get_mut(&id) {
            state.responded = true;
            state.loading = kind == 5;
            if original.is_some() {
                state.original = original;
            }
        }
    }
    if let Some(msg) = echo {
        dispatch(inner, "MESSAGE_CREATE", msg);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Why Discord refuses a response of type `response` to an interaction of type `interaction`
/// (`on_message`: it came from a message's component), if it does
/// (`docs/interactions/receiving-and-responding.mdx`): message updates (6, 7) are "only valid
/// for component-based interactions" (a modal opened from a component counts), a modal (9) is
/// "not available for MODAL_SUBMIT and PING interactions", autocomplete results (8) answer
/// autocomplete only.
fn response_refused(interaction: u64, on_message: bool, response: u64) -> Option<&'static str> {
    match response {
        4 | 5 => None,
        6 | 7 if interaction == 3 || (interaction == 5 && on_message) => None,
        6 | 7 => Some("a message update answers a component interaction only"),
        8 if interaction == 4 => None,
        8 => Some("autocomplete results answer autocomplete only"),
        9 if interaction == 2 || interaction == 3 => None,
        9 => Some("a modal cannot answer a modal submit"),
        _ => Some("not a response type for this interaction"),
    }
}

pub(crate) fn followup(
    inner: &Arc<Inner>,
    app: &str,
    token: &str,
    body: Option<&Value>,
) -> Response {
    if app != APP_ID.to_string() {
        return discord_error(404, 10015, "Unknown Webhook");
    }
    let body = body.cloned().unwrap_or(Value::Null);
    let msg = {
        let mut world = inner.world();
        let Some(state) = world.interactions.values().find(|i| i.token == token) else {
            return discord_error(404, 10015, "Unknown Webhook");
        };
        if !state.responded {
            return discord_error(404, 10015, "Unknown Webhook");
        }
        if state.created.elapsed() > inner.options.token_lifetime {
            return discord_error(401, 50027, "Invalid Webhook Token");
        }
        let channel = state.channel;
        let origin = Origin {
            user: state.user,
            ephemeral: is_ephemeral(&body),
            command: state.command.clone(),
            token: token.to_owned(),
        };
        let loading = state.loading.then(|| state.original.clone()).flatten();
        let content = body["content"].as_str().unwrap_or_default().to_owned();
        world
            .followups
            .entry(token.to_owned())
            .or_default()
            .push((Instant::now(), content));
        if let Some(state) = world.interactions.values_mut().find(|i| i.token == token) {
            state.loading = false;
        }
        // Right after a deferral, the first follow-up edits the loading message instead of
        // creating one, and keeps the deferral's ephemeral flag (Discord's docs, "Create
        // Followup Message").
        if let Some(loading) = loading {
            let world = &mut *world;
            let Some(message) = world.messages.iter_mut().find(|m| m["id"] == loading["id"]) else {
                return discord_error(404, 10008, "Unknown Message");
            };
            let mut edit = body.clone();
            if let Some(fields) = edit.as_object_mut() {
                fields.remove("flags");
            }
            merge_edit(message, Some(&edit), &world.guild);
            return axum::Json(message.clone()).into_response();
        }
        let msg = new_bot_message(&mut world, channel, &body);
        world.origins.insert(id_of(&msg["id"]).to_string(), origin);
        msg
    };
    if !is_ephemeral(&body) {
        dispatch(inner, "MESSAGE_CREATE", msg.clone());
    }
    axum::Json(msg).into_response()
}

/// Applies `edit` to the bot's message `target`; new content is mentions worked out anew
/// (Discord updates a message's mention fields when its content is edited).
pub(crate) fn merge_edit(target: &mut Value, edit: Option<&Value>, guild: &crate::guild::Guild) {
    let Some((edit, fields)) = edit.and_then(|e| Some((e, e.as_object()?))) else {
        return;
    };
    for (key, value) in fields {
        if ["content", "embeds", "components"].contains(&key.as_str()) {
            target[key] = value.clone();
        }
    }
    // "Only SUPPRESS_EMBEDS can be set or unset" by an edit (docs/resources/message.mdx): an
    // ephemeral message stays ephemeral, a public one public.
    if let Some(flags) = fields.get("flags").and_then(Value::as_u64) {
        const SUPPRESS_EMBEDS: u64 = 1 << 2;
        let kept = target["flags"].as_u64().unwrap_or(0) & !SUPPRESS_EMBEDS;
        target["flags"] = json!(kept | (flags & SUPPRESS_EMBEDS));
    }
    if fields.contains_key("content") {
        let channel = id_of(&target["channel_id"]);
        let in_guild = target.get("guild_id").is_some();
        mentions::apply(target, edit, guild, channel, in_guild);
    }
}

pub(crate) fn edit_webhook_message(
    inner: &Inner,
    token: &str,
    target: &str,
    body: Option<&Value>,
) -> Response {
    let mut world = inner.world();
    let Some((_, state)) = world.interactions.iter().find(|(_, i)| i.token == token) else {
        return discord_error(404, 10015, "Unknown Webhook");
    };
    // Nothing was sent with the token before its initial response.
    if !state.responded {
        return discord_error(404, 10015, "Unknown Webhook");
    }
    if state.created.elapsed() > inner.options.token_lifetime {
        return discord_error(401, 50027, "Invalid Webhook Token");
    }
    // For a component or modal interaction, @original is the message the component is on.
    let original_id = state
        .original
        .as_ref()
        .map(|m| m["id"].clone())
        .or_else(|| state.message_id.clone());
    let is_original = target == "@original";
    let wanted = if is_original {
        match original_id {
            Some(id) => id,
            None => return discord_error(404, 10008, "Unknown Message"),
        }
    } else {
        // A follow-up made with this token (or the original, by its id): another message is
        // not this token's to edit.
        let own = Some(json!(target)) == original_id
            || world.origins.get(target).is_some_and(|o| o.token == token);
        if !own {
            return discord_error(404, 10008, "Unknown Message");
        }
        json!(target)
    };
    let world = &mut *world;
    let Some(message) = world.messages.iter_mut().find(|m| m["id"] == wanted) else {
        return discord_error(404, 10008, "Unknown Message");
    };
    merge_edit(message, body, &world.guild);
    let updated = message.clone();
    if is_original {
        if let Some(state) = world.interactions.values_mut().find(|i| i.token == token) {
            state.loading = false;
        }
    }
    axum::Json(updated).into_response()
}

pub(crate) fn create_message(inner: &Arc<Inner>, channel: &str, body: Option<&Value>) -> Response {
    let Ok(channel) = channel.parse::<u64>() else {
        return discord_error(404, 10003, "Unknown Channel");
    };
    let msg = {
        let mut world = inner.world();
        let is_dm = world
            .dm_channels
            .iter()
            .find(|(_, c)| **c == channel)
            .map(|(u, _)| *u);
        let known = is_dm.is_some() || world.guild.channel(channel).is_some();
        if !known {
            return discord_error(404, 10003, "Unknown Channel");
        }
        if is_dm.is_none() && !world.guild.may_view(APP_ID, channel) {
            return discord_error(403, 50001, "Missing Access");
        }
        if is_dm.is_none() && !world.guild.may_send(APP_ID, channel) {
            return discord_error(403, 50013, "Missing Permissions");
        }
        // With enforce_nonce, a nonce the bot already used in this channel returns that
        // message and creates none (Discord keeps nonces a few minutes; the simulator, always).
        let body_nonce = body.and_then(|b| b.get("nonce")).filter(|n| !n.is_null());
        let enforce = body.is_some_and(|b| b["enforce_nonce"] == true);
        if let (Some(nonce), true) = (body_nonce, enforce) {
            let earlier = world
                .messages
                .iter()
                .find(|m| m["nonce"] == *nonce && id_of(&m["channel_id"]) == channel)
                .cloned();
            if let Some(earlier) = earlier {
                return axum::Json(earlier).into_response();
            }
        }
        if let Some(user) = is_dm {
            // Discord delivers a bot's DM only to a user who shares a server with it, and
            // never to the bot itself.
            let shares = user != APP_ID && world.guild.members.contains_key(&user);
            if world.dms_closed.contains(&user) || !shares {
                return discord_error(403, 50007, "Cannot send messages to this user");
            }
        }
        if world.forbidden_channels.contains(&channel) {
            return discord_error(403, 50013, "Missing Permissions");
        }
        let mut msg = new_bot_message(&mut world, channel, body.unwrap_or(&Value::Null));
        if let Some(nonce) = body_nonce {
            msg["nonce"] = nonce.clone();
            if let Some(stored) = world.messages.last_mut() {
                stored["nonce"] = nonce.clone();
            }
        }
        msg
    };
    dispatch(inner, "MESSAGE_CREATE", msg.clone());
    // Discord's create-message response carries no guild id (its MESSAGE_CREATE does).
    let mut response = msg;
    if let Some(fields) = response.as_object_mut() {
        fields.remove("guild_id");
        fields.remove("member");
    }
    axum::Json(response).into_response()
}

pub(crate) fn edit_message(
    inner: &Inner,
    channel: &str,
    message: &str,
    body: Option<&Value>,
) -> Response {
    let mut world = inner.world();
    let world = &mut *world;
    // A guild channel the bot cannot see is "Missing Access" to an edit too.
    let id: u64 = channel.parse().unwrap_or(0);
    if world.guild.channel(id).is_some() && !world.guild.may_view(APP_ID, id) {
        return discord_error(403, 50001, "Missing Access");
    }
    let Some(found) = world
        .messages
        .iter_mut()
        .find(|m| m["id"] == message && m["channel_id"] == channel)
    else {
        return discord_error(404, 10008, "Unknown Message");
    };
    merge_edit(found, body, &world.guild);
    axum::Json(found.clone()).into_response()
}

pub(crate) fn create_dm(inner: &Inner, body: Option<&Value>) -> Response {
    let Some(user) = body.map(|b| id_of(&b["recipient_id"])).filter(|u| *u != 0) else {
        return discord_error(400, 50035, "Invalid Form Body");
    };
    let mut world = inner.world();
    let channel = match world.dm_channels.get(&user) {
        Some(channel) => *channel,
        None => {
            world.next_id += 1;
            let channel = world.next_id;
            world.dm_channels.insert(user, channel);
            channel
        }
    };
    axum::Json(json!({
        "id": channel.to_string(), "type": 1, "last_message_id": null, "flags": 0,
        "recipients": [world.guild.user_json(user)],
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::response_refused;

    #[test]
    fn each_interaction_takes_the_responses_discord_allows_it() {
        // A command: a message, a deferral or a modal; never a message update.
        for ok in [4, 5, 9] {
            assert_eq!(response_refused(2, false, ok), None, "{ok}");
        }
        assert!(response_refused(2, false, 7).is_some());
        assert!(response_refused(2, false, 6).is_some());
        // A component: all four, and a modal.
        for ok in [4, 5, 6, 7, 9] {
            assert_eq!(response_refused(3, true, ok), None, "{ok}");
        }
        // A modal submit: no modal; an update only when the modal came from a message.
        assert!(response_refused(5, true, 9).is_some());
        assert_eq!(response_refused(5, true, 7), None);
        assert!(response_refused(5, false, 7).is_some());
        assert!(response_refused(2, false, 1).is_some());
    }
}
