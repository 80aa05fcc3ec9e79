-- The fields of the municipalities' forms the skeleton lacked: a free description for the
-- handler ("Beskrivning") and the person's job title ("Tjänstetitel").
ALTER TABLE requests ADD COLUMN description text NOT NULL DEFAULT '';
ALTER TABLE persons ADD COLUMN job_title text NOT NULL DEFAULT '';
