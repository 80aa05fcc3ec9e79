package provisioning_test

import (
	"testing"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/se"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// workdaysFrom is the due date's rule written out again: two Swedish working days on from a
// date, holidays and the eves the agreements give off excluded.
func workdaysFrom(d time.Time, n int) string {
	c := cal.NewBusinessCalendar()
	c.AddHoliday(se.Holidays...)
	return c.WorkdaysFrom(d, n).Format(time.DateOnly)
}

func todayIn(app *testapp.App) time.Time {
	loc, _ := time.LoadLocation("Europe/Stockholm")
	y, m, d := app.Clock.Now().In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// dueIn finds a request in a list and returns its due date ("" for none).
func dueIn(t *testing.T, app *testapp.App, actor, list, number string) string {
	t.Helper()
	page, err := app.Service.ListRequests(ctx, app.Actors[actor], provisioning.RequestQuery{List: list, Q: number})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Requests {
		if r.Number == number {
			if r.DueDate == nil {
				return ""
			}
			return *r.DueDate
		}
	}
	t.Fatalf("%s is not in the list %s of %s", number, list, actor)
	return ""
}

// The due date is promised from approval on, in Mina ärenden, the IT queue and the request:
// also while the request waits for the person's terms, and for a request scheduled for later
// it counts from valid-from, not from the approval.
func TestDueDateFromApprovalAndFromValidFrom(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	today := todayIn(app)

	waiting := submitApproved(t, app, grantInput("19500118-2046", "Åsa", "Lind", provisioning.ItemInput{System: "treserva", Role: "utforare"}))
	if got := app.WaitStatus(t, waiting.ID, provisioning.StatusAwaitingUser); got.DueDate != workdaysFrom(today, 2) {
		t.Errorf("waiting for terms: due date %q, want %s", got.DueDate, workdaysFrom(today, 2))
	}
	for _, l := range [][2]string{{"requester", provisioning.ListMine}, {"it-handler", provisioning.ListQueue}} {
		if got := dueIn(t, app, l[0], l[1], waiting.Number); got != workdaysFrom(today, 2) {
			t.Errorf("%s's list %s shows the due date %q, want %s", l[0], l[1], got, workdaysFrom(today, 2))
		}
	}

	from := today.AddDate(0, 0, 40)
	in := grantInput("19850113-9995", "Bo", "Ek", provisioning.ItemInput{System: "meddix"})
	in.ValidFrom = from.Format(time.DateOnly)
	later := submitApproved(t, app, in)
	got := app.WaitStatus(t, later.ID, provisioning.StatusScheduled)
	if got.DueDate != workdaysFrom(from, 2) {
		t.Errorf("scheduled for %s: due date %q, want %s (from valid-from)", in.ValidFrom, got.DueDate, workdaysFrom(from, 2))
	}
	if d := dueIn(t, app, "it-handler", provisioning.ListQueue, later.Number); d != workdaysFrom(from, 2) {
		t.Errorf("the queue shows %q for the scheduled request, want %s", d, workdaysFrom(from, 2))
	}

	// Not yet approved: nothing is promised yet.
	pending, err := app.Service.Submit(ctx, app.Actors["requester"], grantInput("20010101-2383", "Cia", "Al"))
	if err != nil {
		t.Fatal(err)
	}
	if d := dueIn(t, app, "requester", provisioning.ListMine, pending.Number); d != "" {
		t.Errorf("a request awaiting approval has the due date %s", d)
	}
}
