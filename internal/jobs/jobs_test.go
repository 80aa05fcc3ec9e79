package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/jobs"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// A job that was running when its process was killed (River still marks it running) is run
// again after rescue_after, not after River's default hour: a terminated person's access does
// not outlive a crash by more than a few minutes.
func TestJobOfACrashedProcessIsRescued(t *testing.T) {
	ctx := context.Background()
	app := testapp.New(t, testapp.Options{NoJobs: true, Jobs: jobs.Config{JobTimeout: time.Second, RescueAfter: 3 * time.Second}})
	sub, err := app.Service.Submit(ctx, app.Actors["manager"], provisioning.SubmitInput{
		Person: provisioning.PersonInput{Personnummer: "19850113-9995", GivenName: "Rut", Surname: "Räddad", EmployeeType: "employee"},
		Unit:   "5110", Items: []provisioning.ItemInput{{System: "meddix"}}, Approver: "manager"})
	if err != nil {
		t.Fatal(err)
	}
	// The process that took the job died a minute ago, halfway.
	tag, err := app.Pool.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = $1,
		attempted_by = '{killed-host}' WHERE kind = 'provision'`, app.Clock.Now().Add(-time.Minute))
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("mark the job stuck: %v, %d rows", err, tag.RowsAffected())
	}
	if err := app.Runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		app.Runner.Stop(stopCtx)
	})
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
}

// A rescue sooner than a job may run would run live jobs twice; the runner refuses it.
func TestRescueMustOutlastTheJobTimeout(t *testing.T) {
	if _, err := jobs.New(nil, jobs.Config{JobTimeout: time.Minute, RescueAfter: time.Minute}); err == nil {
		t.Fatal("a rescue_after no longer than the job timeout was accepted")
	}
}
