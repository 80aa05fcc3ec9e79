-- Every page asks whether the signed-in person attests for any unit (the menu offers
-- Godkännandeöversikt only then): by principal, which the primary key does not lead with.
CREATE INDEX IF NOT EXISTS unit_managers_principal ON unit_managers (principal_id);

-- "Ursprunglig förfrågan": what a request was sent with stays as it was sent. Its status,
-- handling and dates that follow from it change; what the requester asked for, for whom and
-- by whom does not, and neither do its items.
CREATE FUNCTION requests_keep_submitted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.kind, NEW.requester_id, NEW.approver_id, NEW.person_id, NEW.unit_id, NEW.cost_centre, NEW.reason,
        NEW.description, NEW.valid_from, NEW.valid_to, NEW.effective_date, NEW.created_at,
        NEW.person_given_name, NEW.person_surname, NEW.person_email, NEW.person_mobile, NEW.person_username,
        NEW.person_job_title, NEW.person_employee_type, NEW.other_system)
       IS DISTINCT FROM
       (OLD.kind, OLD.requester_id, OLD.approver_id, OLD.person_id, OLD.unit_id, OLD.cost_centre, OLD.reason,
        OLD.description, OLD.valid_from, OLD.valid_to, OLD.effective_date, OLD.created_at,
        OLD.person_given_name, OLD.person_surname, OLD.person_email, OLD.person_mobile, OLD.person_username,
        OLD.person_job_title, OLD.person_employee_type, OLD.other_system) THEN
        RAISE EXCEPTION 'request %: what it was sent with is kept as sent', OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
-- UPDATE OF: the trigger fires only for statements that set one of these columns, so that
-- the status changes of a mass revocation pay nothing for it.
CREATE TRIGGER requests_keep_submitted BEFORE UPDATE OF kind, requester_id, approver_id, person_id, unit_id,
    cost_centre, reason, description, valid_from, valid_to, effective_date, created_at, person_given_name,
    person_surname, person_email, person_mobile, person_username, person_job_title, person_employee_type,
    other_system ON requests
    FOR EACH ROW EXECUTE FUNCTION requests_keep_submitted();

CREATE FUNCTION request_items_keep_submitted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the items of a request are kept as sent' USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER request_items_keep_submitted BEFORE UPDATE OR DELETE ON request_items
    FOR EACH ROW EXECUTE FUNCTION request_items_keep_submitted();
