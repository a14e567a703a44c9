//! The message an interactive flow lives on (an `/announce` draft, a `/rankings` page), and the
//! one way to edit it when the flow ends on its own (a wait ran out, or a shutdown began).
//!
//! The command's own interaction token lasts 15 minutes, which a member who keeps clicking can
//! outlast. Every click the flow answered by updating the message carries a token of its own,
//! at most one wait old when the flow ends, so the last edit goes through the latest of them,
//! and through the command's token only while no click has been answered.

use std::sync::{Mutex, PoisonError};

use poise::serenity_prelude as serenity;
use poise::CreateReply;
use serenity::{Builder, CreateActionRow, CreateAllowedMentions, EditInteractionResponse};

use crate::types::Context;

/// A flow's message and the latest token it can be edited through.
pub struct FlowMessage<'a> {
    /// The command's first response, edited while no click has been answered.
    handle: poise::ReplyHandle<'a>,
    /// The token of the latest interaction answered by updating the message.
    latest: Mutex<Option<String>>,
}

impl<'a> FlowMessage<'a> {
    /// The flow's message, as the command's first response made it.
    pub fn new(handle: poise::ReplyHandle<'a>) -> Self {
        Self {
            handle,
            latest: Mutex::new(None),
        }
    }

    /// Remembers `token` as the latest interaction answered by updating the message. Call it
    /// only once Discord took that answer: a token whose answer failed cannot edit anything.
    pub fn answered(&self, token: &str) {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(token.to_owned());
    }

    /// Replaces the message's content and components, pinging nobody.
    pub async fn edit(
        &self,
        ctx: Context<'_>,
        content: String,
        rows: Vec<CreateActionRow>,
    ) -> Result<(), serenity::Error> {
        let latest = self
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match latest {
            Some(token) => EditInteractionResponse::new()
                .content(content)
                .components(rows)
                .allowed_mentions(CreateAllowedMentions::new())
                .execute(ctx.http(), &token)
                .await
                .map(drop),
            None => {
                let edit = CreateReply::default()
                    .content(content)
                    .components(rows)
                    .allowed_mentions(CreateAllowedMentions::new());
                self.handle.edit(ctx, edit).await
            }
        }
    }
}
