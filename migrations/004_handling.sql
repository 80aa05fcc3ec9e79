-- IT handling: who has taken a request.
ALTER TABLE requests ADD COLUMN assignee_id uuid REFERENCES principals (id);
CREATE INDEX requests_open_status ON requests (status) WHERE status NOT IN ('rejected', 'completed', 'cancelled');
