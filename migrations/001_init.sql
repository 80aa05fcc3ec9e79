-- The walking skeleton: organisation, catalog, persons, requests, grants, accounts, audit.

CREATE TABLE units (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    ansvarskod  text NOT NULL UNIQUE,
    parent_id   uuid REFERENCES units (id)
);

-- A principal is someone who acts in behorig: a requester, a manager, an IT handler.
CREATE TABLE principals (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subject       text NOT NULL UNIQUE,
    display_name  text NOT NULL,
    email         text NOT NULL DEFAULT '',
    it            boolean NOT NULL DEFAULT false,
    unit_id       uuid REFERENCES units (id)
);

-- Managers with attestation rights for a unit; the right extends to the unit's descendants.
CREATE TABLE unit_managers (
    unit_id       uuid NOT NULL REFERENCES units (id),
    principal_id  uuid NOT NULL REFERENCES principals (id),
    PRIMARY KEY (unit_id, principal_id)
);

CREATE TABLE systems (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    has_roles       boolean NOT NULL,
    needs_terms     boolean NOT NULL DEFAULT false,
    -- Directory group name; {unit} is the unit's ansvarskod, {role} the role id.
    group_template  text NOT NULL,
    monthly_price_sek integer NOT NULL DEFAULT 0
);

CREATE TABLE system_roles (
    system_id  text NOT NULL REFERENCES systems (id),
    id         text NOT NULL,
    name       text NOT NULL,
    PRIMARY KEY (system_id, id)
);

CREATE TABLE persons (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    personnummer_enc   bytea NOT NULL,
    personnummer_index bytea NOT NULL UNIQUE,
    birth_date         date NOT NULL, -- shown in the masked form
    given_name         text NOT NULL,
    surname            text NOT NULL,
    email              text NOT NULL DEFAULT '',
    mobile             text NOT NULL DEFAULT '',
    employee_type      text NOT NULL CHECK (employee_type IN ('employee', 'consultant')),
    requested_username text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- Every username ever issued, so that one is never given to a second person.
CREATE TABLE usernames (
    username   text PRIMARY KEY,
    person_id  uuid NOT NULL REFERENCES persons (id),
    issued_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    person_id  uuid NOT NULL REFERENCES persons (id),
    directory  text NOT NULL,
    username   text NOT NULL REFERENCES usernames (username),
    dn         text NOT NULL DEFAULT '',
    state      text NOT NULL CHECK (state IN ('reserved', 'active', 'disabled')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (directory, person_id),
    UNIQUE (directory, username)
);

CREATE TABLE request_numbers (
    year  integer PRIMARY KEY,
    last  integer NOT NULL
);

CREATE TABLE requests (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    number                text NOT NULL UNIQUE,
    kind                  text NOT NULL CHECK (kind IN ('grant', 'terminate')),
    status                text NOT NULL,
    requester_id          uuid NOT NULL REFERENCES principals (id),
    approver_id           uuid NOT NULL REFERENCES principals (id),
    person_id             uuid NOT NULL REFERENCES persons (id),
    unit_id               uuid NOT NULL REFERENCES units (id),
    cost_centre           text NOT NULL,
    reason                text NOT NULL DEFAULT '',
    valid_from            date,
    valid_to              date,
    effective_date        date,
    terms_required        boolean NOT NULL DEFAULT false,
    approved_by_submitter boolean NOT NULL DEFAULT false,
    approved_by_manager   boolean NOT NULL DEFAULT false,
    decided_by            uuid REFERENCES principals (id),
    decision_reason       text NOT NULL DEFAULT '',
    due_date              date,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from)
);
CREATE INDEX requests_person ON requests (person_id);
CREATE INDEX requests_requester ON requests (requester_id);

CREATE TABLE request_items (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    request_id uuid NOT NULL REFERENCES requests (id),
    position   integer NOT NULL,
    system_id  text NOT NULL REFERENCES systems (id),
    role_id    text,
    unit_id    uuid NOT NULL REFERENCES units (id),
    UNIQUE (request_id, position)
);

CREATE TABLE grants (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    person_id        uuid NOT NULL REFERENCES persons (id),
    request_id       uuid NOT NULL REFERENCES requests (id),
    item_id          uuid NOT NULL UNIQUE REFERENCES request_items (id),
    system_id        text NOT NULL REFERENCES systems (id),
    role_id          text,
    unit_id          uuid NOT NULL REFERENCES units (id),
    group_name       text NOT NULL,
    valid_from       date,
    valid_to         date,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz,
    state            text NOT NULL CHECK (state IN ('scheduled', 'active', 'revoked')),
    -- The receipt: what provisioning did, so that revocation never has to guess.
    member_dn        text NOT NULL DEFAULT '',
    provisioned_at   timestamptz,
    revoked_at       timestamptz,
    ended_by_request uuid REFERENCES requests (id)
);
CREATE INDEX grants_person ON grants (person_id);
CREATE INDEX grants_request ON grants (request_id);
CREATE INDEX grants_ended_by ON grants (ended_by_request);

-- Append-only, hash-chained: hash = SHA-256(prev_hash || canonical encoding of the row).
CREATE TABLE audit_events (
    seq        bigint PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    request_id uuid,
    person_id  uuid,
    data       json NOT NULL,
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL
);
CREATE INDEX audit_events_request ON audit_events (request_id);
CREATE INDEX audit_events_person ON audit_events (person_id);
