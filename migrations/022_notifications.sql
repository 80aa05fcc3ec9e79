-- Everyone is told the next step (issue 17): one row per e-mail that an event causes.
--
-- The row is written in the transaction of the event, beside the River job that sends it;
-- event_key is unique, so an event that is recorded twice (a retried transition, a second
-- convergence) makes no second e-mail, and sent_at is set once the mail server took the
-- message, so a retried job sends nothing. The text is made when the job runs, from the
-- request as it is then, in the recipient's language of that moment.
CREATE TABLE notifications (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_key    text NOT NULL UNIQUE,
    kind         text NOT NULL,
    request_id   uuid REFERENCES requests (id),
    person_id    uuid REFERENCES persons (id),
    -- The principal it is for; NULL when it is for the person (their login details).
    principal_id uuid REFERENCES principals (id),
    data         jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL,
    sent_at      timestamptz,
    -- Why nothing was sent (e.g. no_email); the row is done all the same.
    skipped      text NOT NULL DEFAULT ''
);
CREATE INDEX notifications_request ON notifications (request_id);

-- The language the principal last used in the UI (sv or en), for their e-mail.
ALTER TABLE principals ADD COLUMN lang text NOT NULL DEFAULT 'sv' CHECK (lang IN ('sv', 'en'));
