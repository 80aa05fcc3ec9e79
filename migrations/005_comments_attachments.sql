-- Comments on a request (IT may mark one internal) and attachments such as the training
-- certificate or a signed paper form.
CREATE TABLE comments (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    request_id  uuid NOT NULL REFERENCES requests (id),
    author_id   uuid NOT NULL REFERENCES principals (id),
    body        text NOT NULL,
    internal    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL
);
CREATE INDEX comments_request ON comments (request_id, created_at);

CREATE TABLE attachments (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    request_id    uuid NOT NULL REFERENCES requests (id),
    name          text NOT NULL,
    content_type  text NOT NULL,
    size          integer NOT NULL,
    sha256        bytea NOT NULL,
    data          bytea NOT NULL,
    uploaded_by   uuid NOT NULL REFERENCES principals (id),
    created_at    timestamptz NOT NULL
);
CREATE INDEX attachments_request ON attachments (request_id, created_at);
