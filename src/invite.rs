//! The invite link: the scopes and permissions the bot's commands need, and nothing more.

use poise::serenity_prelude as serenity;

/// The permissions the bot's commands need in a guild: read and post messages (with embeds
/// and links), and manage the roles tryouts give or take. The invite link is built from this.
pub fn required_permissions() -> serenity::Permissions {
    serenity::Permissions::VIEW_CHANNEL
        | serenity::Permissions::SEND_MESSAGES
        | serenity::Permissions::EMBED_LINKS
        | serenity::Permissions::READ_MESSAGE_HISTORY
        | serenity::Permissions::MENTION_EVERYONE
        | serenity::Permissions::MANAGE_ROLES
}

/// The OAuth2 URL that invites the bot with exactly the scopes and permissions it needs.
pub fn invite_url(application_id: u64) -> String {
    format!(
        "https://discord.com/oauth2/authorize?client_id={application_id}&scope=bot%20applications.commands&permissions={}",
        required_permissions().bits()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invite_link_asks_for_both_scopes_and_the_commands_permissions() {
        let url = invite_url(42);
        assert!(url.starts_with("https://discord.com/oauth2/authorize?client_id=42&"));
        assert!(url.contains("scope=bot%20applications.commands"));
        let bits: u64 = url.rsplit("permissions=").next().unwrap().parse().unwrap();
        let permissions = serenity::Permissions::from_bits_truncate(bits);
        assert!(permissions
            .contains(serenity::Permissions::SEND_MESSAGES | serenity::Permissions::MANAGE_ROLES));
        assert!(!permissions.contains(serenity::Permissions::ADMINISTRATOR));
    }
}
