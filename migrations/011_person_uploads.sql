-- The person a request is for may upload the signed paper form through the link to the
-- terms; they are no principal, so such an attachment has no uploader.
ALTER TABLE attachments ALTER COLUMN uploaded_by DROP NOT NULL;
ALTER TABLE attachments ADD COLUMN via_link boolean NOT NULL DEFAULT false;
ALTER TABLE attachments ADD CONSTRAINT attachments_uploader CHECK (uploaded_by IS NOT NULL OR via_link);
