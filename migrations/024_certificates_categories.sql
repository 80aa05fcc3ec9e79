-- Training certificates, catalog categories and "Annat system" (issue 17).
--
-- A system that needs a training certificate names the training (a URL the form links to).
-- A request for it waits in awaiting_certificate until IT has verified an attached
-- certificate; the verification is kept per person and system, with its date, so that a
-- person's next request for the system does not wait again.
ALTER TABLE systems ADD COLUMN training_url text NOT NULL DEFAULT '';

CREATE TABLE person_certificates (
    person_id     uuid NOT NULL REFERENCES persons (id),
    system_id     text NOT NULL REFERENCES systems (id),
    verified_at   timestamptz NOT NULL,
    verified_by   uuid NOT NULL REFERENCES principals (id),
    request_id    uuid NOT NULL REFERENCES requests (id),
    attachment_id uuid NOT NULL REFERENCES attachments (id),
    PRIMARY KEY (person_id, system_id)
);

-- Categories group the systems on the request form, as the guides' menus do. They are the
-- organisation's own words, so they are data that the catalog admin page edits; these are
-- Norrköping's to start from.
CREATE TABLE system_categories (
    id        text PRIMARY KEY,
    name      text NOT NULL,
    position  integer NOT NULL DEFAULT 0
);
INSERT INTO system_categories (id, name, position) VALUES
    ('allmant', 'Allmänt', 10),
    ('ekonomisystem', 'Ekonomisystem', 20),
    ('webfocus', 'WebFocus', 30),
    ('e-post', 'E-post och gemensamma kataloger', 40),
    ('mina-sidor', 'E-tjänsteplattformen Mina sidor', 50),
    ('skrivare', 'Skrivare/Scanning', 60),
    ('vard-och-omsorg', 'Vård och omsorg', 70),
    ('utbildning', 'Utbildning', 80),
    ('soc-avk', 'SOC / AVK', 90),
    ('public-360', 'Public 360', 100),
    ('administrator', 'Administratörsrättigheter', 110),
    ('sogiko', 'Sogiko FB (KID/FIR)', 120);
ALTER TABLE systems ADD COLUMN category_id text REFERENCES system_categories (id);

-- "Annat system": a system the catalog does not have, as free text. IT handles it by hand;
-- it never reaches the directory.
ALTER TABLE requests ADD COLUMN other_system text NOT NULL DEFAULT '',
    ADD COLUMN other_system_done_at timestamptz;

-- When IT has asked the requester for more information: the request waits for the user
-- (awaiting_user) and the requester's answer moves it to answered_by_user. NULL when no
-- question is open (a request awaiting_user then waits for the terms).
ALTER TABLE requests ADD COLUMN information_asked_at timestamptz;
