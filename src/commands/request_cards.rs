//! The text of a tryout request's card in the staff channel, and the card of a request a
//! tryout answered. Shared by [`super::requests`] (the cards' buttons) and [`super::tryout`]
//! (a tryout saved for a player with an open request answers it).

use poise::serenity_prelude as serenity;
use serenity::{CreateAllowedMentions, EditMessage, Http};

use crate::db::requests::TryoutRequest;

/// The card's text for `r` in `state` (what happened to it).
pub fn card_text(r: &TryoutRequest, state: &str) -> String {
    let position = r.position.as_deref().unwrap_or("any position");
    format!(
        "**Tryout request #{}** — <@{}> asks for a tryout ({position}), <t:{}:R>.\n{state}",
        r.id, r.player, r.created_at
    )
}

/// Shows an evaluated request's card as evaluated, without its buttons; does nothing for a
/// request in any other state. A failed edit is logged: the request itself is closed, and a
/// click on the card is told so, and redraws it.
pub async fn show_evaluated(http: &Http, r: &TryoutRequest) {
    let (Some(message), Some(evaluator), "evaluated") = (r.message, r.evaluator, r.status.as_str())
    else {
        return;
    };
    let edit = EditMessage::new()
        .content(card_text(r, &format!("Evaluated by <@{evaluator}>.")))
        .components(Vec::new())
        .allowed_mentions(CreateAllowedMentions::new());
    if let Err(err) = r.channel.edit_message(http, message, edit).await {
        tracing::warn!(error = %err, request = r.id, "could not update a request card");
    }
}
