-- Signing the terms with BankID: the orders under way and the evidence, append-only.
CREATE TABLE signing_orders (
    order_ref              text PRIMARY KEY,
    link_id                uuid NOT NULL REFERENCES terms_links (id),
    auto_start_token       text NOT NULL,
    qr_start_token         text NOT NULL,
    qr_start_secret_sealed bytea NOT NULL, -- never sent to a browser
    answered_at            timestamptz NOT NULL,
    last_collect_at        timestamptz,
    status                 text NOT NULL DEFAULT 'pending',
    hint                   text NOT NULL DEFAULT ''
);
CREATE INDEX signing_orders_link ON signing_orders (link_id);

-- The evidence of a signature: what BankID returned, the exact text signed and its hash,
-- and the terms versions. Rows are never changed or removed.
CREATE TABLE terms_signatures (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    request_id            uuid NOT NULL REFERENCES requests (id),
    order_ref             text NOT NULL UNIQUE,
    personnummer_enc      bytea NOT NULL,
    signer_name           text NOT NULL,
    signature             bytea NOT NULL, -- the XML signature as BankID returned it (decoded)
    ocsp_response         bytea NOT NULL,
    device_ip             text NOT NULL,
    device_uhi            text NOT NULL DEFAULT '',
    bankid_issue_date     text NOT NULL DEFAULT '',
    signed_text           text NOT NULL,
    signed_text_sha256    bytea NOT NULL,
    terms_versions        jsonb NOT NULL,
    simulated             boolean NOT NULL,
    signed_at             timestamptz NOT NULL
);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER terms_signatures_append_only BEFORE UPDATE OR DELETE ON terms_signatures
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
