//! The text of a tryout request's card in the staff channel, and the card of a closed request
//! (a tryout answered it, it was declined or withdrawn). Shared by [`super::requests`] (the cards' buttons) and [`super::tryout`]
//! (a tryout saved for a player with an open request answers it).

use poise::serenity_prelude as serenity;
use serenity::{CreateAllowedMentions, EditMessage, Http};

use crate::db::requests::TryoutRequest;
use crate::db::Db;

/// The card's text for `r` in `state` (what happened to it).
pub fn card_text(r: &TryoutRequest, state: &str) -> String {
    let position = r.position.as_deref().unwrap_or("any position");
    format!(
        "**Tryout request #{}** — <@{}> asks for a tryout ({position}), <t:{}:R>.\n{state}",
        r.id, r.player, r.created_at
    )
}

/// What a closed request's card says happened to it; `None` for a request still in play.
fn closed_state(r: &TryoutRequest) -> Option<String> {
    let by = r
        .evaluator
        .map(|e| format!(" by <@{e}>"))
        .unwrap_or_default();
    match r.status.as_str() {
        "evaluated" => Some(format!("Evaluated{by}.")),
        "declined" => Some(match &r.reason {
            Some(reason) => format!("Declined{by}: {reason}"),
            None => format!("Declined{by}."),
        }),
        "withdrawn" => Some("Withdrawn.".to_owned()),
        _ => None,
    }
}

/// Shows a closed (evaluated, declined or withdrawn) request's card as such, without its
/// buttons; does nothing for a request still in play. A failed edit is logged: the request
/// itself is closed, and a click on the card, or the next start, redraws it.
pub async fn show_closed(http: &Http, db: &Db, r: &TryoutRequest) {
    let (Some(message), Some(state)) = (r.message, closed_state(r)) else {
        return;
    };
    let edit = EditMessage::new()
        .content(card_text(r, &state))
        .components(Vec::new())
        .allowed_mentions(CreateAllowedMentions::new());
    let drawn = r.channel.edit_message(http, message, edit).await;
    card_drawn(db, r, &r.status, drawn).await;
}

/// Discord's codes for a card that is gone for good: its channel, its server or itself.
const CARD_GONE: [isize; 3] = [10003, 10004, 10008];

/// Records what became of a draw of `r`'s card showing `status`: shown, or gone for good (staff
/// deleted it: nothing left to redraw); any other failure is logged and left for the next
/// start.
pub async fn card_drawn(
    db: &Db,
    r: &TryoutRequest,
    status: &str,
    drawn: Result<serenity::Message, serenity::Error>,
) {
    match drawn {
        Ok(_) => card_shown(db, r.id, status).await,
        Err(err) if crate::types::discord_code(&err).is_some_and(|c| CARD_GONE.contains(&c)) => {
            tracing::info!(request = r.id, "a request card is gone");
            card_shown(db, r.id, status).await;
        }
        Err(err) => tracing::warn!(error = %err, request = r.id, "could not update a request card"),
    }
}

/// Records that request `id`'s card shows `status` now (a failure is logged: the card is
/// then redrawn once more at the next start).
pub async fn card_shown(db: &Db, id: i64, status: &str) {
    if let Err(err) = db.card_shows(id, status).await {
        tracing::warn!(
            error = format!("{err:#}"),
            request = id,
            "could not record a card"
        );
    }
}

/// The card of a declined request, as its decline shows it.
pub fn declined_card(r: &TryoutRequest) -> String {
    card_text(r, &closed_state(r).unwrap_or_default())
}
