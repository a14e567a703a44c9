//! Typed configuration, read once at startup from the environment.
//!
//! This is the only module that reads environment variables. Every value is validated here so a
//! mistake stops the process at once with the variable's name and what was wrong, instead of
//! surfacing later as a confusing runtime failure. It must never log or print the token.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serenity::model::id::GuildId;

/// Where the health server listens when `HEALTH_ADDR` is not set.
pub const DEFAULT_HEALTH_ADDR: &str = "127.0.0.1:8080";
/// How long one Discord API request may take, connection included, unless
/// `DISCORD_HTTP_TIMEOUT_SECS` says otherwise.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// Where the sandbox's page listens when `SANDBOX_ADDR` is not set: loopback only.
pub const DEFAULT_SANDBOX_ADDR: &str = "127.0.0.1:8090";
/// The SQLite database used when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://novera.db";

/// The bot token. Its `Debug` and `Display` never show the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token; surrounding whitespace (a stray newline in `.env`) is dropped.
    pub fn new(raw: &str) -> Self {
        Self(raw.trim().to_owned())
    }

    /// The secret itself, for the HTTP client and log redaction only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Everything the bot needs to start, parsed and checked.
#[derive(Clone, Debug)]
pub struct Config {
    /// Bot token from the Discord developer portal (`DISCORD_TOKEN`).
    pub token: Token,
    /// Base URL replacing `https://discord.com` (`DISCORD_API_BASE`): a local simulator or a
    /// rate-limiting proxy. `None` talks to Discord with serenity's own rate limiter.
    pub api_base: Option<String>,
    /// Address of the health server (`HEALTH_ADDR`).
    pub health_addr: SocketAddr,
    /// SQLite database URL (`DATABASE_URL`).
    pub database_url: String,
    /// Guild that gets the slash commands at startup (`DEV_GUILD_ID`); `None` registers globally.
    pub dev_guild: Option<GuildId>,
    /// Overrides every interactive wait's own timeout (`WAIT_TIMEOUT_SECS`).
    pub wait_timeout: Option<Duration>,
    /// Log line format (`LOG_FORMAT`: `text` or `json`).
    pub log_format: LogFormat,
    /// The longest a Discord API request may take (`DISCORD_HTTP_TIMEOUT_SECS`).
    pub http_timeout: Duration,
    /// Whether the bot spaces its requests by Discord's rate-limit headers and retries a 429
    /// itself (`DISCORD_RATE_LIMITER`, on by default). Off only behind a base that rate-limits
    /// for it, such as twilight-http-proxy.
    pub rate_limiter: bool,
    /// Whether the bot asks Discord for members joining, leaving and passing screening
    /// (`GUILD_MEMBERS_INTENT`, off by default): the privileged Server Members intent, which
    /// welcomes need and the rank role uses. It must also be
    /// switched on for the application in the Developer Portal, or Discord refuses to connect.
    pub members_intent: bool,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line, for log shippers (`LOG_FORMAT=json`).
    Json,
}

/// A configuration problem, naming the variable and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What was wrong, in words an operator can act on.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "configuration error: {} {} (see .env.example)",
            self.var, self.problem
        )
    }
}

impl std::error::Error for ConfigError {}

