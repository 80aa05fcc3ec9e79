package provisioning_test

import (
	"errors"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

var certificatePDF = []byte("%PDF-1.4\n% intyg om genomförd informationssäkerhetsutbildning\n")

// needCertificate marks a catalog system as needing the training at url.
func needCertificate(t *testing.T, app *testapp.App, system, url string) {
	t.Helper()
	if _, err := app.Pool.Exec(ctx, "UPDATE systems SET needs_certificate = true, training_url = $2 WHERE id = $1", system, url); err != nil {
		t.Fatal(err)
	}
}

func deadlineJobs(t *testing.T, app *testapp.App, requestID string) int {
	t.Helper()
	var n int
	if err := app.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'certificate_deadline' AND args->>'request_id' = $1`,
		requestID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A request for a system that needs a training certificate waits, once approved, in
// awaiting_certificate until IT verifies an attached certificate, and then goes on. The
// verification is remembered with its date: the person's next request does not wait.
func TestCertificateWaitAndReuse(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	needCertificate(t, app, "meddix", "https://utbildning.example/informationssakerhet")
	in := grantInput("19500118-2046", "Åsa", "Lind", provisioning.ItemInput{System: "meddix"})
	in.Attachments = []provisioning.Upload{{Name: "intyg.pdf", Data: certificatePDF}}
	first := submitApproved(t, app, in)
	v := app.WaitStatus(t, first.ID, provisioning.StatusAwaitingCertificate)
	if v.Certificate == nil || len(v.Certificate.Systems) != 1 || v.Certificate.Systems[0].TrainingURL != "https://utbildning.example/informationssakerhet" ||
		!v.Certificate.Missing() || !v.Viewer.VerifyCertificate || v.Viewer.SetStatus {
		t.Fatalf("certificate need %+v, viewer %+v", v.Certificate, v.Viewer)
	}
	if got := v.Certificate.Deadline.Sub(v.CreatedAt); got != provisioning.CertificateDeadline {
		t.Errorf("deadline %v after submission, want 7 days", got)
	}
	if deadlineJobs(t, app, first.ID) != 1 {
		t.Fatal("no deadline job for a request that needs a certificate")
	}
	if err := app.Service.SetHandlingStatus(ctx, app.Actors["it-handler"], first.ID, provisioning.StatusInProgress, ""); !errors.Is(err, provisioning.ErrConflict) {
		t.Errorf("IT set a status past the certificate: %v", err)
	}
	if _, err := app.Service.VerifyCertificate(ctx, app.Actors["requester"], first.ID, v.Attachments[0].ID); !errors.Is(err, provisioning.ErrForbidden) {
		t.Errorf("the requester verified the certificate: %v", err)
	}
	var ve *provisioning.ValidationError
	if _, err := app.Service.VerifyCertificate(ctx, app.Actors["it-handler"], first.ID, "00000000-0000-0000-0000-000000000000"); !errors.As(err, &ve) {
		t.Errorf("a certificate that is no attachment of the request: %v", err)
	}
	if _, err := app.Service.VerifyCertificate(ctx, app.Actors["it-handler"], first.ID, v.Attachments[0].ID); err != nil {
		t.Fatal(err)
	}
	done := app.WaitStatus(t, first.ID, provisioning.StatusCompleted)
	if done.Certificate.Missing() || done.Certificate.Systems[0].VerifiedAt == nil {
		t.Fatalf("after verification: %+v", done.Certificate)
	}

	// The same person again: the certificate is known, nothing waits, no deadline.
	again := submitApproved(t, app, grantInput("19500118-2046", "Åsa", "Lind", provisioning.ItemInput{System: "meddix", Unit: "5210"}))
	app.WaitStatus(t, again.ID, provisioning.StatusCompleted)
	if deadlineJobs(t, app, again.ID) != 0 {
		t.Error("a deadline for a person whose certificate is verified")
	}
	var verified []string
	rows, err := app.Pool.Query(ctx, `SELECT a.action FROM audit_events a WHERE a.request_id = $1 ORDER BY seq`, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		rows.Scan(&a)
		if a == "certificate.verified" {
			verified = append(verified, a)
		}
	}
	if len(verified) != 1 {
		t.Errorf("%d certificate.verified events, want 1", len(verified))
	}
}

// Terms and a certificate: the terms come first, then the certificate, then the work.
func TestCertificateAfterTerms(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	needCertificate(t, app, "treserva", "")
	in := grantInput("19850113-9995", "Bo", "Ek", provisioning.ItemInput{System: "treserva", Role: "utforare"})
	in.Attachments = []provisioning.Upload{{Name: "intyg.pdf", Data: certificatePDF}}
	sub := submitApproved(t, app, in)
	app.WaitStatus(t, sub.ID, provisioning.StatusAwaitingUser)
	status, err := app.Service.RecordPaperTerms(ctx, app.Actors["it-handler"], sub.ID, "")
	if err != nil || status != provisioning.StatusAwaitingCertificate {
		t.Fatalf("paper terms: %s, %v; want awaiting_certificate", status, err)
	}
	v := app.WaitStatus(t, sub.ID, provisioning.StatusAwaitingCertificate)
	if status, err := app.Service.VerifyCertificate(ctx, app.Actors["it-handler"], sub.ID, v.Attachments[0].ID); err != nil ||
		status != provisioning.StatusInProgress {
		t.Fatalf("verify: %s, %v", status, err)
	}
}

// Seven days after submission without a verified certificate, the job cancels the request
// ("Makulerad") and says why in the audit log; before that it waits, and a request whose
// certificate was verified in time is left alone. The clock is moved on, not waited for.
func TestCertificateDeadlineCancels(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	needCertificate(t, app, "meddix", "https://utbildning.example/is")
	late := submitApproved(t, app, grantInput("19500118-2046", "Åsa", "Lind", provisioning.ItemInput{System: "meddix"}))
	app.WaitStatus(t, late.ID, provisioning.StatusAwaitingCertificate)
	pending, err := app.Service.Submit(ctx, app.Actors["requester"], grantInput("20010101-2383", "Cia", "Al", provisioning.ItemInput{System: "meddix"}))
	if err != nil {
		t.Fatal(err)
	}
	in := grantInput("19850113-9995", "Bo", "Ek", provisioning.ItemInput{System: "meddix"})
	in.Attachments = []provisioning.Upload{{Name: "intyg.pdf", Data: certificatePDF}}
	inTime := submitApproved(t, app, in)
	v := app.WaitStatus(t, inTime.ID, provisioning.StatusAwaitingCertificate)

	app.Clock.Advance(6 * 24 * time.Hour)
	if wait, err := app.Service.CancelWithoutCertificate(ctx, late.ID); !errors.Is(err, provisioning.ErrNotYet) || wait <= 0 || wait > 24*time.Hour {
		t.Fatalf("after 6 days: wait %v, %v; want about a day and ErrNotYet", wait, err)
	}
	if _, err := app.Service.VerifyCertificate(ctx, app.Actors["it-handler"], inTime.ID, v.Attachments[0].ID); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, inTime.ID, provisioning.StatusCompleted)

	app.Clock.Advance(24*time.Hour + time.Minute)
	cancelled := app.WaitStatus(t, late.ID, provisioning.StatusCancelled)
	app.WaitStatus(t, pending.ID, provisioning.StatusCancelled) // not even approved: cancelled too
	var reason string
	for _, e := range cancelled.Events {
		if e.Action == "request.cancelled" {
			reason = string(e.Data)
		}
	}
	if reason == "" || cancelled.Events[len(cancelled.Events)-1].Actor != "system" {
		t.Fatalf("no reason, or not the system's act, in the history: %+v", cancelled.Events)
	}
	// Running again changes nothing; the request verified in time stays completed.
	if _, err := app.Service.CancelWithoutCertificate(ctx, late.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Service.CancelWithoutCertificate(ctx, inTime.ID); err != nil {
		t.Fatal(err)
	}
	if got := app.WaitStatus(t, inTime.ID, provisioning.StatusCompleted); len(got.Events) == 0 {
		t.Fatal("no history")
	}
	if got := app.WaitStatus(t, late.ID, provisioning.StatusCancelled); len(got.Events) != len(cancelled.Events) {
		t.Errorf("the second run recorded more: %d events, then %d", len(cancelled.Events), len(got.Events))
	}
}
