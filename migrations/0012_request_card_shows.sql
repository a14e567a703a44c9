-- What a request's card shows now (a status, as `status` holds them): set when a post or an
-- edit of the card is taken. A card whose redraw failed, or that a stop kept from being
-- redrawn, shows another status than its request's, and the next start redraws it.
ALTER TABLE tryout_requests ADD COLUMN card_shows TEXT;
UPDATE tryout_requests SET card_shows = status WHERE message_id IS NOT NULL;
