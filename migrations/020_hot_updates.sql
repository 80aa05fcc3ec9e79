-- A revocation changes a grant's state, an account's state and a request's status for every
-- leaver. PostgreSQL can update a row in place (HOT: no new entry in any index) only when no
-- index covers a changed column, not even in its predicate, and the page has room.
--
-- grants_removal_pending named state in its predicate, so every state change rewrote all
-- eight of the table's indexes. IT's list of manual removals finds its grants through the
-- manual flag instead, which never changes.
DROP INDEX grants_removal_pending;
CREATE INDEX grants_manual ON grants (ends_at) WHERE manual;

-- requests_open_status is covered by requests_status_number (status first), which the lists
-- use; a status change no longer updates it.
DROP INDEX requests_open_status;

-- Room on every page for the new version of a row, so that updates stay on the page.
ALTER TABLE grants SET (fillfactor = 80);
ALTER TABLE accounts SET (fillfactor = 80);