/// `name`'s value in the process environment. One that is not UTF-8 is read with its bad bytes
/// replaced, so it fails its variable's check instead of passing for unset.
fn env_value(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

/// `url` with everything between its scheme and its last `@` shown as `***`, so an error
/// never repeats a `user:password@` pasted into a URL, whatever characters the password has
/// (a path with an `@` in it is hidden too: better too much than a password).
fn without_credentials(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://***{}", &url[at..]),
        (None, Some(at)) => format!("***{}", &url[at..]),
        (_, None) => url.to_owned(),
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(env_value)
    }

    /// Where `novera-assistant sandbox` serves its page: `SANDBOX_ADDR`, loopback by default.
    /// The sandbox reads nothing else from the environment but `RUST_LOG`: its bot is
    /// configured by the sandbox, never with the production token or database.
    pub fn sandbox_addr_from_env() -> Result<SocketAddr, ConfigError> {
        Self::sandbox_addr(env_value)
    }

    /// [`Config::sandbox_addr_from_env`], through `lookup`.
    pub fn sandbox_addr(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<SocketAddr, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let raw = get("SANDBOX_ADDR").unwrap_or_else(|| DEFAULT_SANDBOX_ADDR.to_owned());
        raw.trim().parse().map_err(|_| ConfigError {
            var: "SANDBOX_ADDR",
            problem: format!("must be an address like 127.0.0.1:8090, not {raw:?}"),
        })
    }

    /// Reads the configuration through `lookup`, so tests need not touch the real environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // An empty value counts as unset: `.env.example` ships `VAR=` lines.
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let token = match get("DISCORD_TOKEN") {
            Some(raw) => Token::new(&raw),
            None => {
                return Err(ConfigError {
                    var: "DISCORD_TOKEN",
                    problem: if cfg!(feature = "sandbox") {
                        "is missing or empty; set it to your bot's token \
                         (or run `novera-assistant sandbox` to try the bot without Discord)"
                    } else {
                        "is missing or empty; set it to your bot's token"
                    }
                    .into(),
                })
            }
        };

        let api_base = match get("DISCORD_API_BASE") {
            Some(raw) => Some(parse_api_base(&raw)?),
            None => None,
        };

        let health_raw = get("HEALTH_ADDR").unwrap_or_else(|| DEFAULT_HEALTH_ADDR.to_owned());
        let health_addr = health_raw.trim().parse().map_err(|_| ConfigError {
            var: "HEALTH_ADDR",
            problem: format!("must be an address like 127.0.0.1:8080, not {health_raw:?}"),
        })?;

        let database_url = get("DATABASE_URL")
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !database_url.starts_with("sqlite:") {
            return Err(ConfigError {
                var: "DATABASE_URL",
                problem: format!(
                    "must be a sqlite: URL, not {:?}",
                    without_credentials(&database_url)
                ),
            });
        }

        let dev_guild = match get("DEV_GUILD_ID") {
            Some(raw) => Some(
                raw.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|id| *id != 0)
                    .map(GuildId::new)
                    .ok_or_else(|| ConfigError {
                        var: "DEV_GUILD_ID",
                        problem: format!("must be a guild id (a positive number), not {raw:?}"),
                    })?,
            ),
            None => None,
        };

        let wait_timeout = get("WAIT_TIMEOUT_SECS")
            .map(|raw| seconds("WAIT_TIMEOUT_SECS", &raw, 86_400))
            .transpose()?;

        let http_timeout = get("DISCORD_HTTP_TIMEOUT_SECS")
            .map(|raw| seconds("DISCORD_HTTP_TIMEOUT_SECS", &raw, 300))
            .transpose()?
            .unwrap_or(DEFAULT_HTTP_TIMEOUT);

        let rate_limiter = on_off("DISCORD_RATE_LIMITER", get("DISCORD_RATE_LIMITER"), true)?;
        let members_intent = on_off("GUILD_MEMBERS_INTENT", get("GUILD_MEMBERS_INTENT"), false)?;

        let log_format = match get("LOG_FORMAT").map(|v| v.trim().to_ascii_lowercase()) {
            None => LogFormat::Text,
            Some(v) if v == "text" => LogFormat::Text,
            Some(v) if v == "json" => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    var: "LOG_FORMAT",
                    problem: format!("must be text or json, not {other:?}"),
                })
            }
        };

        Ok(Self {
            token,
            api_base,
            health_addr,
            database_url,
            dev_guild,
            wait_timeout,
            log_format,
            http_timeout,
            rate_limiter,
            members_intent,
        })
    }
}

/// A switch, `on` or `off` (`default` when unset), for variable `var`.
fn on_off(var: &'static str, raw: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match raw.map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v == "on" => Ok(true),
        Some(v) if v == "off" => Ok(false),
        Some(other) => Err(ConfigError {
            var,
            problem: format!("must be on or off, not {other:?}"),
        }),
    }
}

