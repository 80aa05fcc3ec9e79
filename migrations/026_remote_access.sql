-- Remote access over RADIUS (issue 18): the order, the second factors and their state.
--
-- Remote access is a grant like any other: a catalog system flagged remote_access, with its
-- own directory group and monthly price, ordered with a request of kind remote_access that
-- also says which second factor the person gets. Until a manager approves, the order changes
-- nothing: the mobile number stays on the request (requests.person_mobile, E.164) and the
-- factor in requests.remote_factor.
ALTER TABLE systems ADD COLUMN remote_access boolean NOT NULL DEFAULT false;

ALTER TABLE requests DROP CONSTRAINT requests_kind_check;
ALTER TABLE requests ADD CONSTRAINT requests_kind_check
    CHECK (kind IN ('grant', 'terminate', 'change', 'remote_access'));
ALTER TABLE requests ADD COLUMN remote_factor text
    CHECK (remote_factor IN ('sms', 'yubikey'));

-- YubiKeys imported from the personalization tool's log. The private id and AES key are
-- sealed with the secret box (context "yubikey"); the public id is what an OTP starts with
-- and is how a login finds its key. (last_counter, last_use) is the last accepted OTP's
-- session counter and use: an OTP is accepted only when its pair is strictly greater, and the
-- pair is moved in the same UPDATE that accepts it, so two replicas cannot both accept one.
CREATE TABLE yubikeys (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    serial         bigint UNIQUE,
    public_id      text NOT NULL UNIQUE,
    private_id_enc bytea NOT NULL,
    aes_key_enc    bytea NOT NULL,
    last_counter   integer NOT NULL DEFAULT 0,
    last_use       integer NOT NULL DEFAULT 0,
    -- in_stock: on IT's shelf; handed_out: with person_id; to_be_returned: the person's
    -- remote access ended and IT waits for the key; returned goes back to in_stock with the
    -- hand-out closed, so a key can be handed out again.
    state          text NOT NULL DEFAULT 'in_stock'
        CHECK (state IN ('in_stock', 'handed_out', 'to_be_returned', 'lost')),
    person_id      uuid REFERENCES persons (id),
    imported_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'in_stock') = (person_id IS NULL))
);
CREATE INDEX yubikeys_person ON yubikeys (person_id) WHERE person_id IS NOT NULL;

-- One row per hand-out: who received which key, from whom, when, and its return.
CREATE TABLE yubikey_handouts (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    yubikey_id      uuid NOT NULL REFERENCES yubikeys (id),
    person_id       uuid NOT NULL REFERENCES persons (id),
    handed_out_at   timestamptz NOT NULL,
    handed_out_by   uuid NOT NULL REFERENCES principals (id),
    returned_at     timestamptz,
    returned_to     uuid REFERENCES principals (id),
    note            text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX yubikey_handouts_open ON yubikey_handouts (yubikey_id) WHERE returned_at IS NULL;
CREATE INDEX yubikey_handouts_person ON yubikey_handouts (person_id);

-- A person's second factor for remote access. An sms factor holds the mobile number the codes
-- go to (E.164); a yubikey factor names the key. failures counts consecutive failed logins
-- with the factor; at the configured limit locked_at is set and only IT's audited unlock
-- clears it. Revoking the remote-access grant revokes its factors (revoked_at): the number is
-- released and the key marked to be returned.
CREATE TABLE authenticators (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    person_id   uuid NOT NULL REFERENCES persons (id),
    grant_id    uuid NOT NULL REFERENCES grants (id),
    kind        text NOT NULL CHECK (kind IN ('sms', 'yubikey')),
    mobile      text NOT NULL DEFAULT '',
    yubikey_id  uuid REFERENCES yubikeys (id),
    failures    integer NOT NULL DEFAULT 0,
    locked_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK (kind <> 'sms' OR mobile <> ''),
    CHECK (kind <> 'yubikey' OR mobile = '')
);
CREATE UNIQUE INDEX authenticators_live ON authenticators (person_id, kind) WHERE revoked_at IS NULL;
CREATE INDEX authenticators_grant ON authenticators (grant_id);

-- An SMS code sent to a person: for the second leg of a RADIUS login (purpose radius, bound
-- to the gateway that asked) or to identify on the password page (purpose password, bound to
-- the browser). The challenge is found by the hash of its State (or browser token); the code
-- is stored only as an HMAC, compared in constant time, used at most once (used_at set in the
-- UPDATE that accepts it) and tried at most a few times.
CREATE TABLE sms_challenges (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    state_hash  bytea NOT NULL UNIQUE,
    person_id   uuid NOT NULL REFERENCES persons (id),
    purpose     text NOT NULL CHECK (purpose IN ('radius', 'password')),
    client      text NOT NULL DEFAULT '',
    code_mac    bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    tries       integer NOT NULL DEFAULT 0,
    used_at     timestamptz,
    -- delivered: the gateway that took the message (provider and its message id), empty
    -- when every gateway failed and the code was never valid.
    provider    text NOT NULL DEFAULT '',
    provider_id text NOT NULL DEFAULT ''
);
-- The rate limit counts a person's recent sends.
CREATE INDEX sms_challenges_person ON sms_challenges (person_id, created_at);
