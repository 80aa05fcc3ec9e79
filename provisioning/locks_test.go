package provisioning_test

import (
	"context"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// A job that records a person's convergence holds the person until it commits, and then
// closes the requests that are done. IT's question and the requester's answer on one of those
// requests hold the request and record a notification about the person, whose foreign key
// reads the person: if that waited for the job, the job would wait for the request in turn,
// and PostgreSQL would end one of them as a deadlock (seen in the every-route test). Neither
// may wait for the job.
func TestRequestStepsDoNotWaitForARecordingJob(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	it, requester := app.Actors["it-handler"], app.Actors["requester"]
	sub := submitApproved(t, app, grantInput("19500118-2046", "Åsa", "Lind", provisioning.ItemInput{System: "meddix"}))
	person := personOf(t, app, sub.ID)
	steps := []struct {
		name string
		do   func(context.Context) error
	}{
		{"IT asks", func(ctx context.Context) error {
			return app.Service.AskForInformation(ctx, it, sub.ID, "Vilken enhet ska behörigheten gälla?")
		}},
		{"the requester answers", func(ctx context.Context) error {
			return app.Service.AddComment(ctx, requester, sub.ID, "Hemtjänst Norr", false)
		}},
	}
	for _, step := range steps {
		tx, err := app.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := app.Service.LockPersonsAsRecording(ctx, tx, []string{person.ID}); err != nil {
			t.Fatal(err)
		}
		// Generous: the step takes milliseconds unless it waits for the lock, and then it
		// would wait for as long as the job's transaction lasts.
		stepCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err = step.do(stepCtx)
		cancel()
		if rbErr := tx.Rollback(ctx); rbErr != nil {
			t.Fatal(rbErr)
		}
		if err != nil {
			t.Fatalf("%s while a job records the person: %v", step.name, err)
		}
	}
	app.WaitStatus(t, sub.ID, provisioning.StatusAnsweredByUser)
}
