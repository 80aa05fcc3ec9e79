-- The SMS outbox of `behorig dev` (issue 18): text messages kept instead of sent, shown on the
-- dev page that plays the person's phone, as mail_outbox is for e-mail. Only the dev
-- configuration (sms.outbox) writes here: it holds the codes in clear.
CREATE TABLE sms_outbox (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id  text NOT NULL UNIQUE,
    recipient   text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_outbox_recipient ON sms_outbox (recipient, created_at);
