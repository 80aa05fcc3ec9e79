package devenv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/internal/personnummer"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// The scale fixture at a small scale: the sizes asked for, rows the real lists show to the
// demo users, personnummer the search finds, an audit log that verifies, and no second load.
func TestLoadScale(t *testing.T) {
	ctx := context.Background()
	app := testapp.New(t, testapp.Options{NoJobs: true})
	size := devenv.ScaleFor(500)
	start := time.Now()
	if err := devenv.LoadScale(ctx, app.Pool, app.Box, app.Audit, size); err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %+v in %s", size, time.Since(start))
	count := func(query string) int {
		var n int
		if err := app.Pool.QueryRow(ctx, query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for query, want := range map[string]int{
		"SELECT count(*) FROM requests":                                         size.Requests,
		"SELECT count(*) FROM persons":                                          size.Persons,
		"SELECT count(*) FROM grants":                                           size.Grants,
		"SELECT count(*) FROM audit_events WHERE actor LIKE 'load-requester-%'": size.AuditEvents,
		"SELECT count(DISTINCT status) FROM requests":                           10,
		"SELECT count(*) FROM requests r JOIN grants g ON g.request_id = r.id WHERE r.status IN ('awaiting_approval', 'rejected')": 0,
		"SELECT count(*) FROM (SELECT number FROM requests GROUP BY number HAVING count(*) > 1) d":                                 0,
	} {
		if got := count(query); got != want {
			t.Errorf("%s = %d, want %d", query, got, want)
		}
	}
	// The demo users see pages of it through the real lists.
	for _, c := range []struct{ subject, list string }{
		{"manager", provisioning.ListApprovals}, {"it-handler", provisioning.ListQueue}, {"requester", provisioning.ListMine},
		{"it-handler", provisioning.ListAll},
	} {
		page, err := app.Service.ListRequests(ctx, app.Actors[c.subject], provisioning.RequestQuery{List: c.list, Status: ""})
		if err != nil {
			t.Fatalf("%s as %s: %v", c.list, c.subject, err)
		}
		if len(page.Requests) == 0 {
			t.Errorf("%s as %s is empty", c.list, c.subject)
		}
	}
	// Every personnummer is valid and found through the blind index.
	for _, i := range []int{0, 1, size.Persons - 1} {
		pnr := devenv.PersonnummerOf(i)
		if _, err := personnummer.Parse(pnr, time.Now()); err != nil {
			t.Fatalf("fixture personnummer %s: %v", pnr, err)
		}
		found, err := app.Service.FindPersons(ctx, app.Actors["it-handler"], pnr)
		if err != nil || len(found) != 1 || found[0].Personnummer != pnr {
			t.Fatalf("find %s: %+v, %v", pnr, found, err)
		}
	}
	if report, err := app.Audit.Verify(ctx, app.Pool, nil); err != nil || report.Events < int64(size.AuditEvents) {
		t.Fatalf("audit verify after the load: %+v, %v", report, err)
	}
	if err := devenv.LoadScale(ctx, app.Pool, app.Box, app.Audit, size); !errors.Is(err, devenv.ErrLoaded) {
		t.Fatalf("a second load: %v, want ErrLoaded", err)
	}
}