/// Whole seconds from 1 to `max`, for variable `var`.
fn seconds(var: &'static str, raw: &str, max: u64) -> Result<Duration, ConfigError> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|secs| (1..=max).contains(secs))
        .map(Duration::from_secs)
        .ok_or_else(|| ConfigError {
            var,
            problem: format!("must be whole seconds from 1 to {max}, not {raw:?}"),
        })
}

/// Accepts `http(s)://host[:port]` with an optional trailing slash; serenity appends the
/// `/api/v10/...` path itself, so a base that already carries it would double it.
fn parse_api_base(raw: &str) -> Result<String, ConfigError> {
    let base = raw.trim().trim_end_matches('/');
    let problem = if !(base.starts_with("http://") || base.starts_with("https://")) {
        Some("must start with http:// or https://")
    } else if base.contains('@') {
        // The bot authenticates with its token alone; a user and password in the URL would
        // reach the HTTP client's error messages, and so the logs.
        Some("must not carry a user name or password")
    } else if base.ends_with("/api/v10") || base.ends_with("/api") {
        Some("must be the base without /api/v10 (for example http://127.0.0.1:5000)")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(ConfigError {
            var: "DISCORD_API_BASE",
            problem: format!("{problem}, not {:?}", without_credentials(raw)),
        }),
        None => Ok(base.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn errors_never_repeat_a_credential_in_a_url() {
        for (var, value) in [
            (
                "DATABASE_URL",
                "postgres://league:hunter2@db.example/novera",
            ),
            (
                "DISCORD_API_BASE",
                "https://proxy:hunter2@proxy.example/api/v10",
            ),
        ] {
            let err = parse(&[("DISCORD_TOKEN", "t"), (var, value)])
                .err()
                .unwrap_or_else(|| panic!("{var} was accepted"))
                .to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains("***@"), "{err}");
        }
        let err = parse(&[
            ("DISCORD_TOKEN", "t"),
            ("DISCORD_API_BASE", "https://proxy:hun/ter2@proxy.example"),
        ])
        .err()
        .unwrap_or_else(|| panic!("credentials in the API base were accepted"))
        .to_string();
        assert!(err.contains("user name or password"), "{err}");
        assert!(!err.contains("hun") && !err.contains("ter2"), "{err}");
        let err = parse(&[
            ("DISCORD_TOKEN", "t"),
            ("DISCORD_API_BASE", "proxy:hunter2@proxy.example"),
        ])
        .err()
        .unwrap_or_else(|| panic!("a base without a scheme was accepted"))
        .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert_eq!(
            without_credentials("sqlite://novera.db"),
            "sqlite://novera.db"
        );
    }

    #[test]
    fn the_sandbox_listens_on_loopback_unless_told_otherwise() {
        let unset = Config::sandbox_addr(|_| None).unwrap();
        assert_eq!(unset, DEFAULT_SANDBOX_ADDR.parse().unwrap());
        assert!(unset.ip().is_loopback());
        let set = Config::sandbox_addr(|_| Some("127.0.0.1:0".into())).unwrap();
        assert_eq!(set.port(), 0);
        let bad = Config::sandbox_addr(|_| Some("localhost".into())).unwrap_err();
        assert_eq!(bad.var, "SANDBOX_ADDR");
        // The sandbox reads no production variable: a token in the environment changes nothing.
        let with_token = Config::sandbox_addr(|k| (k == "DISCORD_TOKEN").then(|| "x".into()));
        assert_eq!(with_token.unwrap(), unset);
    }

    #[test]
    fn missing_or_empty_token_names_the_variable() {
        for env in [&[][..], &[("DISCORD_TOKEN", "  ")][..]] {
            let err = parse(env).unwrap_err();
            assert_eq!(err.var, "DISCORD_TOKEN");
            assert!(err.to_string().contains(".env.example"), "{err}");
        }
    }

    #[test]
    fn defaults_apply_when_only_the_token_is_set() {
        let config = parse(&[("DISCORD_TOKEN", "abc\n")]).unwrap();
        assert_eq!(config.token.expose(), "abc");
        assert_eq!(config.health_addr, DEFAULT_HEALTH_ADDR.parse().unwrap());
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(config.api_base, None);
        assert_eq!(config.dev_guild, None);
        assert_eq!(config.wait_timeout, None);
        assert!(config.rate_limiter);
    }

    #[test]
    fn every_optional_variable_is_read() {
        let config = parse(&[
            ("DISCORD_TOKEN", "abc"),
            ("DISCORD_API_BASE", "http://127.0.0.1:5000/"),
            ("HEALTH_ADDR", "127.0.0.1:9000"),
            ("DATABASE_URL", "sqlite:///tmp/x.db"),
            ("DEV_GUILD_ID", "123456789012345678"),
            ("WAIT_TIMEOUT_SECS", "3"),
            ("DISCORD_RATE_LIMITER", " OFF "),
        ])
        .unwrap();
        assert!(!config.rate_limiter);
        assert_eq!(config.api_base.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(config.health_addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(config.database_url, "sqlite:///tmp/x.db");
        assert_eq!(config.dev_guild, Some(GuildId::new(123456789012345678)));
        assert_eq!(config.wait_timeout, Some(Duration::from_secs(3)));
    }

    #[test]
    fn the_members_intent_is_off_unless_asked_for() {
        assert!(!parse(&[("DISCORD_TOKEN", "t")]).unwrap().members_intent);
        let on = parse(&[("DISCORD_TOKEN", "t"), ("GUILD_MEMBERS_INTENT", "On")]).unwrap();
        assert!(on.members_intent);
        let err = parse(&[("DISCORD_TOKEN", "t"), ("GUILD_MEMBERS_INTENT", "1")]).unwrap_err();
        assert_eq!(err.var, "GUILD_MEMBERS_INTENT");
    }

    #[test]
    fn the_rate_limiter_is_on_or_off() {
        let err = parse(&[("DISCORD_TOKEN", "t"), ("DISCORD_RATE_LIMITER", "no")]).unwrap_err();
        assert_eq!(err.var, "DISCORD_RATE_LIMITER");
        assert!(err.problem.contains("\"no\""), "{err}");
    }

    #[test]
    fn bad_address_is_rejected_with_its_value() {
        let err = parse(&[("DISCORD_TOKEN", "t"), ("HEALTH_ADDR", "localhost")]).unwrap_err();
        assert_eq!(err.var, "HEALTH_ADDR");
        assert!(err.problem.contains("\"localhost\""), "{err}");
    }

    #[test]
    fn bad_guild_id_is_rejected() {
        for bad in ["abc", "-5", "0", "1.5"] {
            let err = parse(&[("DISCORD_TOKEN", "t"), ("DEV_GUILD_ID", bad)]).unwrap_err();
            assert_eq!(err.var, "DEV_GUILD_ID", "{bad}");
        }
    }

    #[test]
    fn bad_wait_timeout_and_api_base_are_rejected() {
        let err = parse(&[("DISCORD_TOKEN", "t"), ("WAIT_TIMEOUT_SECS", "0")]).unwrap_err();
        assert_eq!(err.var, "WAIT_TIMEOUT_SECS");
        let err =
            parse(&[("DISCORD_TOKEN", "t"), ("DISCORD_API_BASE", "127.0.0.1:5")]).unwrap_err();
        assert_eq!(err.var, "DISCORD_API_BASE");
        let err = parse(&[
            ("DISCORD_TOKEN", "t"),
            ("DISCORD_API_BASE", "http://x/api/v10"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "DISCORD_API_BASE");
        let err = parse(&[("DISCORD_TOKEN", "t"), ("DATABASE_URL", "postgres://x")]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        let err = parse(&[("DISCORD_TOKEN", "t"), ("LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(err.var, "LOG_FORMAT");
        let config = parse(&[("DISCORD_TOKEN", "t"), ("LOG_FORMAT", "JSON")]).unwrap();
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn token_is_redacted_in_debug_and_display() {
        let config = parse(&[("DISCORD_TOKEN", "super-secret-token")]).unwrap();
        let shown = format!("{config:?} {} {:?}", config.token, config.token);
        assert!(!shown.contains("super-secret-token"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
