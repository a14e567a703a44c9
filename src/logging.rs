//! Log setup: `RUST_LOG` filtering (default `info`) and a writer that blanks secrets.
//!
//! Our own code never logs a secret, but dependencies log at debug and trace levels that we do
//! not control, and an error's text can carry the URL it failed on. Every formatted log line
//! passes through [`Redacting`], which blanks the bot token and every interaction token (the
//! segment after `/interactions/<id>/` or `/webhooks/<id>/`, and a `token` field's value in
//! JSON or `Debug` output): an interaction token lets its holder post as the bot for 15
//! minutes. No log level can leak either.

use std::io::{self, Write};
use std::sync::Arc;

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Token};

/// Log lines that may wait for stdout before new ones are dropped.
const QUEUED_LINES: usize = 16 * 1024;

/// Lines dropped because stdout did not keep up (set once `init` ran).
static DROPPED: std::sync::OnceLock<ErrorCounter> = std::sync::OnceLock::new();

/// How many log lines were dropped because stdout did not keep up.
pub fn dropped_lines() -> usize {
    DROPPED.get().map_or(0, ErrorCounter::dropped_lines)
}

/// Installs the global subscriber. Call once, from `main`, and keep the guard until exit: it
/// writes out the lines still queued when dropped.
///
/// Lines are written to stdout by a thread of their own, never by the runtime: a stalled
/// stdout (a full pipe nobody reads) must not stall the gateway and the probes. When the queue
/// is full, lines are dropped and counted ([`dropped_lines`], on `/metrics`).
pub fn init(token: &Token, format: LogFormat) -> WorkerGuard {
    let stdout = io::IsTerminal::is_terminal(&io::stdout());
    install(token, format, "info", Box::new(io::stdout()), stdout)
}

/// [`init`] for `novera-assistant sandbox`: on stderr (its stdout carries the page's address
/// only), warnings and errors unless `RUST_LOG` says otherwise.
pub fn init_for_sandbox(token: &Token) -> WorkerGuard {
    let stderr = io::IsTerminal::is_terminal(&io::stderr());
    install(
        token,
        LogFormat::Text,
        "warn",
        Box::new(io::stderr()),
        stderr,
    )
}

fn install(
    token: &Token,
    format: LogFormat,
    default: &str,
    output: Box<dyn io::Write + Send>,
    terminal: bool,
) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let (stdout, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("log-writer")
        .finish(output);
    let _first = DROPPED.set(stdout.error_counter());
    let secret: Arc<str> = Arc::from(token.expose());
    std::panic::set_hook(Box::new(move |info| {
        report_panic(&info.to_string(), &secret, &mut io::stderr());
    }));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacting::new(token, stdout));
    match format {
        LogFormat::Text => builder
            // Colours only for a person at a terminal, not for files and log shippers.
            .with_ansi(terminal)
            .init(),
        // Each line carries the current span (command, guild, invocation) and its parents.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
    guard
}

/// Reports a panic's `message`, never in silence and never with a secret in it: through the
/// log (and so its redacting writer) when the log takes errors from here, else redacted to
/// `fallback` (stderr), since a `RUST_LOG` naming only other targets would drop it.
fn report_panic(message: &str, secret: &Arc<str>, fallback: &mut dyn Write) {
    if tracing::enabled!(tracing::Level::ERROR) {
        tracing::error!(panic = %message, "panicked");
    } else {
        let mut out = RedactingWriter::new(Arc::clone(secret), fallback);
        let _ = writeln!(out, "panicked: {message}");
    }
}

/// A [`MakeWriter`] to the log queue that blanks `secret` (and interaction tokens) out of
/// everything written through it.
#[derive(Clone)]
pub struct Redacting {
    /// The text that must never reach the output.
    secret: Arc<str>,
    /// Where redacted lines go.
    out: NonBlocking,
}

impl Redacting {
    /// Redacts `token` from every line written to `out`.
    pub fn new(token: &Token, out: NonBlocking) -> Self {
        Self {
            secret: Arc::from(token.expose()),
            out,
        }
    }
}

impl<'a> MakeWriter<'a> for Redacting {
    type Writer = RedactingWriter<NonBlocking>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter::new(self.secret.clone(), self.out.clone())
    }
}

/// Collects one log line and writes it, redacted, when dropped. The formatter writes each
/// event through a fresh writer, so the secret can never be split across two writes.
pub struct RedactingWriter<W: Write> {
    /// What to blank out.
    secret: Arc<str>,
    /// The line being formatted.
    buf: Vec<u8>,
    /// Where the redacted line goes.
    out: W,
}

impl<W: Write> RedactingWriter<W> {
    /// A writer that forwards to `out`.
    pub fn new(secret: Arc<str>, out: W) -> Self {
        Self {
            secret,
            buf: Vec::new(),
            out,
        }
    }

    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let line = redact(&self.buf, self.secret.as_bytes());
        self.buf.clear();
        self.out.write_all(&line)
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()?;
        self.out.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        // Nowhere to report a failed log write; dropping the line is all we can do.
        let _ = self.emit();
    }
}

/// `text` with the bot token and every interaction token blanked, as log lines are.
pub fn redacted(text: &str, token: &Token) -> String {
    String::from_utf8_lossy(&redact(text.as_bytes(), token.expose().as_bytes())).into_owned()
}

/// What replaces a secret.
const REDACTED: &[u8] = b"<redacted>";

