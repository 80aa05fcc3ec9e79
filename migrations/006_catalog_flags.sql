-- Catalog flags the admin page keeps: a training certificate is needed before access, and a
-- system without a connector is handled by hand by IT.
ALTER TABLE systems
    ADD COLUMN needs_certificate boolean NOT NULL DEFAULT false,
    ADD COLUMN manual boolean NOT NULL DEFAULT false;
