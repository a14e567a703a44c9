-- What a confirmed tryout still has to make public (results post, value post, roles, the
-- player's DM), written in the evaluation's own transaction and removed once every step is
-- done, so a restart finishes what a crash interrupted. `done` is a bit set of finished steps.
CREATE TABLE tryout_publications (
    evaluation_id  INTEGER PRIMARY KEY REFERENCES evaluations(id),
    old_value      INTEGER NOT NULL,
    done           INTEGER NOT NULL DEFAULT 0,
    attempts       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
);

-- One row, rewritten to prove the database still takes writes (startup and /health).
CREATE TABLE write_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at  INTEGER NOT NULL
);
