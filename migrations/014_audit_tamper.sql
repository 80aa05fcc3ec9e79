-- The audit log is append-only in the database too, as the signing evidence is (010, 012): an
-- UPDATE, DELETE or TRUNCATE fails whoever runs it, short of a superuser who disables triggers.
--
-- Each event says how its hash was made: 1 is plain SHA-256, as every event before this
-- migration was; 2 is HMAC-SHA-256 under a key derived from behorig's secret key, which is not
-- in the database, so a changed row cannot be given a hash that verifies. Version 1 is accepted
-- only before the first version-2 event.
ALTER TABLE audit_events
    ADD COLUMN hash_version smallint NOT NULL DEFAULT 1 CHECK (hash_version IN (1, 2));
-- The default only labels the old rows; a new row must say how it was hashed.
ALTER TABLE audit_events ALTER COLUMN hash_version DROP DEFAULT;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
