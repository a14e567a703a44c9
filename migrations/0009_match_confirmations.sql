-- A player's confirmation of their match's current report: the match settles once every player
-- who answers the report (the side it makes lose, but its reporter) has confirmed.
ALTER TABLE match_players ADD COLUMN confirmed_at INTEGER;
