-- The audit log is chained by a sealer, not at append time, so that appends take no lock and
-- unrelated transactions commit side by side (see the package comment of internal/audit).
--
-- An event is now inserted in its caller's transaction with an id from a sequence and an
-- entry MAC of its content (mac, under a key not in the database), and with its seal fields
-- NULL: its place in the chain (seq), prev_hash, hash, hash_version and sealed_at. The sealer
-- sets them once, in the order it finds events committed. seq therefore stays the chain's
-- position, 1, 2, 3 ... without gaps, and ids may have gaps (rolled-back appends).
--
-- Rows written before this migration keep their seq, hashes and hash_version (1 or 2) and get
-- id = seq; their hashes never covered id or mac, so they verify as before.

ALTER TABLE audit_events
    ADD COLUMN id bigint,
    ADD COLUMN mac bytea,
    ADD COLUMN sealed_at timestamptz;

ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;
UPDATE audit_events SET id = seq;
ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;

CREATE SEQUENCE audit_events_id_seq OWNED BY audit_events.id;
SELECT setval('audit_events_id_seq', coalesce(max(seq), 0) + 1, false) FROM audit_events;

ALTER TABLE audit_events
    DROP CONSTRAINT audit_events_pkey,
    ALTER COLUMN id SET DEFAULT nextval('audit_events_id_seq'),
    ALTER COLUMN id SET NOT NULL,
    ADD PRIMARY KEY (id),
    ALTER COLUMN seq DROP NOT NULL,
    ADD CONSTRAINT audit_events_seq_key UNIQUE (seq),
    ALTER COLUMN prev_hash DROP NOT NULL,
    ALTER COLUMN hash DROP NOT NULL,
    ALTER COLUMN hash_version DROP NOT NULL,
    DROP CONSTRAINT audit_events_hash_version_check,
    -- 3: the entry MAC over the content, chained by the sealer's MAC over prev_hash, seq and it.
    ADD CONSTRAINT audit_events_hash_version_check CHECK (hash_version IN (1, 2, 3)),
    -- An event is sealed whole or not at all.
    ADD CONSTRAINT audit_events_sealed_whole CHECK (
        (seq IS NULL) = (prev_hash IS NULL) AND (seq IS NULL) = (hash IS NULL)
        AND (seq IS NULL) = (hash_version IS NULL)),
    -- Every event since this migration carries its entry MAC, and only those are sealed.
    ADD CONSTRAINT audit_events_entry_mac CHECK ((mac IS NOT NULL) = (hash_version IS NULL OR hash_version = 3)),
    ADD CONSTRAINT audit_events_sealed_at CHECK ((sealed_at IS NOT NULL) = (hash_version IS NOT NULL AND hash_version = 3));

-- The sealer reads what waits for it, oldest first, without scanning the sealed events.
CREATE INDEX audit_events_unsealed ON audit_events (id) WHERE seq IS NULL;

-- UPDATE is refused as before, except the sealer's: setting the seal fields of an unsealed
-- event from NULL, once, with every other column left as it was. DELETE and TRUNCATE stay
-- refused (014).
CREATE FUNCTION audit_events_seal_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.seq IS NULL AND OLD.sealed_at IS NULL
        AND NEW.seq IS NOT NULL AND NEW.hash_version = 3 AND NEW.sealed_at IS NOT NULL
        AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor = OLD.actor AND NEW.action = OLD.action
        AND NEW.request_id IS NOT DISTINCT FROM OLD.request_id
        AND NEW.person_id IS NOT DISTINCT FROM OLD.person_id
        AND NEW.data::text = OLD.data::text AND NEW.mac = OLD.mac THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only: only the sealer sets an unsealed event''s seal, once', TG_TABLE_NAME;
END $$;

DROP TRIGGER audit_events_append_only ON audit_events;
CREATE TRIGGER audit_events_append_only BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_events_seal_once BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_seal_once();
