-- Lists that scale: Mina ärenden, Godkännandeöversikt, the IT queue and the persons list are
-- read 50 rows a page in keyset order, filtered and searched. Every order a list offers has
-- an index that yields it, so that a page reads about its 50 rows whatever the size of the
-- tables (provisioning/lists.go names which query uses which index).
--
-- Name search is a case-insensitive substring match (ILIKE '%…%'), which only a trigram
-- index answers without reading every row: this needs the pg_trgm extension, shipped with
-- PostgreSQL (Debian's postgresql package) and trusted, so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Requests by due date: no due date sorts last, as infinity.
CREATE INDEX requests_due_number ON requests ((coalesce(due_date, 'infinity'::date)), number);
-- Mina ärenden: a requester's requests by number and by due date (these replace the plain
-- requester index).
CREATE INDEX requests_requester_number ON requests (requester_id, number);
CREATE INDEX requests_requester_due ON requests (requester_id, (coalesce(due_date, 'infinity'::date)), number);
DROP INDEX requests_requester;
-- The queue, the approval overview and the status filters, by number and by due date.
CREATE INDEX requests_status_number ON requests (status, number);
CREATE INDEX requests_status_due ON requests (status, (coalesce(due_date, 'infinity'::date)), number);
-- The unit filter.
CREATE INDEX requests_unit_number ON requests (unit_id, number);
-- Name search over the name a request gives its person, and over persons.
CREATE INDEX requests_person_name_trgm ON requests USING gin ((person_given_name || ' ' || person_surname) gin_trgm_ops);
CREATE INDEX persons_name_trgm ON persons USING gin ((given_name || ' ' || surname) gin_trgm_ops);
-- The persons list, by surname, given name and id.
CREATE INDEX persons_name_order ON persons (surname, given_name, id);