/// `data` with every occurrence of `secret`, and every interaction token, replaced by
/// `<redacted>`.
fn redact(data: &[u8], secret: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if !secret.is_empty() && data[i..].starts_with(secret) {
            out.extend_from_slice(REDACTED);
            i += secret.len();
        } else if let Some((keep, skip)) = interaction_token_at(&data[i..]) {
            out.extend_from_slice(&data[i..i + keep]);
            out.extend_from_slice(REDACTED);
            i += keep + skip;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// Whether an interaction token starts within `rest` at a known place: in a URL path
/// (`/interactions/<id>/<token>`, `/webhooks/<id>/<token>`) or as a `token` field's value
/// (`"token":"…"`, `token: "…"`, JSON-escaped or not). Returns how many bytes to keep before
/// the token and the token's length.
fn interaction_token_at(rest: &[u8]) -> Option<(usize, usize)> {
    for prefix in [&b"/interactions/"[..], b"/webhooks/"] {
        if let Some(after) = rest.strip_prefix(prefix) {
            let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 || after.get(digits) != Some(&b'/') {
                return None;
            }
            let keep = prefix.len() + digits + 1;
            let len = token_len(&rest[keep..]);
            return (len > 0).then_some((keep, len));
        }
    }
    let after = rest.strip_prefix(b"token")?;
    // Optional closing quote (escaped or not), then `:` or `=`, spaces, an opening quote; at a
    // terminal, colour codes around the field's name and its `=`.
    let mut separator = 0;
    loop {
        match after.get(separator) {
            Some(b'"' | b'\\' | b' ' | b':' | b'=') => separator += 1,
            Some(0x1b) => match colour_code_len(&after[separator..]) {
                0 => break,
                len => separator += len,
            },
            _ => break,
        }
    }
    if !after[..separator].iter().any(|b| matches!(b, b':' | b'=')) {
        return None;
    }
    let keep = b"token".len() + separator;
    let len = token_len(&rest[keep..]);
    // Interaction tokens are long; a short value is some other word.
    (len >= 16).then_some((keep, len))
}

/// The length of the terminal colour code (`ESC [ 2 m`, `ESC [ 0 m`) at the start of `data`,
/// or 0 if none starts there.
fn colour_code_len(data: &[u8]) -> usize {
    let Some(params) = data.strip_prefix(b"\x1b[") else {
        return 0;
    };
    let digits = params
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b';')
        .count();
    if params.get(digits) == Some(&b'm') {
        2 + digits + 1
    } else {
        0
    }
}

/// The length of the token at the start of `data`: letters, digits, `.`, `-`, `_`.
fn token_len(data: &[u8]) -> usize {
    data.iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_the_log_would_drop_goes_to_stderr_redacted() {
        let secret: Arc<str> = Arc::from("s3cr3t");
        let message = "boom at POST /interactions/1/aW50ZXJhY3Rpb24tdG9rZW4/callback with s3cr3t";
        // No subscriber takes it: stderr gets it.
        let mut fallback = Vec::new();
        report_panic(message, &secret, &mut fallback);
        let text = String::from_utf8(fallback).unwrap();
        assert!(text.starts_with("panicked: boom"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(!text.contains("aW50ZXJhY3Rpb24tdG9rZW4"), "{text}");
        // A log that takes it: the log has it, stderr nothing.
        let subscriber = tracing_subscriber::fmt()
            .with_writer(io::sink)
            .with_max_level(tracing::Level::ERROR)
            .finish();
        let mut fallback = Vec::new();
        tracing::subscriber::with_default(subscriber, || {
            report_panic(message, &secret, &mut fallback);
        });
        assert!(fallback.is_empty());
    }

    #[test]
    fn the_secret_is_blanked_wherever_it_appears() {
        let mut out = Vec::new();
        {
            let mut w = RedactingWriter::new(Arc::from("s3cr3t"), &mut out);
            write!(w, "Authorization: Bot s3cr3t; again s3cr").unwrap();
            writeln!(w, "3t and s3cr3ts3cr3t").unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert_eq!(
            text,
            "Authorization: Bot <redacted>; again <redacted> and <redacted><redacted>\n"
        );
    }

    #[test]
    fn interaction_tokens_are_blanked_in_urls_fields_and_debug_output() {
        let token = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5OmFiY2RlZmdoaWprbG1ub3A";
        for line in [
            format!("POST https://discord.com/api/v10/interactions/123/{token}/callback failed"),
            format!("PATCH /api/v10/webhooks/456/{token}/messages/@original"),
            format!(r#"{{"id":"1","token":"{token}","type":2}}"#),
            format!(r#"{{"message":"{{\"token\":\"{token}\"}}"}}"#),
            format!(r#"ComponentInteraction {{ token: "{token}", version: 1 }}"#),
            // A field at a terminal: its name and `=` coloured.
            format!("\x1b[3minteraction_token\x1b[0m\x1b[2m=\x1b[0m{token} next"),
        ] {
            let out = String::from_utf8(redact(line.as_bytes(), b"bot-token")).unwrap();
            assert!(!out.contains(token), "{out}");
            assert!(out.contains("<redacted>"), "{out}");
        }
        let url = format!("/interactions/123/{token}/callback");
        assert_eq!(
            String::from_utf8(redact(url.as_bytes(), b"x")).unwrap(),
            "/interactions/123/<redacted>/callback"
        );
    }

    #[test]
    fn other_text_passes_unchanged() {
        assert_eq!(
            redact(b"DISCORD_TOKEN is missing; token: short", b"s3cr3t"),
            b"DISCORD_TOKEN is missing; token: short"
        );
        assert_eq!(
            redact(b"/interactions/abc/def", b"s3cr3t"),
            b"/interactions/abc/def"
        );
        assert_eq!(redact(b"hello", b"token"), b"hello");
        assert_eq!(redact(b"tok", b"token"), b"tok");
    }
}
