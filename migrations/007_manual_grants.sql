-- Systems without a connector: IT gives and removes such access by hand. A manual grant waits
-- in 'scheduled' until IT marks it done, and at its end in 'removal_pending' until IT has
-- removed it, so that nothing ends without someone having done it.
ALTER TABLE grants ADD COLUMN manual boolean NOT NULL DEFAULT false;
ALTER TABLE grants DROP CONSTRAINT grants_state_check;
ALTER TABLE grants ADD CONSTRAINT grants_state_check CHECK (state IN ('scheduled', 'active', 'removal_pending', 'revoked'));
CREATE INDEX grants_removal_pending ON grants (state) WHERE state = 'removal_pending';
