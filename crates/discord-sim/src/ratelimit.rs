//! Discord's REST rate limits, as documented (topics/rate-limits): per-route buckets keyed by the
//! route and its top-level resource (a channel, a guild, a webhook with its token, an
//! interaction), a global limit per bot from which interaction endpoints are exempt, the
//! `X-RateLimit-*` headers on every limited response, and 429s with Discord's body
//! (`message`, `retry_after` in seconds, `global`) and `Retry-After` in whole seconds.
//!
//! Discord publishes no figures ("should not be hard coded"); the defaults are the ones bots
//! commonly see (5 messages per 5 s in a channel, 50 requests a second globally).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// So many requests per window.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub requests: u32,
    pub per: Duration,
}

impl Limit {
    pub const fn new(requests: u32, per: Duration) -> Self {
        Self { requests, per }
    }
}

/// The limits the simulator enforces.
#[derive(Clone, Debug)]
pub struct RateLimits {
    /// Off: no headers and no 429s (a Discord that never limits).
    pub enabled: bool,
    /// `/channels/{id}/messages` and its sub-routes, per channel.
    pub channel_messages: Limit,
    /// An interaction's webhook (`/webhooks/{application}/{token}/...`), per token.
    pub interaction_webhook: Limit,
    /// Every other route, per route and top-level resource.
    pub other: Limit,
    /// All requests of the bot outside interaction endpoints.
    pub global: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            channel_messages: Limit::new(5, Duration::from_secs(5)),
            interaction_webhook: Limit::new(5, Duration::from_secs(2)),
            other: Limit::new(10, Duration::from_secs(1)),
            global: Limit::new(50, Duration::from_secs(1)),
        }
    }
}

/// A fixed window, started by its first request.
#[derive(Clone, Copy, Debug)]
struct Window {
    started: Instant,
    used: u32,
}

impl Window {
    /// The window `now` falls in, counting from this one.
    fn current(this: Option<Window>, limit: Limit, now: Instant) -> Window {
        match this {
            Some(w) if now < w.started + limit.per => w,
            _ => Window {
                started: now,
                used: 0,
            },
        }
    }

    fn reset_after(&self, limit: Limit, now: Instant) -> Duration {
        (self.started + limit.per).saturating_duration_since(now)
    }
}

