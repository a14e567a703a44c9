-- Welcomes (optional): a message in a channel and a role for every member who joins. Both
-- need the privileged Server Members intent (GUILD_MEMBERS_INTENT=on).
ALTER TABLE guild_settings ADD COLUMN welcome_channel_id INTEGER;
ALTER TABLE guild_settings ADD COLUMN welcome_role_id INTEGER;
-- Staff's text; `{member}` stands for the newcomer's mention, the only one it may ping.
ALTER TABLE guild_settings ADD COLUMN welcome_message TEXT;
-- Set when the welcome role could not be given: staff were told once; setting the role
-- again resumes it.
ALTER TABLE guild_settings ADD COLUMN welcome_role_paused INTEGER NOT NULL DEFAULT 0;

-- Members who joined pending (membership screening): the welcome role waits until they pass it,
-- so the bot never lets anyone around the server's rules.
CREATE TABLE welcome_pending (
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
