//! Routes are used for ratelimiting. These are to differentiate between the different _types_ of
//! routes - such as getting the current user's channels - for the most part, with the exception
//! being major parameters.
//!
//! [Taken from] the Discord docs, major parameters are:
//!
//! > Additionally, rate limits take into account major parameters in the URL. For example,
//! > `/channels/:channel_id` and `/channels/:channel_id/messages/:message_id` both take
//! > `channel_id` into account when generating rate limits since it's the major parameter. The
//! > only current major parameters are `channel_id`, `guild_id` and `webhook_id`.
//!
//! This results in the two URLs of `GET /channels/4/messages/7` and `GET /channels/5/messages/8`
//! being rate limited _separately_. However, the two URLs of `GET /channels/10/messages/11` and
//! `GET /channels/10/messages/12` will count towards the "same ratelimit", as the major parameter
//! - `10` is equivalent in both URLs' format.
//!
//! # Examples
//!
//! First: taking the first two URLs - `GET /channels/4/messages/7` and `GET
//! /channels/5/messages/8` - and assuming both buckets have a `limit` of `10`, requesting the
//! first URL will result in the response containing a `remaining` of `9`. Immediately after -
//! prior to buckets resetting - performing a request to the _second_ URL will also contain a
//! `remaining` of `9` in the response, as the major parameter - `channel_id` - is different in the
//! two requests (`4` and `5`).
//!
//! Second: take for example the last two URLs. Assuming the bucket's `limit` is `10`, requesting
//! the first URL will return a `remaining` of `9` in the response. Immediately after - prior to
//! buckets resetting - performing a request to the _second_ URL will return a `remaining` of `8`
//! in the response, as the major parameter - `channel_id` - is equivalent for the two requests
//! (`10`).
//!
//! Major parameters are why some variants (i.e. all of the channel/guild variants) have an
//! associated u64 as data. This is the Id of the parameter, differentiating between different
//! ratelimits.
//!
//! [Taken from]: https://discord.com/developers/docs/topics/rate-limits#rate-limits

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::{self, FromStr};
use std::sync::Arc;
use std::time::SystemTime;

use reqwest::header::HeaderMap;
use reqwest::{Client, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Mutex, RwLock};
use tokio::time::{sleep, Duration};
use tracing::{debug, instrument, warn};

pub use super::routing::RatelimitingBucket;
use super::{HttpError, LightMethod, Request};
use crate::internal::prelude::*;

/// Passed to the [`Ratelimiter::set_ratelimit_callback`] callback. If using Client, that callback
/// is initialized to call the `EventHandler::ratelimit()` method.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RatelimitInfo {
    pub timeout: std::time::Duration,
    pub limit: i64,
    pub method: LightMethod,
    pub path: String,
    pub global: bool,
}

/// Ratelimiter for requests to the Discord API.
///
/// This keeps track of ratelimit data for known routes through the [`Ratelimit`] implementation
/// for each route: how many tickets are [`remaining`] until the user needs to wait for the known
/// [`reset`] time, and the [`limit`] of requests that can be made within that time.
///
/// When no tickets are available for some time, then the thread sleeps until that time passes. The
/// mechanism is known as "pre-emptive ratelimiting".
///
/// Occasionally for very high traffic bots, a global ratelimit may be reached which blocks all
/// future requests until the global ratelimit is over, regardless of route. The value of this
/// global ratelimit is never given through the API, so it can't be pre-emptively ratelimited. This
/// only affects the largest of bots.
///
/// [`limit`]: Ratelimit::limit
/// [`remaining`]: Ratelimit::remaining
/// [`reset`]: Ratelimit::reset
pub struct Ratelimiter {
    client: Client,
    global: Arc<Mutex<()>>,
    // When futures is implemented, make tasks clear out their respective entry when the 'reset'
    // passes.
    routes: Arc<RwLock<HashMap<RatelimitingBucket, Arc<Mutex<Ratelimit>>>>>,
    token: SecretString,
    absolute_ratelimits: bool,
    ratelimit_callback: Box<dyn Fn(RatelimitInfo) + Send + Sync>,
    // The base URL requests go to instead of `https://discord.com`, as set by `HttpBuilder::proxy`.
    proxy: Option<String>,
    // When idle buckets were last dropped, and how many buckets make the next drop due.
    sweep: std::sync::Mutex<Sweep>,
    // When the last `GLOBAL_PER_WINDOW` requests counted against Discord's global limit left,
    // oldest first: the limit is kept before Discord has to enforce it.
    pace: Mutex<VecDeque<tokio::time::Instant>>,
}

