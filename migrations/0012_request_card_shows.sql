-- What a request's card shows now (a status, as `status` holds them): set when a post or an
-- edit of the card is taken. A card whose redraw failed, or that a stop kept from being
-- redrawn, shows another status than its request's, and the next start redraws it.
ALTER TABLE tryout_requests ADD COLUMN card_shows TEXT;
UPDATE tryout_requests SET card_shows = status WHERE message_id IS NOT NULL;

-- Whatever changes a request's status, its card shows something else until a draw of the new
-- status is recorded: a stop between the change and the draw leaves it to the next start.
CREATE TRIGGER tryout_requests_card_unknown AFTER UPDATE OF status ON tryout_requests
WHEN NEW.status IS NOT OLD.status
BEGIN
    UPDATE tryout_requests SET card_shows = NULL WHERE id = NEW.id;
END;
