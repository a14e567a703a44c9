//! What the bot says outside a command's own reply: ephemeral notes on clicks and modals,
//! direct messages, and notes to staff. Every one of them mentions nobody.

use poise::serenity_prelude as serenity;
use serenity::{
    ChannelId, CreateAllowedMentions, CreateInteractionResponse, CreateInteractionResponseMessage,
    CreateMessage, Http, UserId,
};

use crate::db::GuildSettings;

/// A response only the clicker sees, saying `text`.
pub fn ephemeral(text: impl Into<String>) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new()),
    )
}

/// Tells `user` `text` in a direct message. Closed DMs are normal (the member chose that):
/// the failure is logged, not returned.
pub async fn direct_message(http: &Http, user: UserId, text: &str) {
    let sent = async {
        let dm = user.create_dm_channel(http).await?;
        dm.send_message(
            http,
            CreateMessage::new()
                .content(text)
                .allowed_mentions(CreateAllowedMentions::new()),
        )
        .await
    };
    if let Err(err) = sent.await {
        tracing::info!(error = %err, "could not send a direct message");
    }
}

/// Posts `note` in the server's staff channel (pinging nobody), or logs it when there is none.
/// Failures are logged: a note never fails what prompted it.
pub async fn staff_note(http: &Http, settings: &GuildSettings, note: &str) {
    let Some(channel) = settings.staff_channel.map(ChannelId::new) else {
        tracing::warn!("{note}");
        return;
    };
    let message = CreateMessage::new()
        .content(note)
        .allowed_mentions(CreateAllowedMentions::new());
    if let Err(err) = channel.send_message(http, message).await {
        tracing::warn!(error = %err, "could not post a note to staff");
    }
}

/// Sends the answer to an interaction that came in together with the one a step took. A
/// failure is logged: it must not keep the step's own answer from going out.
pub async fn answer_late(sent: impl std::future::Future<Output = Result<(), serenity::Error>>) {
    if let Err(err) = sent.await {
        tracing::warn!(error = %err, "could not answer a late click or form");
    }
}

/// `text` as written, shown literally: Discord's markdown characters are escaped and line
/// breaks (Unicode's too) become spaces, so a note cannot fake a status line, a link or
/// formatting.
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => out.push(' '),
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']' | '(' | ')' | '<' | '-'
            | ':' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `text` in at most `limit` characters: its start and `…` if it was longer.
pub fn shortened(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(limit.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// Whether `text` shows nothing: only spaces, characters of no width (joiners, direction
/// marks, soft hyphens, variation selectors) and the fillers that are drawn blank.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '\u{00ad}'
                    | '\u{115f}'
                    | '\u{1160}'
                    | '\u{180e}'
                    | '\u{200b}'..='\u{200f}'
                    | '\u{202a}'..='\u{202e}'
                    | '\u{2060}'..='\u{2064}'
                    | '\u{2066}'..='\u{2069}'
                    | '\u{2800}'
                    | '\u{3164}'
                    | '\u{fe00}'..='\u{fe0f}'
                    | '\u{feff}'
                    | '\u{ffa0}'
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_stays_on_one_line_and_shows_its_markdown() {
        let shown = plain("a\nb\u{2028}c\u{2029}d\u{85}e **f** [g](h) <@1>");
        assert_eq!(shown, "a b c d e \\*\\*f\\*\\* \\[g\\]\\(h\\) \\<@1\\>");
        assert_eq!(shown.lines().count(), 1);
    }

    #[test]
    fn blank_text_is_spaces_and_characters_of_no_width() {
        assert!(is_blank(" \u{200b}\u{feff}\n"));
        assert!(is_blank("\u{200e}\u{ad}\u{2800}\u{3164}\u{fe0f}"));
        assert!(is_blank(""));
        assert!(!is_blank(" \u{200b}x"));
    }
}
