-- When each member was last welcomed, so a member who leaves and joins again within a day is not
-- posted about again. Rows older than a day are dropped at the next welcome.
CREATE TABLE welcomed (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    welcomed_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX welcomed_by_time ON welcomed (welcomed_at);
