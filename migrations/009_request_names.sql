-- The name the requester typed, kept on the request: a reader who is not IT sees that, not
-- the person's stored name, so a personnummer typed into a form reveals nobody.
ALTER TABLE requests ADD COLUMN person_given_name text NOT NULL DEFAULT '',
    ADD COLUMN person_surname text NOT NULL DEFAULT '';
UPDATE requests r SET person_given_name = p.given_name, person_surname = p.surname FROM persons p WHERE p.id = r.person_id;