/// How much later a response may place the end of the window it counts in than the end
/// already known, and still be counting in that window: the trip's jitter.
const WINDOW_JITTER: Duration = Duration::from_millis(250);

/// Discord's global limit: 50 requests a second per bot, interaction endpoints excepted
/// (topics/rate-limits). It sends no header about it until a request is refused.
const GLOBAL_PER_WINDOW: usize = 50;
/// A second, and the trip's jitter: Discord counts a second from when requests reach it,
/// which is a little after they leave, and from a start of its own. Any span this long holds
/// at most `GLOBAL_PER_WINDOW` departures, so any second of arrivals does too, wherever
/// Discord starts its windows.
const GLOBAL_WINDOW: Duration = Duration::from_secs(1).saturating_add(WINDOW_JITTER);

/// When `Ratelimiter::forget_idle` next drops idle buckets: once `routes` holds `at_len`, or
/// `SWEEP_EVERY` after the last time.
#[derive(Debug)]
struct Sweep {
    at_len: usize,
    last: std::time::Instant,
}

/// The fewest buckets `Ratelimiter::routes` holds before idle ones are dropped at once.
const MIN_SWEEP_AT: usize = 1024;
/// How often idle buckets are dropped otherwise.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

impl fmt::Debug for Ratelimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ratelimiter")
            .field("client", &self.client)
            .field("global", &self.global)
            .field("routes", &self.routes)
            .field("token", &self.token)
            .field("absolute_ratelimits", &self.absolute_ratelimits)
            .field("ratelimit_callback", &"Fn(RatelimitInfo)")
            .field("proxy", &self.proxy)
            .finish()
    }
}

impl Ratelimiter {
    /// Creates a new ratelimiter, with a shared [`reqwest`] client and the bot's token.
    ///
    /// The bot token must be prefixed with `"Bot "`. The ratelimiter does not prefix it.
    #[must_use]
    pub fn new(client: Client, token: impl Into<String>) -> Self {
        Self::new_(client, token.into())
    }

    fn new_(client: Client, token: String) -> Self {
        Self {
            client,
            global: Arc::default(),
            routes: Arc::default(),
            token: SecretString::new(token),
            ratelimit_callback: Box::new(|_| {}),
            absolute_ratelimits: false,
            proxy: None,
            sweep: std::sync::Mutex::new(Sweep {
                at_len: MIN_SWEEP_AT,
                last: std::time::Instant::now(),
            }),
            pace: Mutex::new(VecDeque::with_capacity(GLOBAL_PER_WINDOW)),
        }
    }

    /// Waits until one more request fits in the global limit, and counts it: it leaves once
    /// the request `GLOBAL_PER_WINDOW` before it left `GLOBAL_WINDOW` ago. A burst (a season
    /// reset's role changes, a wave of welcomes) is spread out instead of meeting a global
    /// 429, which Discord counts against the bot's IP.
    async fn pace_global(&self) {
        let mut sent = self.pace.lock().await;
        if sent.len() >= GLOBAL_PER_WINDOW {
            if let Some(&oldest) = sent.front() {
                tokio::time::sleep_until(oldest + GLOBAL_WINDOW).await;
            }
            // Only once the wait is over: a request given up while it waits leaves the record
            // as it was.
            sent.pop_front();
        }
        sent.push_back(tokio::time::Instant::now());
    }

