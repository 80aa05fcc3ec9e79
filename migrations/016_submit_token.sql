-- A form, or an API client's Idempotency-Key, names each submission, so that the same
-- submission sent twice (a double click, back and resubmit, a retried call) finds the first
-- request instead of making a second one. Unique per requester: tokens are theirs.
ALTER TABLE requests ADD COLUMN submit_token text;
CREATE UNIQUE INDEX requests_submit_token ON requests (requester_id, submit_token) WHERE submit_token IS NOT NULL;
