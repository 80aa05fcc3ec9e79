-- The evidence of a BankID signature holds the personnummer (in the signature XML, and in the
-- device's UHI at some banks) and the device's IP address, so it is kept sealed with the
-- secret key from now on: one document in evidence_sealed (JSON of the signature XML, the
-- OCSP response, the device's IP and UHI), with the clear columns NULL. One document rather
-- than a sealed column each: the parts are only ever read together, by IT, never searched in
-- SQL, and one seal bound to the order ref keeps them from being mixed between rows.
--
-- Rows written before this migration keep their clear columns: the table is append-only and
-- only the service holds the key, so they cannot be sealed here. Readers use the clear
-- columns when evidence_sealed is NULL; the check keeps every row one or the other.
ALTER TABLE terms_signatures
    ADD COLUMN evidence_sealed bytea,
    ALTER COLUMN signature DROP NOT NULL,
    ALTER COLUMN ocsp_response DROP NOT NULL,
    ALTER COLUMN device_ip DROP NOT NULL,
    ALTER COLUMN device_uhi DROP NOT NULL,
    ALTER COLUMN device_uhi DROP DEFAULT,
    ADD CONSTRAINT terms_signatures_sealed_or_clear CHECK (
        (evidence_sealed IS NOT NULL AND signature IS NULL AND ocsp_response IS NULL AND device_ip IS NULL AND device_uhi IS NULL)
        OR (evidence_sealed IS NULL AND signature IS NOT NULL AND ocsp_response IS NOT NULL AND device_ip IS NOT NULL));

-- An external care provider is a top-level unit marked external, with its own units below
-- it. A principal whose unit lies under one is confined to that organisation: they see and
-- name only its units, and only managers of its units as approvers. Internal staff are not
-- confined. Only a top-level unit can be marked, so an organisation is always a whole tree.
ALTER TABLE units
    ADD COLUMN external boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT units_external_top_level CHECK (parent_id IS NULL OR NOT external);