    /// Sends requests to `proxy` instead of `https://discord.com` (see `HttpBuilder::proxy`),
    /// still rate limiting them here.
    pub(crate) fn set_proxy(&mut self, proxy: Option<String>) {
        self.proxy = proxy;
    }

    /// Drops the buckets that nobody holds and whose window is over or unknown, once there are
    /// many or every `SWEEP_EVERY`: such a bucket knows nothing a request could not learn
    /// again, and buckets are keyed by major parameters (an interaction's id, a webhook's
    /// token), so without this the map grows by an entry or two per interaction for the life of
    /// the process.
    fn forget_idle(&self, routes: &mut HashMap<RatelimitingBucket, Arc<Mutex<Ratelimit>>>) {
        let mut sweep = self.sweep.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = routes.len() >= sweep.at_len
            || (!routes.is_empty() && sweep.last.elapsed() >= SWEEP_EVERY);
        if !due {
            return;
        }
        let now = SystemTime::now();
        // Under the map's write lock nobody can clone a bucket, so a count of 1 is final.
        routes.retain(|_, bucket| {
            Arc::strong_count(bucket) > 1
                || bucket.try_lock().map_or(true, |r| r.reset.is_some_and(|reset| reset > now))
        });
        if routes.capacity() > 4 * routes.len().max(64) {
            routes.shrink_to_fit();
        }
        sweep.at_len = (routes.len() * 2).max(MIN_SWEEP_AT);
        sweep.last = std::time::Instant::now();
    }

    /// Sets a callback to be called when a route is rate limited.
    pub fn set_ratelimit_callback(
        &mut self,
        ratelimit_callback: Box<dyn Fn(RatelimitInfo) + Send + Sync>,
    ) {
        self.ratelimit_callback = ratelimit_callback;
    }

    // Sets whether absolute ratelimits should be used.
    pub fn set_absolute_ratelimits(&mut self, absolute_ratelimits: bool) {
        self.absolute_ratelimits = absolute_ratelimits;
    }

    /// The routes mutex is a HashMap of each [`RatelimitingBucket`] and their respective ratelimit
    /// information.
    ///
    /// See the documentation for [`Ratelimit`] for more information on how the library handles
    /// ratelimiting.
    ///
    /// # Examples
    ///
    /// View the `reset` time of the route for `ChannelsId(7)`:
    ///
    /// ```rust,no_run
    /// use serenity::http::Route;
    /// # use serenity::http::Http;
    /// # use serenity::model::prelude::*;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// # let http: Http = unimplemented!();
    /// let routes = http.ratelimiter.unwrap().routes();
    /// let reader = routes.read().await;
    ///
    /// let channel_id = ChannelId::new(7);
    /// let route = Route::Channel {
    ///     channel_id,
    /// };
    /// if let Some(route) = reader.get(&route.ratelimiting_bucket()) {
    ///     if let Some(reset) = route.lock().await.reset() {
    ///         println!("Reset time at: {:?}", reset);
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn routes(&self) -> Arc<RwLock<HashMap<RatelimitingBucket, Arc<Mutex<Ratelimit>>>>> {
        Arc::clone(&self.routes)
    }

