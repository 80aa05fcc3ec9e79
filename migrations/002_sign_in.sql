-- Sign-in with OIDC: roles on principals, identities from IdPs, login attempts and sessions.

-- Roles replace the single IT flag: requester, it_handler, it_admin. Being a manager with
-- attestation rights is not a role; it comes from unit_managers.
ALTER TABLE principals ADD COLUMN roles text[] NOT NULL DEFAULT '{requester}';
UPDATE principals SET roles = '{requester,it_handler}' WHERE it;
ALTER TABLE principals DROP COLUMN it;
ALTER TABLE principals
    -- The IdP and its subject for principals that sign in; NULL for token principals and for
    -- principals IT registered ahead of their first sign-in.
    ADD COLUMN idp text,
    ADD COLUMN idp_subject text,
    -- Blind index of the personnummer a BankID-backed IdP identifies the principal by, so an
    -- external provider's manager registered ahead is found at the first sign-in.
    ADD COLUMN personnummer_index bytea UNIQUE,
    ADD COLUMN last_sign_in_at timestamptz,
    ADD CONSTRAINT principals_idp_subject UNIQUE (idp, idp_subject);

-- A sign-in under way: what the callback must see again. Used once (deleted on callback).
CREATE TABLE oidc_logins (
    state_hash  bytea PRIMARY KEY,
    idp         text NOT NULL,
    nonce       text NOT NULL,
    verifier    text NOT NULL,
    return_to   text NOT NULL DEFAULT '/',
    created_at  timestamptz NOT NULL
);

-- Server-side sessions; the cookie holds a random id, the table only its SHA-256.
CREATE TABLE sessions (
    id_hash       bytea PRIMARY KEY,
    principal_id  uuid NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    idp           text NOT NULL,
    -- The ID token, sealed with the secret key, kept for RP-initiated logout (id_token_hint).
    -- Empty for IdPs that carry a personnummer: their logout uses client_id instead, so the
    -- number is neither stored here nor put in a logout URL.
    id_token_sealed bytea,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL
);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
