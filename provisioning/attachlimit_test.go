package provisioning_test

import (
	"errors"
	"testing"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// Two files sent to a request at once when it has room for one: the second waits for the
// first's lock on the request, and then counts the first's file too. Counted in the statement
// that took the lock, it counted with what it saw before it waited, and the request ended with
// one attachment more than it may hold.
func TestAttachmentLimitHoldsForFilesSentAtOnce(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	in := grantInput("19500118-2046", "Åsa", "Lind", provisioning.ItemInput{System: "meddix"})
	for range 19 {
		in.Attachments = append(in.Attachments, provisioning.Upload{Name: "intyg.pdf", Data: certificatePDF})
	}
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], in)
	if err != nil {
		t.Fatal(err)
	}
	// The first upload, the twentieth file, holds the request until it commits.
	tx, err := app.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1 FROM requests WHERE id = $1 FOR NO KEY UPDATE", sub.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO attachments (request_id, name, content_type, size, sha256, data, uploaded_by, via_link, created_at)
		SELECT request_id, name, content_type, size, sha256, data, uploaded_by, via_link, created_at FROM attachments
		WHERE request_id = $1 LIMIT 1`, sub.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := app.Service.AddAttachment(ctx, app.Actors["requester"], sub.ID, "svar.pdf", certificatePDF)
		done <- err
	}()
	waitForLockWait(t, app)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var ve *provisioning.ValidationError
	if err := <-done; !errors.As(err, &ve) {
		t.Fatalf("a 21st attachment: %v", err)
	}
	var n int
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM attachments WHERE request_id = $1", sub.ID).Scan(&n)
	if n != 20 {
		t.Fatalf("%d attachments", n)
	}
}
