-- Per-guild settings, member values, tryout evaluations and the value history.
-- Discord ids (snowflakes) fit in SQLite's signed 64-bit INTEGER.

CREATE TABLE guild_settings (
    guild_id            INTEGER PRIMARY KEY,
    results_channel_id  INTEGER,
    values_channel_id   INTEGER,
    evaluator_role_id   INTEGER,
    staff_role_id       INTEGER,
    add_role_id         INTEGER,
    remove_role_id      INTEGER
);

CREATE TABLE member_values (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    value       INTEGER NOT NULL CHECK (value BETWEEN 0 AND 1000000),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- The leaderboard reads members by value, highest first; ties by user id for a stable order.
CREATE INDEX member_values_by_rank ON member_values (guild_id, value DESC, user_id);

CREATE TABLE evaluations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id      INTEGER NOT NULL,
    evaluator_id  INTEGER NOT NULL,
    player_id     INTEGER NOT NULL,
    position      TEXT    NOT NULL CHECK (position IN ('GK', 'CM', 'LW/RW', 'CF')),
    shooting      INTEGER NOT NULL CHECK (shooting BETWEEN 0 AND 10),
    dribbling     INTEGER NOT NULL CHECK (dribbling BETWEEN 0 AND 10),
    passing       INTEGER NOT NULL CHECK (passing BETWEEN 0 AND 10),
    defense       INTEGER NOT NULL CHECK (defense BETWEEN 0 AND 10),
    goalkeeping   INTEGER CHECK (goalkeeping BETWEEN 0 AND 10),
    feedback      TEXT    NOT NULL,
    value         INTEGER NOT NULL CHECK (value BETWEEN 0 AND 1000000),
    created_at    INTEGER NOT NULL
);

CREATE TABLE value_history (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id       INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    old_value      INTEGER NOT NULL,
    new_value      INTEGER NOT NULL,
    changed_by     INTEGER NOT NULL,
    reason         TEXT,
    evaluation_id  INTEGER REFERENCES evaluations (id),
    created_at     INTEGER NOT NULL
);

CREATE INDEX value_history_by_member ON value_history (guild_id, user_id, id DESC);