    /// # Errors
    ///
    /// Only error kind that may be returned is [`Error::Http`].
    // Nothing is recorded in the span: `self`'s Debug output holds every rate-limit bucket,
    // and the request's holds its body and its route (an interaction's token); both were
    // formatted on every request.
    #[instrument(skip_all)]
    pub async fn perform(&self, req: Request<'_>) -> Result<Response> {
        // Interaction endpoints are not bound to the global limit (Discord's docs): an answer to
        // a user does not wait for it.
        let interaction = req.route.is_interaction();
        loop {
            // This will block if another thread hit the global ratelimit.
            if !interaction {
                drop(self.global.lock().await);
            }

            // Perform pre-checking here:
            // - get the route's relevant rate
            // - sleep if that route's already rate-limited until the end of the 'reset' time;
            // - get the global rate;
            // - sleep if there is 0 remaining
            // - then, perform the request
            let ratelimiting_bucket = req.route.ratelimiting_bucket();
            let bucket = {
                let mut routes = self.routes.write().await;
                self.forget_idle(&mut routes);
                Arc::clone(routes.entry(ratelimiting_bucket).or_default())
            };

            // Owned guards (holding their own clone of the bucket), so that the bucket itself can
            // be handed to `forget_if_unlimited` once the request is answered.
            let mut ratelimit = Arc::clone(&bucket).lock_owned().await;
            ratelimit.pre_hook(&req, &self.ratelimit_callback).await;
            // While a bucket's window is unknown or over, its requests go one at a time: the
            // response's headers say what the window allows, and the requests queued behind
            // count from there instead of all being sent at once into a 429.
            let learning = !ratelimiting_bucket.is_none()
                && ratelimit.reset.map_or(true, |reset| reset <= SystemTime::now());
            let held = learning.then_some(ratelimit);

            let token = self.token.expose_secret();
            let request = req.clone().build(&self.client, token, self.proxy.as_deref())?;
            // Counted as it leaves, after any wait for its bucket: a request that waited is
            // not counted in a window that has ended.
            if !interaction {
                self.pace_global().await;
            }
            let response = self.client.execute(request.build()?).await?;

            // Check if the request got ratelimited by checking for status 429, and if so, sleep
            // for the value of the header 'retry-after' - which is in milliseconds - and then
            // `continue` to try again
            //
            // If it didn't ratelimit, subtract one from the Ratelimit's 'remaining'.
            //
            // Update `reset` with the value of 'x-ratelimit-reset' header. Similarly, update
            // `reset-after` with the 'x-ratelimit-reset-after' header.
            //
            // It _may_ be possible for the limit to be raised at any time, so check if it did from
            // the value of the 'x-ratelimit-limit' header. If the limit was 5 and is now 7, add 2
            // to the 'remaining'
            if ratelimiting_bucket.is_none() {
                return Ok(response);
            }

            let global_limit = response.status() == StatusCode::TOO_MANY_REQUESTS
                && response.headers().get("x-ratelimit-global").is_some();
            let redo = if global_limit {
                drop(held);

                let retry_after = retry_wait(response.headers(), None);
                let until = tokio::time::Instant::now() + retry_after;
                debug!("Ratelimited on route {:?} for {:?}", ratelimiting_bucket, retry_after);
                (self.ratelimit_callback)(RatelimitInfo {
                    timeout: retry_after,
                    limit: 50,
                    method: req.method,
                    path: req.route.path().to_string(),
                    global: true,
                });
                // Held until the limit is over, so that every other request waits for it too;
                // requests that met it together wake together, not one `retry_after` after
                // another.
                let _global = if interaction { None } else { Some(self.global.lock().await) };
                tokio::time::sleep_until(until).await;

                Ok(true)
            } else {
                let mut ratelimit = match held {
                    Some(ratelimit) => ratelimit,
                    None => Arc::clone(&bucket).lock_owned().await,
                };
                ratelimit
                    .post_hook(&response, &req, &self.ratelimit_callback, self.absolute_ratelimits)
                    .await
            };

            // Sent again only when the answer says it was not carried out (a 429): sending an
            // answered request again would repeat what it did (post a message twice).
            if !redo? {
                self.forget_if_unlimited(ratelimiting_bucket, bucket);
                return Ok(response);
            }
        }
    }

