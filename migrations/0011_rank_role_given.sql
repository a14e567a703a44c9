-- Whether Discord took the rank role's grant. A holder is recorded before the role is asked
-- for (0) and marked given once Discord says so (1): a grant whose answer was lost, or cut
-- short by a stop, is never forgotten. A later sync gives such a member the role again if
-- they are still in the top, and takes it back if they are not.
ALTER TABLE rank_role_holders ADD COLUMN given INTEGER NOT NULL DEFAULT 1;
