-- A member's recent match creations, counted at each /match create (at most a few an hour, so
-- a create-and-cancel loop cannot fill the matches channel).
CREATE INDEX matches_by_creator ON matches (guild_id, creator_id, created_at);