    /// Drops `key`'s bucket, which the answered request held, if no other request holds it and
    /// its window has room left. What it knew need not be kept: the next request to it finds no
    /// bucket, goes alone (see `learning` in `perform`) and learns the window again from its
    /// response, which counts the requests already sent. A bucket with no room left stays, and
    /// is dropped by the first sweep after its window (`forget_idle`). An interaction's
    /// follow-ups are keyed by its token, so without this every answered interaction left a
    /// bucket behind until the next sweep, scattered through the heap.
    /// Only if the map is free now: an answer does not wait for other requests' lookups, and a
    /// bucket left here goes at the next sweep.
    fn forget_if_unlimited(&self, key: RatelimitingBucket, bucket: Arc<Mutex<Ratelimit>>) {
        let Ok(mut routes) = self.routes.try_write() else { return };
        // Under the write lock nobody can clone a bucket: the map's and this one are the last.
        let unlimited = Arc::strong_count(&bucket) == 2
            && bucket.try_lock().is_ok_and(|ratelimit| ratelimit.remaining > 0);
        if unlimited && routes.get(&key).is_some_and(|kept| Arc::ptr_eq(kept, &bucket)) {
            routes.remove(&key);
            // A burst's room is given back as it drains, not at the next sweep.
            if routes.capacity() > 4 * routes.len().max(64) {
                routes.shrink_to_fit();
            }
        }
        // Let go of it under the lock: a request answered at the same time then counts one
        // holder fewer, and the last of them to check drops the bucket.
        drop(bucket);
    }
}

/// A set of data containing information about the ratelimits for a particular
/// [`RatelimitingBucket`], which is stored in [`Http`].
///
/// See the [Discord docs] on ratelimits for more information.
///
/// **Note**: You should _not_ mutate any of the fields, as this can help cause 429s.
///
/// [`Http`]: super::Http
/// [Discord docs]: https://discord.com/developers/docs/topics/rate-limits
#[derive(Debug)]
pub struct Ratelimit {
    /// The total number of requests that can be made in a period of time.
    limit: i64,
    /// The number of requests remaining in the period of time.
    remaining: i64,
    /// The absolute time when the interval resets.
    reset: Option<SystemTime>,
    /// The total time when the interval resets.
    reset_after: Option<Duration>,
}

impl Ratelimit {
    #[instrument(skip_all)]
    pub async fn pre_hook(
        &mut self,
        req: &Request<'_>,
        ratelimit_callback: &(dyn Fn(RatelimitInfo) + Send + Sync),
    ) {
        if self.limit() == 0 {
            return;
        }

        let Some(reset) = self.reset else {
            // We're probably in the past.
            self.remaining = self.limit;
            return;
        };

        let Ok(delay) = reset.duration_since(SystemTime::now()) else {
            // if duration is negative (i.e. adequate time has passed since last call to this api)
            if self.remaining() != 0 {
                self.remaining -= 1;
            }
            return;
        };

        if self.remaining() == 0 {
            debug!(
                "Pre-emptive ratelimit on route {:?} for {}ms",
                req.route.ratelimiting_bucket(),
                delay.as_millis(),
            );
            ratelimit_callback(RatelimitInfo {
                timeout: delay,
                limit: self.limit,
                method: req.method,
                path: req.route.path().to_string(),
                global: false,
            });

            sleep(delay).await;

            return;
        }

        self.remaining -= 1;
    }

