-- What was sent to BankID is kept with the order, so the evidence is the text the person was
-- shown, whatever the catalog says later; and TRUNCATE cannot empty the evidence either.
ALTER TABLE signing_orders
    ADD COLUMN signed_text text NOT NULL DEFAULT '',
    ADD COLUMN signed_text_sha256 bytea,
    ADD COLUMN terms_versions jsonb NOT NULL DEFAULT '{}';
CREATE TRIGGER terms_signatures_no_truncate BEFORE TRUNCATE ON terms_signatures
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
