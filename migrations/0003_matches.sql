-- Wager matches, their players, seasons, and the settings they use. A match is a row from
-- creation to settlement, so its buttons work after a restart: the button names the match.

ALTER TABLE guild_settings ADD COLUMN matches_channel_id INTEGER;
ALTER TABLE guild_settings ADD COLUMN staff_channel_id INTEGER;
ALTER TABLE guild_settings ADD COLUMN match_expiry_minutes INTEGER;
-- 'keep' or 'reset' (to season_base_value) when a season ends.
ALTER TABLE guild_settings ADD COLUMN season_reset TEXT CHECK (season_reset IN ('keep', 'reset'));
ALTER TABLE guild_settings ADD COLUMN season_base_value INTEGER;

CREATE TABLE matches (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id          INTEGER NOT NULL,
    creator_id        INTEGER NOT NULL,
    team_size         INTEGER NOT NULL CHECK (team_size BETWEEN 1 AND 5),
    stake             INTEGER NOT NULL CHECK (stake BETWEEN 1 AND 1000000),
    note              TEXT,
    -- open → full → reported ⇄ disputed → settled → void; open/full → cancelled; open → expired
    status            TEXT NOT NULL CHECK (status IN
                          ('open', 'full', 'reported', 'disputed', 'settled', 'void',
                           'cancelled', 'expired')),
    channel_id        INTEGER NOT NULL,
    message_id        INTEGER,
    winner            TEXT CHECK (winner IN ('A', 'B')),
    reported_by       INTEGER,
    proof             TEXT,
    staff_channel_id  INTEGER,
    staff_message_id  INTEGER,
    settled_by        INTEGER,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE INDEX matches_open_by_expiry ON matches (status, expires_at);

CREATE TABLE match_players (
    match_id   INTEGER NOT NULL REFERENCES matches (id),
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    team       TEXT NOT NULL CHECK (team IN ('A', 'B')),
    joined_at  INTEGER NOT NULL,
    PRIMARY KEY (match_id, user_id)
);

CREATE INDEX match_players_by_member ON match_players (guild_id, user_id, match_id DESC);

-- Every value change a match made (its settlement, and its undo) names the match.
ALTER TABLE value_history ADD COLUMN match_id INTEGER REFERENCES matches (id);

CREATE INDEX value_history_by_match ON value_history (match_id) WHERE match_id IS NOT NULL;

-- A finished season: its final rankings as JSON ([[user_id, value], ...], best first).
CREATE TABLE seasons (
    guild_id    INTEGER NOT NULL,
    number      INTEGER NOT NULL,
    rankings    TEXT NOT NULL,
    reset_rule  TEXT NOT NULL,
    ended_by    INTEGER NOT NULL,
    ended_at    INTEGER NOT NULL,
    PRIMARY KEY (guild_id, number)
);
