-- Terms of access: versioned per system; links that reach the person by e-mail; the outbox
-- that `behorig dev` reads instead of sending.
CREATE TABLE system_terms (
    system_id   text NOT NULL REFERENCES systems (id),
    version     integer NOT NULL,
    text        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (system_id, version)
);

-- A link to sign the terms of one request. The token is never stored: it is an HMAC of the
-- id under the secret key, so a retried e-mail carries the same link, and only its SHA-256
-- is kept to find the link again.
CREATE TABLE terms_links (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    request_id  uuid NOT NULL REFERENCES requests (id),
    token_hash  bytea NOT NULL UNIQUE,
    email       text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    mailed_at   timestamptz,
    used_at     timestamptz
);
CREATE INDEX terms_links_request ON terms_links (request_id);

CREATE TABLE mail_outbox (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id  text NOT NULL UNIQUE,
    recipient   text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
