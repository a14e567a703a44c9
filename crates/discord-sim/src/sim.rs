//! The handle a test holds: starting the servers, waiting for what the bot does, the gateway's
//! state and the faults to inject. The users' actions are in [`crate::actions`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::guild::Guild;
use crate::world::*;
pub use crate::world::{Interaction, Request, SimOptions};
use crate::{gateway::gateway_connection, rest::rest_handler};

/// A running simulator. Dropping it stops its servers.
pub struct Sim {
    pub(crate) inner: Arc<Inner>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Sim {
    /// Starts a simulator with default options.
    pub async fn start() -> Sim {
        Self::with_options(SimOptions::default()).await
    }

    /// Starts a simulator on two fresh loopback ports.
    pub async fn with_options(options: SimOptions) -> Sim {
        let rest = TcpListener::bind("127.0.0.1:0").await.expect("bind REST");
        let gateway = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let inner = Arc::new(Inner {
            options,
            world: Mutex::new(World {
                next_id: 1_200_000_000_000_000_000,
                ..World::default()
            }),
            changed: Notify::new(),
            rest_addr: rest.local_addr().expect("REST addr"),
            gateway_addr: gateway.local_addr().expect("gateway addr"),
        });
        let app = Router::new()
            .fallback(rest_handler)
            .with_state(inner.clone());
        let rest_task = tokio::spawn(async move {
            use axum::serve::ListenerExt;
            let rest = rest.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(rest, app).await;
        });
        let gw_inner = inner.clone();
        let gateway_task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = gateway.accept().await else {
                    continue;
                };
                let refused = {
                    let mut world = gw_inner.world();
                    world.connections += 1;
                    world.refuse_until.is_some_and(|t| Instant::now() < t)
                };
                if refused {
                    drop(stream);
                    continue;
                }
                tokio::spawn(gateway_connection(gw_inner.clone(), stream));
            }
        });
        Sim {
            inner,
            tasks: vec![rest_task, gateway_task],
        }
    }

    /// The base URL for `DISCORD_API_BASE`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.rest_addr)
    }

    /// The REST port.
    pub fn rest_port(&self) -> u16 {
        self.inner.rest_addr.port()
    }

    /// The token the bot must use.
    pub fn token(&self) -> &str {
        &self.inner.options.token
    }

    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.inner.world()
    }

    pub(crate) fn next_id(&self) -> u64 {
        let mut world = self.world();
        world.next_id += 1;
        world.next_id
    }

    // ---- Waiting ------------------------------------------------------------------------------

    /// Waits until `check` returns `Some`, re-checking after every change; panics with
    /// `what` and the REST log when `deadline` passes. `check` reads the state through its
    /// [`SimView`]: it runs under the simulator's lock, so calling the [`Sim`] from it would
    /// deadlock.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        deadline: Duration,
        mut check: impl FnMut(&SimView<'_>) -> Option<T>,
    ) -> T {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let world = self.world();
                if let Some(found) = check(&SimView { world: &world }) {
                    return found;
                }
            }
            if tokio::time::timeout_at(end, notified).await.is_err() {
                let log = self.request_log();
                panic!(
                    "timed out after {deadline:?} waiting for {what}.\nREST calls so far:\n{log}"
                );
            }
        }
    }

    /// Completes at the next change: a REST call, a dispatch, a gateway connection coming or
    /// going.
    pub async fn changed(&self) {
        self.inner.changed.notified().await;
    }

    /// A mark in the REST log; [`Sim::wait_request`] looks only after it.
    pub fn mark(&self) -> usize {
        self.world().requests.len()
    }

    /// Waits for a REST call after `since` that satisfies `pred`.
    pub async fn wait_request(
        &self,
        what: &str,
        since: usize,
        deadline: Duration,
        pred: impl Fn(&Request) -> bool,
    ) -> Request {
        self.wait_for(what, deadline, |view| {
            view.world.requests[since.min(view.world.requests.len())..]
                .iter()
                .find(|r| pred(r))
                .cloned()
        })
        .await
    }

    /// When interaction `id` was created and when it got its first response.
    pub fn interaction_timing(&self, id: u64) -> (Option<Instant>, Option<Instant>) {
        let world = self.world();
        (
            world.interactions.get(&id).map(|i| i.created),
            world.answered_at.get(&id).copied(),
        )
    }

    /// How many interactions got their first response.
    pub fn answered_count(&self) -> usize {
        self.world().answered_at.len()
    }

    /// Follow-ups sent on the interaction with `token`: (when, content).
    pub fn followups(&self, token: &str) -> Vec<(Instant, String)> {
        self.world()
            .followups
            .get(token)
            .cloned()
            .unwrap_or_default()
    }

    /// How many follow-ups were sent in all.
    pub fn followup_count(&self) -> usize {
        self.world().followups.values().map(Vec::len).sum()
    }

    /// How many REST calls were made.
    pub fn request_count(&self) -> usize {
        self.world().requests.len()
    }

    /// Every REST call so far.
    pub fn requests(&self) -> Vec<Request> {
        self.world().requests.clone()
    }

    /// Every REST call after the mark `since`.
    pub fn requests_since(&self, since: usize) -> Vec<Request> {
        let world = self.world();
        world.requests[since.min(world.requests.len())..].to_vec()
    }

    /// The REST log as text, for failure messages.
    pub fn request_log(&self) -> String {
        let world = self.world();
        let mut text = String::new();
        for r in &world.requests {
            let body = r.body.as_ref().map(Value::to_string).unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            text.push_str(&format!(
                "  {} {} -> {} {}\n",
                r.method, r.path, r.status, body
            ));
        }
        if text.is_empty() {
            text.push_str("  (none)\n");
        }
        text
    }

    /// A new bot process is about to connect: the spacing between IDENTIFYs is checked per
    /// process (one cannot know when the previous process identified).
    pub fn new_client(&self) {
        self.world().last_identify = None;
    }

    /// Fails the test if any request broke Discord's rules or the OpenAPI spec, an
    /// interaction went unanswered past Discord's 3 s (the member saw "This interaction
    /// failed"), or a deferred one was never answered. An interaction still inside its 3 s is waited for until it is answered or its
    /// time is up, so one sent just before the end of a test is judged too.
    pub async fn assert_clean(&self) {
        while self.awaiting_answer() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A deferral is the bot's promise of an answer: one still "thinking" is given a few
        // seconds to be kept.
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while !self.still_loading().is_empty() && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut violations = self.world().violations.clone();
        violations.extend(self.unanswered());
        violations.extend(self.still_loading());
        assert!(
            violations.is_empty(),
            "the bot broke Discord's rules:\n{}",
            violations.join("\n")
        );
        let limited = self.rate_limited();
        assert!(
            limited.is_empty(),
            "the bot exceeded Discord's rate limits:\n{}",
            limited.join("\n")
        );
    }

    /// Whether an interaction is unanswered and still inside Discord's 3 s.
    fn awaiting_answer(&self) -> bool {
        self.world()
            .interactions
            .values()
            .any(|i| !i.responded && i.created.elapsed() <= INTERACTION_DEADLINE)
    }

    /// Interactions that got no response within Discord's 3 s, oldest first.
    pub fn unanswered(&self) -> Vec<String> {
        let world = self.world();
        let mut late: Vec<(u64, &InteractionState)> = world
            .interactions
            .iter()
            .filter(|(_, i)| !i.responded && i.created.elapsed() > INTERACTION_DEADLINE)
            .map(|(id, i)| (*id, i))
            .collect();
        late.sort_by_key(|(id, _)| *id);
        late.into_iter()
            .map(|(id, i)| {
                format!(
                    "interaction {id} (type {}, by {}) got no response within 3 s",
                    i.kind, i.user
                )
            })
            .collect()
    }

    /// Interactions answered with a deferral (type 5) that no follow-up or edit has replaced:
    /// the member still sees "thinking…", until Discord gives up on it.
    pub fn still_loading(&self) -> Vec<String> {
        let world = self.world();
        let mut loading: Vec<(u64, &InteractionState)> = world
            .interactions
            .iter()
            .filter(|(_, i)| i.loading)
            .map(|(id, i)| (*id, i))
            .collect();
        loading.sort_by_key(|(id, _)| *id);
        loading
            .into_iter()
            .map(|(id, i)| {
                format!(
                    "interaction {id} (type {}, by {}) was deferred and never answered",
                    i.kind, i.user
                )
            })
            .collect()
    }

    /// Violations recorded so far.
    pub fn violations(&self) -> Vec<String> {
        self.world().violations.clone()
    }

    // ---- Gateway state ------------------------------------------------------------------------

    /// How many `event`s were dispatched to the bot (sent, or queued for its resume).
    pub fn dispatched(&self, event: &str) -> usize {
        self.world().dispatched.get(event).copied().unwrap_or(0)
    }

    /// How many slash commands members ran (application command interactions sent).
    pub fn commands_run(&self) -> usize {
        self.world()
            .interactions
            .values()
            .filter(|i| i.kind == 2)
            .count()
    }

    /// Number of IDENTIFYs received.
    pub fn identifies(&self) -> u32 {
        self.world().identifies
    }

    /// RESUMEs received: (session id, sequence).
    pub fn resumes(&self) -> Vec<(String, u64)> {
        self.world().resumes.clone()
    }

    /// The current session id, if any.
    pub fn session_id(&self) -> Option<String> {
        self.world().session.as_ref().map(|s| s.id.clone())
    }

    /// The current session's last sequence number.
    pub fn seq(&self) -> u64 {
        self.world().session.as_ref().map_or(0, |s| s.seq)
    }

    /// Close codes the bot sent in close frames.
    pub fn close_codes(&self) -> Vec<u16> {
        self.world().close_codes.clone()
    }

    /// Heartbeats received.
    pub fn heartbeats(&self) -> u32 {
        self.world().heartbeats
    }

    /// Gateway TCP connections accepted (refused ones included).
    pub fn connections(&self) -> u32 {
        self.world().connections
    }

    /// Dispatches sent zlib-compressed (live ones, not replays).
    pub fn compressed_dispatches(&self) -> u64 {
        self.world().compressed_dispatches
    }

    /// Whether a gateway connection is live.
    pub fn connected(&self) -> bool {
        self.world().conn.is_some()
    }

    /// Commands stored by bulk overwrite: guild ones when `guild` is set.
    pub fn commands(&self, guild: Option<u64>) -> Option<Vec<Value>> {
        let world = self.world();
        match guild {
            Some(g) => world.guild_commands.get(&g).cloned(),
            None => world.global_commands.clone(),
        }
    }

    /// How many bulk-overwrite PUTs were made.
    pub fn command_puts(&self) -> u32 {
        self.world().command_puts
    }

    // ---- Faults -------------------------------------------------------------------------------

    /// Answers the next `n` REST calls whose path contains `path_contains` with `status`
    /// (429 carries Discord's documented rate-limit body and `Retry-After`).
    pub fn fail_next(&self, n: u32, status: u16, path_contains: &str) {
        self.world().faults.push(Fault {
            status,
            global: false,
            carried_out: false,
            path_contains: path_contains.to_owned(),
            remaining: n,
        });
    }

    /// Carries out the next `n` REST calls whose path contains `path_contains`, then answers
    /// them with `status` instead of their own answer, as when Discord's answer is lost on its
    /// way back (a proxy's 5xx): the change is made, and the bot cannot know it.
    pub fn lose_next_answers(&self, n: u32, status: u16, path_contains: &str) {
        self.world().faults.push(Fault {
            status,
            global: false,
            carried_out: true,
            path_contains: path_contains.to_owned(),
            remaining: n,
        });
    }

    /// Answers the next REST call whose path contains `path_contains` with a 429 of the global
    /// rate limit (`X-RateLimit-Global`, scope `global`).
    pub fn fail_next_globally(&self, path_contains: &str) {
        self.world().faults.push(Fault {
            status: 429,
            global: true,
            carried_out: false,
            path_contains: path_contains.to_owned(),
            remaining: 1,
        });
    }

    /// In the next `n` answers to REST calls whose path contains `path_contains` and that carry
    /// `header` (a rate-limit header, say), the header says `value` instead, as from a proxy
    /// that mangles headers. The answers are otherwise given as usual.
    pub fn garble_header(&self, n: u32, path_contains: &str, header: &str, value: &str) {
        assert!(
            axum::http::HeaderName::from_bytes(header.as_bytes()).is_ok()
                && axum::http::HeaderValue::from_str(value).is_ok(),
            "not a header: {header}: {value}"
        );
        self.world().garbled_headers.push(crate::world::Garble {
            path_contains: path_contains.to_owned(),
            header: header.to_ascii_lowercase(),
            value: value.to_owned(),
            remaining: n,
        });
    }

    /// The requests the simulator's rate limits refused with a 429 (injected ones excluded).
    pub fn rate_limited(&self) -> Vec<String> {
        self.world().rate_limited.clone()
    }

    /// Makes DMs to `user` fail with 50007, as when they closed their DMs.
    pub fn close_dms(&self, user: u64) {
        self.world().dms_closed.insert(user);
    }

    /// Makes posts to `channel` fail with 403 / 50013 (missing permissions).
    pub fn forbid_channel(&self, channel: u64) {
        self.world().forbidden_channels.insert(channel);
    }

    /// Makes role changes fail with 403 / 50013, as when the bot lacks Manage Roles.
    pub fn forbid_roles(&self) {
        self.world().roles_forbidden = true;
    }

    /// Role changes made: (method, user, role).
    pub fn role_changes(&self) -> Vec<(String, u64, u64)> {
        self.world().role_changes.clone()
    }

    /// The DM channel the bot opened with `user`, if any.
    pub fn dm_channel(&self, user: u64) -> Option<u64> {
        self.world().dm_channels.get(&user).copied()
    }

    pub(crate) fn control(&self, ctl: Ctl) -> bool {
        match &self.world().conn {
            Some((_, tx)) => tx.send(ctl).is_ok(),
            None => false,
        }
    }

    /// Drops the gateway connection: with a close frame (`Some(code)`) or without (`None`).
    pub fn drop_connection(&self, close: Option<u16>) -> bool {
        self.control(Ctl::Drop { close })
    }

    /// Resets the gateway's TCP connection (RST, no close frame, no FIN).
    pub fn reset_connection(&self) -> bool {
        self.control(Ctl::Reset)
    }

    /// Sends op 7 RECONNECT.
    pub fn request_reconnect(&self) -> bool {
        self.control(Ctl::Reconnect)
    }

    /// Sends op 9 INVALID_SESSION; when not resumable the session is forgotten.
    pub fn invalidate_session(&self, resumable: bool) -> bool {
        if !resumable {
            self.world().session = None;
        }
        self.control(Ctl::InvalidSession(resumable))
    }

    /// Stops (or resumes) answering heartbeats with ACKs.
    pub fn withhold_acks(&self, withhold: bool) {
        self.world().withhold_acks = withhold;
    }

    /// Refuses new gateway connections for `duration`.
    pub fn refuse_connections(&self, duration: Duration) {
        self.world().refuse_until = Some(Instant::now() + duration);
    }
}