/// A request's rate-limit verdict: the headers to send, and whether it is refused.
pub struct Verdict {
    pub headers: Vec<(&'static str, String)>,
    /// Set when the request is refused: (retry after, global).
    pub limited: Option<(Duration, bool)>,
}

impl Verdict {
    /// Discord's 429 body for a refused request.
    pub fn body(retry_after: Duration, global: bool) -> serde_json::Value {
        serde_json::json!({
            "message": "You are being rate limited.",
            "retry_after": (retry_after.as_secs_f64() * 1000.0).ceil() / 1000.0,
            "global": global,
        })
    }
}

/// The windows of every bucket seen, and the global one.
#[derive(Default)]
pub struct Buckets {
    windows: HashMap<String, Window>,
    global: Option<Window>,
}

impl Buckets {
    /// Counts a request to `segments` (the path after `/api/v10`, split) and says whether it may
    /// go through, with the headers to send either way.
    pub fn check(&mut self, limits: &RateLimits, segments: &[&str], now: Instant) -> Verdict {
        let mut headers = Vec::new();
        if !limits.enabled {
            return Verdict {
                headers,
                limited: None,
            };
        }
        let route = Route::of(segments);
        if !route.interaction {
            let global = Window::current(self.global, limits.global, now);
            if global.used >= limits.global.requests {
                let retry = global.reset_after(limits.global, now);
                headers.push(("retry-after", whole_seconds(retry)));
                headers.push(("x-ratelimit-global", "true".into()));
                headers.push(("x-ratelimit-scope", "global".into()));
                self.global = Some(global);
                return Verdict {
                    headers,
                    limited: Some((retry, true)),
                };
            }
        }
        let limit = match route.kind {
            Kind::ChannelMessages => limits.channel_messages,
            Kind::InteractionWebhook => limits.interaction_webhook,
            Kind::Other => limits.other,
        };
        let key = format!("{} {}", route.template, route.resource);
        let mut window = Window::current(self.windows.get(&key).copied(), limit, now);
        let refused = window.used >= limit.requests;
        if !refused {
            window.used += 1;
            if !route.interaction {
                let mut global = Window::current(self.global, limits.global, now);
                global.used += 1;
                self.global = Some(global);
            }
        }
        self.windows.insert(key, window);
        // Rounded up to the millisecond: a client that waits exactly as long as the headers
        // say must find the window reset.
        let reset_after =
            Duration::from_millis(window.reset_after(limit, now).as_micros().div_ceil(1000) as u64);
        let reset_at = SystemTime::now() + reset_after;
        let epoch = reset_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros()
            .div_ceil(1000) as f64
            / 1000.0;
        headers.push(("x-ratelimit-limit", limit.requests.to_string()));
        headers.push((
            "x-ratelimit-remaining",
            (limit.requests - window.used.min(limit.requests)).to_string(),
        ));
        headers.push(("x-ratelimit-reset", format!("{epoch:.3}")));
        headers.push((
            "x-ratelimit-reset-after",
            format!("{:.3}", reset_after.as_secs_f64()),
        ));
        headers.push(("x-ratelimit-bucket", bucket_hash(&route.template)));
        if refused {
            headers.push(("retry-after", whole_seconds(reset_after)));
            headers.push(("x-ratelimit-scope", "user".into()));
            return Verdict {
                headers,
                limited: Some((reset_after, false)),
            };
        }
        Verdict {
            headers,
            limited: None,
        }
    }
}

/// `Retry-After` is in whole seconds, rounded up (the body carries the exact figure).
pub fn whole_seconds(d: Duration) -> String {
    (d.as_secs_f64().ceil() as u64).max(1).to_string()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    ChannelMessages,
    InteractionWebhook,
    Other,
}

/// A request's route: its template (ids replaced), its top-level resource, and its kind.
struct Route {
    template: String,
    resource: String,
    kind: Kind,
    /// Interaction endpoints are exempt from the global limit.
    interaction: bool,
}

impl Route {
    fn of(segments: &[&str]) -> Route {
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let (resource, interaction) = match segments {
            ["channels", id, ..] | ["guilds", id, ..] => ((*id).to_owned(), false),
            ["webhooks", id, token, ..] => (format!("{id}/{token}"), true),
            ["interactions", id, ..] => ((*id).to_owned(), true),
            _ => (String::new(), false),
        };
        let template = segments
            .iter()
            .enumerate()
            .map(|(i, s)| match (segments.first(), i) {
                // The token of an interaction's webhook or callback is part of the resource.
                (Some(&"webhooks"), 2) | (Some(&"interactions"), 2) => ":token",
                _ if numeric(s) => ":id",
                _ => s,
            })
            .collect::<Vec<_>>()
            .join("/");
        let kind = match segments {
            ["channels", _, "messages", ..] => Kind::ChannelMessages,
            ["webhooks", ..] if interaction => Kind::InteractionWebhook,
            _ => Kind::Other,
        };
        Route {
            template,
            resource,
            kind,
            interaction,
        }
    }
}

/// `X-RateLimit-Bucket`: an opaque name for the route's limit, without its major parameters.
fn bucket_hash(template: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    template.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(path: &str) -> Vec<&str> {
        path.trim_start_matches('/').split('/').collect()
    }

    #[test]
    fn rate_limits_a_channel_allows_its_limit_then_refuses_until_the_window_resets() {
        let limits = RateLimits::default();
        let mut buckets = Buckets::default();
        let start = Instant::now();
        for _ in 0..5 {
            assert!(buckets
                .check(&limits, &seg("/channels/1/messages"), start)
                .limited
                .is_none());
        }
        let refused = buckets.check(&limits, &seg("/channels/1/messages"), start);
        assert!(matches!(refused.limited, Some((_, false))));
        // Another channel has its own bucket.
        assert!(buckets
            .check(&limits, &seg("/channels/2/messages"), start)
            .limited
            .is_none());
        let later = start + Duration::from_secs(5);
        assert!(buckets
            .check(&limits, &seg("/channels/1/messages"), later)
            .limited
            .is_none());
    }

    #[test]
    fn rate_limits_interaction_endpoints_skip_the_global_limit() {
        let limits = RateLimits {
            global: Limit::new(1, Duration::from_secs(1)),
            ..RateLimits::default()
        };
        let mut buckets = Buckets::default();
        let now = Instant::now();
        assert!(buckets
            .check(&limits, &seg("/users/@me"), now)
            .limited
            .is_none());
        assert!(matches!(
            buckets.check(&limits, &seg("/guilds/1"), now).limited,
            Some((_, true))
        ));
        assert!(buckets
            .check(&limits, &seg("/interactions/5/tok/callback"), now)
            .limited
            .is_none());
        assert!(buckets
            .check(&limits, &seg("/webhooks/7/tok"), now)
            .limited
            .is_none());
    }
}
