-- Players asking for a tryout: a row from the request to its evaluation or refusal, so the
-- card's Accept and Decline buttons work across restarts.
CREATE TABLE tryout_requests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id      INTEGER NOT NULL,
    player_id     INTEGER NOT NULL,
    position      TEXT CHECK (position IN ('GK', 'CM', 'LW/RW', 'CF')),
    -- open → accepted → evaluated; open → declined; accepted → open when the wizard ends
    -- without a saved evaluation (or a restart interrupts it)
    status        TEXT NOT NULL CHECK (status IN ('open', 'accepted', 'declined', 'evaluated',
                                                  'withdrawn')),
    evaluator_id  INTEGER,
    reason        TEXT,
    channel_id    INTEGER NOT NULL,
    message_id    INTEGER,
    created_at    INTEGER NOT NULL,
    decided_at    INTEGER
);

-- One request at a time per player: open, or being evaluated.
CREATE UNIQUE INDEX tryout_requests_one_per_player
    ON tryout_requests (guild_id, player_id) WHERE status IN ('open', 'accepted');

CREATE INDEX tryout_requests_by_status ON tryout_requests (guild_id, status, id);