/// Read access to the simulator's state inside [`Sim::wait_for`].
pub struct SimView<'a> {
    world: &'a World,
}

impl SimView<'_> {
    /// The guild as it is now.
    pub fn guild(&self) -> &Guild {
        &self.world.guild
    }

    /// Role changes made: (method, user, role).
    pub fn role_changes(&self) -> &[(String, u64, u64)] {
        &self.world.role_changes
    }

    /// REST calls so far.
    pub fn requests(&self) -> &[Request] {
        &self.world.requests
    }

    /// The DM channel the bot opened with `user`, if any.
    pub fn dm_channel(&self, user: u64) -> Option<u64> {
        self.world.dm_channels.get(&user).copied()
    }

    /// Paths of the requests held now by `Sim::hang_requests` (recorded in
    /// [`SimView::requests`] only once answered).
    pub fn hanging(&self) -> &[String] {
        &self.world.hanging
    }

    /// Messages the bot created.
    pub fn messages(&self) -> &[Value] {
        &self.world.messages
    }

    /// IDENTIFYs so far.
    pub fn identifies(&self) -> u32 {
        self.world.identifies
    }

    /// RESUMEs so far.
    pub fn resumes(&self) -> usize {
        self.world.resumes.len()
    }

    /// Gateway TCP connections accepted so far.
    pub fn connections(&self) -> u32 {
        self.world.connections
    }

    /// Close codes received.
    pub fn close_codes(&self) -> &[u16] {
        &self.world.close_codes
    }

    /// Whether a gateway connection is live and identified.
    pub fn connected(&self) -> bool {
        self.world.conn.is_some()
    }
}
