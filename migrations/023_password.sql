-- The password page: a person identifies with BankID (an auth order) and sets the password of
-- their account, which behorig writes to the directory at once. No password is ever stored:
-- this table holds the identification only, bound to the browser that started it (the
-- SHA-256 of a random cookie), usable once and for a few minutes.
CREATE TABLE password_orders (
    order_ref              text PRIMARY KEY,
    browser_hash           bytea NOT NULL,
    auto_start_token       text NOT NULL,
    qr_start_token         text NOT NULL,
    qr_start_secret_sealed bytea NOT NULL, -- never sent to a browser
    answered_at            timestamptz NOT NULL,
    last_collect_at        timestamptz,
    -- starting (BankID is being asked), pending, failed, complete (identified), used (a
    -- password was set with it)
    status                 text NOT NULL,
    hint                   text NOT NULL DEFAULT '',
    person_id              uuid REFERENCES persons (id),
    completed_at           timestamptz,
    used_at                timestamptz,
    -- a password being written holds the identification until then, so two posts at once
    -- make one change
    setting_until          timestamptz,
    attempts               integer NOT NULL DEFAULT 0
);
CREATE INDEX password_orders_browser ON password_orders (browser_hash, answered_at DESC);
CREATE INDEX password_orders_person ON password_orders (person_id, completed_at) WHERE person_id IS NOT NULL;