    /// Reads the answer's rate-limit headers into the bucket, and waits out a 429; returns
    /// whether the request is to be sent again (after a 429).
    ///
    /// # Errors
    ///
    /// None: a header that cannot be read, or that gives no sensible count or wait, is logged
    /// and treated as missing.
    #[instrument(skip_all)]
    pub async fn post_hook(
        &mut self,
        response: &Response,
        req: &Request<'_>,
        ratelimit_callback: &(dyn Fn(RatelimitInfo) + Send + Sync),
        absolute_ratelimits: bool,
    ) -> Result<bool> {
        let headers = response.headers();
        let reset_after = read_seconds(headers, "x-ratelimit-reset-after");

        if let Some(limit) = read_header::<u32>(headers, "x-ratelimit-limit") {
            self.limit = i64::from(limit);
        }

        if let Some(remaining) = read_header::<u32>(headers, "x-ratelimit-remaining") {
            let remaining = i64::from(remaining);
            // Within a window already known, responses to concurrent requests arrive in any
            // order: an early request's answer reports more room than the requests sent since
            // have left, so the count only goes down until the window is over. A response
            // whose window ends later than the known one (by more than the trip's jitter)
            // opens a new window: its count is taken as it is.
            let now = SystemTime::now();
            let same_window = match (self.reset, reset_after) {
                (Some(known), Some(after)) => known > now && now + after <= known + WINDOW_JITTER,
                _ => false,
            };
            self.remaining = if same_window { self.remaining.min(remaining) } else { remaining };
        }

        if absolute_ratelimits {
            if let Some(reset) = read_instant(headers, "x-ratelimit-reset") {
                self.reset = Some(reset);
            }
        }

        if let Some(reset_after) = reset_after {
            if !absolute_ratelimits {
                self.reset = Some(SystemTime::now() + reset_after);
            }

            self.reset_after = Some(reset_after);
        }

        if response.status() != StatusCode::TOO_MANY_REQUESTS {
            return Ok(false);
        }
        // Not carried out: sent again once the wait is over, however it was given.
        let retry_after = retry_wait(headers, reset_after);
        debug!("Ratelimited on route {:?} for {:?}", req.route.ratelimiting_bucket(), retry_after);
        ratelimit_callback(RatelimitInfo {
            timeout: retry_after,
            limit: self.limit,
            method: req.method,
            path: req.route.path().to_string(),
            global: false,
        });

        sleep(retry_after).await;

        Ok(true)
    }

    /// The total number of requests that can be made in a period of time.
    #[inline]
    #[must_use]
    pub const fn limit(&self) -> i64 {
        self.limit
    }

    /// The number of requests remaining in the period of time.
    #[inline]
    #[must_use]
    pub const fn remaining(&self) -> i64 {
        self.remaining
    }

    /// The absolute time in milliseconds when the interval resets.
    #[inline]
    #[must_use]
    pub const fn reset(&self) -> Option<SystemTime> {
        self.reset
    }

    /// The total time in milliseconds when the interval resets.
    #[inline]
    #[must_use]
    pub const fn reset_after(&self) -> Option<Duration> {
        self.reset_after
    }
}

impl Default for Ratelimit {
    fn default() -> Self {
        Self {
            limit: i64::MAX,
            remaining: i64::MAX,
            reset: None,
            reset_after: None,
        }
    }
}

/// The longest wait a rate-limit header is taken to give: a longer one, like a negative one, is
/// no rate limit a client can wait out, and is treated as missing.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a 429 that does not say how long to wait is waited out.
const UNSTATED_WAIT: Duration = Duration::from_secs(1);

/// The shortest wait before a 429 is sent again, whatever it says: a 429 answered at once with
/// "0" is not resent in a tight loop.
const SHORTEST_RETRY: Duration = Duration::from_millis(50);

/// A rate-limit header of an answer, or `None` if it is missing or cannot be read. The answer
/// stands either way: an unreadable header is logged and treated as missing, so the bucket
/// keeps what it knew and the request neither fails nor goes out again.
fn read_header<T: FromStr>(headers: &HeaderMap, header: &str) -> Option<T> {
    match parse_header(headers, header) {
        Ok(value) => value,
        Err(_) => {
            warn!("Ignoring the unreadable {header} header of a response");
            None
        },
    }
}

/// A header giving a wait in seconds (`retry-after`, `x-ratelimit-reset-after`), or `None` if
/// it is missing or not a wait from 0 to [`LONGEST_WAIT`] (logged).
fn read_seconds(headers: &HeaderMap, header: &str) -> Option<Duration> {
    let seconds = read_header::<f64>(headers, header)?;
    match Duration::try_from_secs_f64(seconds) {
        Ok(wait) if wait <= LONGEST_WAIT => Some(wait),
        _ => {
            warn!("Ignoring the {header} header of a response: {seconds} is not a wait");
            None
        },
    }
}

