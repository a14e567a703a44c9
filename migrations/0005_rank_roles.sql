-- When a match was settled, so an undo can tell whether a season ended since.
ALTER TABLE matches ADD COLUMN settled_at INTEGER;

-- The optional rank role: carried by the top `rank_top` members of the rankings. The bot
-- remembers whom it gave which role to, so after a value change it moves only the role that
-- changed hands, never sweeping every member, and takes back an earlier role staff replaced.
ALTER TABLE guild_settings ADD COLUMN rank_role_id INTEGER;
ALTER TABLE guild_settings ADD COLUMN rank_top INTEGER;
-- Set when Discord refused the role (hierarchy, Manage Roles): staff were told once, and no
-- change is tried again until they set the role anew.
ALTER TABLE guild_settings ADD COLUMN rank_role_paused INTEGER NOT NULL DEFAULT 0;

CREATE TABLE rank_role_holders (
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    role_id   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id, role_id)
);

-- Members found gone when the role was to be given: they keep their value but not a place in
-- the top, until they are seen again (a value change, or their join).
CREATE TABLE rank_role_absent (
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
