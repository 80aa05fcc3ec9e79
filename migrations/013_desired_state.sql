-- Access exactly as approved.
--
-- What a request says about its person is kept on the request, shown to the approver, and
-- copied onto the person only when the request is approved: a pending or rejected request
-- changes nobody's e-mail, mobile, title or username.
ALTER TABLE requests
    ADD COLUMN person_email         text NOT NULL DEFAULT '',
    ADD COLUMN person_mobile        text NOT NULL DEFAULT '',
    ADD COLUMN person_username      text NOT NULL DEFAULT '',
    ADD COLUMN person_job_title     text NOT NULL DEFAULT '',
    ADD COLUMN person_employee_type text NOT NULL DEFAULT '',
    -- What the directory said of person_username at submission: free, own (the person's
    -- account), identity_match (its identity attribute names the person), exists (someone's
    -- account that behorig has not linked to the person: IT must confirm), unchecked (the
    -- directory did not answer in time; the provisioning job checks again).
    ADD COLUMN username_check       text NOT NULL DEFAULT '';
UPDATE requests r SET person_email = p.email, person_mobile = p.mobile, person_job_title = p.job_title,
    person_employee_type = p.employee_type
FROM persons p WHERE p.id = r.person_id AND r.kind = 'grant';

-- How behorig came to hold an account: it created it, or it linked an entry that existed
-- before (IT confirmed the link, or the entry's identity attribute named the person).
ALTER TABLE accounts
    ADD COLUMN origin    text NOT NULL DEFAULT 'created' CHECK (origin IN ('created', 'linked')),
    ADD COLUMN linked_by text NOT NULL DEFAULT '';

-- A person whose requested username is an existing directory entry nobody linked: the
-- provisioning waits for IT, who sees this on the person page.
ALTER TABLE persons ADD COLUMN link_required text NOT NULL DEFAULT '';

-- Reconciliation: each run's differences between the directory and the grants, and what
-- was repaired.
CREATE TABLE reconcile_runs (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    dry_run      boolean NOT NULL,
    trigger      text NOT NULL,
    persons      integer NOT NULL DEFAULT 0,
    groups       integer NOT NULL DEFAULT 0,
    differences  jsonb NOT NULL DEFAULT '[]',
    repaired     integer NOT NULL DEFAULT 0,
    error        text NOT NULL DEFAULT ''
);
CREATE INDEX reconcile_runs_started ON reconcile_runs (started_at DESC);

-- Lookups that convergence and reconciliation make for every person and group.
CREATE INDEX grants_group ON grants (lower(group_name));
CREATE INDEX accounts_dn ON accounts (lower(dn));