/// A header giving a time in seconds since the Unix epoch (`x-ratelimit-reset`), or `None` if it
/// is missing or not within [`LONGEST_WAIT`] from now (logged).
fn read_instant(headers: &HeaderMap, header: &str) -> Option<SystemTime> {
    let seconds = read_header::<f64>(headers, header)?;
    let at = Duration::try_from_secs_f64(seconds)
        .ok()
        .and_then(|since| std::time::UNIX_EPOCH.checked_add(since))
        .filter(|at| at.duration_since(SystemTime::now()).map_or(true, |d| d <= LONGEST_WAIT));
    if at.is_none() {
        warn!("Ignoring the {header} header of a response: {seconds} is not a time to wait for");
    }
    at
}

/// How long a 429 asks to wait: its `retry-after`, else its bucket's `reset_after`, else
/// [`UNSTATED_WAIT`]; at least [`SHORTEST_RETRY`].
fn retry_wait(headers: &HeaderMap, reset_after: Option<Duration>) -> Duration {
    read_seconds(headers, "retry-after")
        .or(reset_after)
        .unwrap_or(UNSTATED_WAIT)
        .max(SHORTEST_RETRY)
}

fn parse_header<T: FromStr>(headers: &HeaderMap, header: &str) -> Result<Option<T>> {
    let Some(header) = headers.get(header) else { return Ok(None) };

    let unicode =
        str::from_utf8(header.as_bytes()).map_err(|_| Error::from(HttpError::RateLimitUtf8))?;

    let num = unicode.parse().map_err(|_| Error::from(HttpError::RateLimitI64F64))?;

    Ok(Some(num))
}

#[cfg(test)]
mod tests {
    use std::error::Error as StdError;
    use std::result::Result as StdResult;

    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

    use super::parse_header;
    use crate::error::Error;
    use crate::http::HttpError;

    type Result<T> = StdResult<T, Box<dyn StdError>>;

    fn headers() -> HeaderMap {
        let pairs = &[
            (HeaderName::from_static("x-ratelimit-limit"), HeaderValue::from_static("5")),
            (HeaderName::from_static("x-ratelimit-remaining"), HeaderValue::from_static("4")),
            (
                HeaderName::from_static("x-ratelimit-reset"),
                HeaderValue::from_static("1560704880.423"),
            ),
            (HeaderName::from_static("x-bad-num"), HeaderValue::from_static("abc")),
            (
                HeaderName::from_static("x-bad-unicode"),
                HeaderValue::from_bytes(&[255, 255, 255, 255]).unwrap(),
            ),
        ];

        let mut map = HeaderMap::with_capacity(pairs.len());

        for (name, val) in pairs {
            map.insert(name, val.clone());
        }

        map
    }

    #[test]
    #[allow(clippy::float_cmp)]
    fn test_parse_header_good() -> Result<()> {
        let headers = headers();

        assert_eq!(parse_header::<i64>(&headers, "x-ratelimit-limit")?.unwrap(), 5);
        assert_eq!(parse_header::<i64>(&headers, "x-ratelimit-remaining")?.unwrap(), 4,);
        assert_eq!(parse_header::<f64>(&headers, "x-ratelimit-reset")?.unwrap(), 1_560_704_880.423);

        Ok(())
    }

    #[test]
    fn test_parse_header_errors() {
        let headers = headers();

        assert!(matches!(
            parse_header::<i64>(&headers, "x-bad-num").unwrap_err(),
            Error::Http(HttpError::RateLimitI64F64)
        ));
        assert!(matches!(
            parse_header::<i64>(&headers, "x-bad-unicode").unwrap_err(),
            Error::Http(HttpError::RateLimitUtf8)
        ));
    }
}
