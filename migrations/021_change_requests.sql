-- Change requests ("ny/ändrad/raderas behörighet"): for a person who already has access, add
-- systems or roles (request_items, as in a grant request) and end some of their grants while
-- the rest stays (request_endings). The grants to end are named at submission but nothing
-- happens to them until a manager approves: only then are their ends_at and ended_by_request
-- set, and the convergence jobs take the access away.
ALTER TABLE requests DROP CONSTRAINT requests_kind_check;
ALTER TABLE requests ADD CONSTRAINT requests_kind_check CHECK (kind IN ('grant', 'terminate', 'change'));

CREATE TABLE request_endings (
    request_id     uuid NOT NULL REFERENCES requests (id),
    position       integer NOT NULL,
    grant_id       uuid NOT NULL REFERENCES grants (id),
    -- The day the access ends; today means at approval.
    effective_date date NOT NULL,
    PRIMARY KEY (request_id, position),
    UNIQUE (request_id, grant_id)
);
CREATE INDEX request_endings_grant ON request_endings (grant_id);
