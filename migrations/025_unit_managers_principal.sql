-- Every page asks whether the signed-in person attests for any unit (the menu offers
-- Godkännandeöversikt only then): by principal, which the primary key does not lead with.
CREATE INDEX unit_managers_principal ON unit_managers (principal_id);
