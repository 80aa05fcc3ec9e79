-- Whether a manager has approved what is known about a person. A person first met in a
-- request exists from submission (the request needs them), but with the name the requester
-- typed: the first approval decides the name, employment, contact details and username; later
-- approvals only fill gaps.
ALTER TABLE persons ADD COLUMN details_approved boolean NOT NULL DEFAULT false;
UPDATE persons p SET details_approved = true
WHERE EXISTS (SELECT 1 FROM requests r WHERE r.person_id = p.id AND r.approved_by_manager);

-- The directory's stable id of an account's entry (OpenLDAP's entryUUID), so that an entry
-- renamed in the directory is still found, and one deleted and made again under the same
-- username is not taken for it.
ALTER TABLE accounts ADD COLUMN entry_id text NOT NULL DEFAULT '';

-- Group names as convergence compares them: lower-cased by behorig itself (Go), so that the
-- database's collation never decides whether a group is one behorig manages. Rows from before
-- are lower-cased here once.
ALTER TABLE grants ADD COLUMN group_key text;
UPDATE grants SET group_key = lower(group_name);
ALTER TABLE grants ALTER COLUMN group_key SET NOT NULL;
DROP INDEX grants_group;
CREATE INDEX grants_group_key ON grants (group_key) WHERE NOT manual;
