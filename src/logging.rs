//! Log setup: `RUST_LOG` filtering (default `info`) and a writer that blanks the bot token.
//!
//! Our own code never logs the token, but dependencies log at debug and trace levels that we
//! do not control. Every formatted log line passes through [`Redacting`], which replaces the
//! token wherever it appears, so no log level can leak it.

use std::io::{self, Write};
use std::sync::Arc;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::Token;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line, for log shippers (`LOG_FORMAT=json`).
    Json,
}

/// Installs the global subscriber. Call once, from `main`.
pub fn init(token: &Token, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacting::new(token));
    match format {
        LogFormat::Text => builder
            // Colours only for a person at a terminal, not for files and log shippers.
            .with_ansi(io::IsTerminal::is_terminal(&io::stdout()))
            .init(),
        // Each line carries the current span (command, guild, invocation) and its parents.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

/// A [`MakeWriter`] to stdout that blanks `secret` out of everything written through it.
#[derive(Clone)]
pub struct Redacting {
    /// The text that must never reach the output.
    secret: Arc<str>,
}

impl Redacting {
    /// Redacts `token` from every line.
    pub fn new(token: &Token) -> Self {
        Self {
            secret: Arc::from(token.expose()),
        }
    }
}

impl<'a> MakeWriter<'a> for Redacting {
    type Writer = RedactingWriter<io::Stdout>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter::new(self.secret.clone(), io::stdout())
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

/// `data` with every occurrence of `secret` replaced by `<redacted>`.
fn redact(data: &[u8], secret: &[u8]) -> Vec<u8> {
    if secret.is_empty() || data.len() < secret.len() {
        return data.to_vec();
    }
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(secret) {
            out.extend_from_slice(b"<redacted>");
            i += secret.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn other_text_passes_unchanged() {
        assert_eq!(redact(b"hello", b"token"), b"hello");
        assert_eq!(redact(b"tok", b"token"), b"tok");
    }
}
