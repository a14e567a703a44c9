-- Members who joined pending (membership screening) and have not been seen passing it: their
-- welcome role waits until they do, so nobody gets around the server's rules.
CREATE TABLE screening (
    guild_id            INTEGER NOT NULL,
    user_id             INTEGER NOT NULL,
    -- Whether the welcome role waits for them (one was set when they joined).
    welcome_role_waits  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, user_id)
);
-- Every member held until now was held for the welcome role.
INSERT INTO screening (guild_id, user_id, welcome_role_waits)
    SELECT guild_id, user_id, 1 FROM welcome_pending;
DROP TABLE welcome_pending;
