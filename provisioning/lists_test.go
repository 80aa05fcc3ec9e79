package provisioning_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// listApp is a behorig with the scale fixture loaded at a test's size.
func listApp(t *testing.T, requests int) *testapp.App {
	t.Helper()
	app := testapp.New(t, testapp.Options{NoJobs: true})
	size := devenv.ScaleFor(requests)
	size.AuditEvents = 0 // the lists do not read the audit log
	if err := devenv.LoadScale(ctx, app.Pool, app.Box, app.Audit, size); err != nil {
		t.Fatal(err)
	}
	return app
}

// listed is a row of a list as the checks need it.
type listed struct {
	number, due, status, unit, name string
}

// pageAll reads a list to its end, failing on a repeated row or more pages than rows.
func pageAll(t *testing.T, app *testapp.App, subject string, q provisioning.RequestQuery) []listed {
	t.Helper()
	var out []listed
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		page, err := app.Service.ListRequests(ctx, app.Actors[subject], q)
		if err != nil {
			t.Fatalf("%+v as %s: %v", q, subject, err)
		}
		if len(page.Requests) > provisioning.PageSize {
			t.Fatalf("a page of %d rows", len(page.Requests))
		}
		for _, r := range page.Requests {
			if seen[r.Number] {
				t.Fatalf("%+v as %s: %s on two pages", q, subject, r.Number)
			}
			seen[r.Number] = true
			due := ""
			if r.DueDate != nil {
				due = *r.DueDate
			}
			out = append(out, listed{number: r.Number, due: due, status: r.Status, unit: r.Ansvarskod, name: r.PersonName})
		}
		if page.Next == "" {
			return out
		}
		if len(page.Requests) != provisioning.PageSize {
			t.Fatalf("a page of %d rows before the last", len(page.Requests))
		}
		q.Cursor = page.Next
	}
}

// numbersWhere is the ground truth: the numbers of the requests a plain query finds.
func numbersWhere(t *testing.T, app *testapp.App, where string, args ...any) []string {
	t.Helper()
	rows, err := app.Pool.Query(ctx, `SELECT r.number FROM requests r JOIN units u ON u.id = r.unit_id WHERE `+where, args...)
	if err != nil {
		t.Fatal(err)
	}
	numbers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(numbers)
	return numbers
}

func numbersOf(rows []listed) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.number
	}
	return out
}

// inOrder tells whether the rows follow the sort.
func inOrder(rows []listed, sort string) bool {
	return slices.IsSortedFunc(rows, func(a, b listed) int {
		switch sort {
		case provisioning.SortNumberDesc:
			return strings.Compare(b.number, a.number)
		case provisioning.SortDue:
			if a.due != b.due {
				switch {
				case a.due == "":
					return 1
				case b.due == "":
					return -1
				}
				return strings.Compare(a.due, b.due)
			}
		}
		return strings.Compare(a.number, b.number)
	})
}

// Every list, in every order, pages through exactly the rows a plain query finds: none
// twice, none left out, in order.
func TestListsPageWithoutGapsOrRepeats(t *testing.T) {
	app := listApp(t, 2000)
	rolf, maria := app.Actors["requester"].ID, app.Actors["manager"].ID
	lists := []struct {
		subject, list, where string
		args                 []any
	}{
		{"requester", provisioning.ListMine, "r.requester_id = $1", []any{rolf}},
		{"manager", provisioning.ListMine, "r.requester_id = $1", []any{maria}},
		{"manager", provisioning.ListApprovals, "r.status = 'awaiting_approval' AND u.ansvarskod IN ('5110', '5210')", nil},
		{"it-handler", provisioning.ListQueue, "r.status = ANY($1)", []any{provisioning.QueueStatuses}},
		{"it-handler", provisioning.ListAll, "TRUE", nil},
	}
	for _, l := range lists {
		want := numbersWhere(t, app, l.where, l.args...)
		if len(want) <= provisioning.PageSize {
			t.Fatalf("%s as %s has %d rows: too few to page", l.list, l.subject, len(want))
		}
		for _, sort := range provisioning.RequestSorts {
			rows := pageAll(t, app, l.subject, provisioning.RequestQuery{List: l.list, Sort: sort})
			got := numbersOf(rows)
			if !inOrder(rows, sort) {
				t.Errorf("%s as %s by %s: out of order", l.list, l.subject, sort)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s as %s by %s: %d rows, want %d", l.list, l.subject, sort, len(got), len(want))
			}
		}
	}
}

func TestListFilters(t *testing.T) {
	app := listApp(t, 600)
	it := "it-handler"
	// Each status alone, and open and closed.
	for _, st := range provisioning.RequestStatuses {
		rows := pageAll(t, app, it, provisioning.RequestQuery{List: provisioning.ListAll, Status: st})
		if want := numbersWhere(t, app, "r.status = $1", st); !slices.Equal(sorted(numbersOf(rows)), want) {
			t.Errorf("status %s: %d rows, want %d", st, len(rows), len(want))
		}
	}
	closed := pageAll(t, app, it, provisioning.RequestQuery{List: provisioning.ListAll, Status: provisioning.FilterClosed})
	open := pageAll(t, app, it, provisioning.RequestQuery{List: provisioning.ListAll, Status: provisioning.FilterOpen})
	for _, r := range closed {
		if provisioning.IsOpen(r.status) {
			t.Fatalf("closed lists %s, %s", r.number, r.status)
		}
	}
	for _, r := range open {
		if !provisioning.IsOpen(r.status) {
			t.Fatalf("open lists %s, %s", r.number, r.status)
		}
	}
	if all := numbersWhere(t, app, "TRUE"); len(open)+len(closed) != len(all) || len(closed) == 0 {
		t.Errorf("open %d + closed %d, want %d in all", len(open), len(closed), len(all))
	}
	// A unit: it and those below it. 5000 holds the others; 5110 only itself.
	for unit, where := range map[string]string{"5110": "u.ansvarskod = '5110'", "5000": "u.ansvarskod LIKE '5%'"} {
		rows := pageAll(t, app, it, provisioning.RequestQuery{List: provisioning.ListAll, Unit: unit, Sort: provisioning.SortNumber})
		if want := numbersWhere(t, app, where); len(want) == 0 || !slices.Equal(numbersOf(rows), want) {
			t.Errorf("unit %s: %d rows, want %d", unit, len(rows), len(want))
		}
	}
	// The queue's statuses and the queue with one of them.
	queued := pageAll(t, app, it, provisioning.RequestQuery{List: provisioning.ListQueue, Status: provisioning.StatusInProgress})
	if want := numbersWhere(t, app, "r.status = 'in_progress'"); !slices.Equal(sorted(numbersOf(queued)), want) {
		t.Errorf("queue in progress: %d rows, want %d", len(queued), len(want))
	}
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

func TestListSearch(t *testing.T) {
	app := listApp(t, 600)
	it := app.Actors["it-handler"]
	// By number, written as a requester would: any case, without leading zeros.
	var number string
	app.Pool.QueryRow(ctx, "SELECT number FROM requests ORDER BY number OFFSET 77 LIMIT 1").Scan(&number)
	short := strings.ToLower(strings.Replace(number, "-0", "-", 1))
	for _, q := range []string{number, short, " " + number + " "} {
		page, err := app.Service.ListRequests(ctx, it, provisioning.RequestQuery{List: provisioning.ListAll, Q: q})
		if err != nil || len(page.Requests) != 1 || page.Requests[0].Number != number {
			t.Fatalf("search %q: %+v, %v", q, page.Requests, err)
		}
	}
	// By name: a case-insensitive substring of the name on the request.
	var given, surname string
	app.Pool.QueryRow(ctx, "SELECT person_given_name, person_surname FROM requests ORDER BY number OFFSET 100 LIMIT 1").Scan(&given, &surname)
	// A rare name is read through the trigram index, a common one ("son": Andersson, Nilsson
	// ...) by walking the order; both must find the same as a plain query.
	for _, q := range []string{strings.ToLower(surname), given + " " + string([]rune(surname)[:3]), strings.ToUpper(given), "son"} {
		rows := pageAll(t, app, "it-handler", provisioning.RequestQuery{List: provisioning.ListAll, Q: q})
		want := numbersWhere(t, app, "r.person_given_name || ' ' || r.person_surname ILIKE $1", "%"+q+"%")
		if len(want) == 0 || !slices.Equal(sorted(numbersOf(rows)), want) {
			t.Errorf("name %q: %d rows, want %d", q, len(rows), len(want))
		}
		for _, r := range rows {
			if !strings.Contains(strings.ToLower(r.name), strings.ToLower(q)) {
				t.Fatalf("name %q found %s", q, r.name)
			}
		}
	}
	// LIKE's wildcards are text, not patterns.
	for _, q := range []string{"%%%", "___", `a\%`} {
		page, err := app.Service.ListRequests(ctx, it, provisioning.RequestQuery{List: provisioning.ListAll, Q: q})
		if err != nil || len(page.Requests) != 0 {
			t.Errorf("search %q: %d rows, %v; want none", q, len(page.Requests), err)
		}
	}
	// By personnummer, in either form, through the blind index.
	pnr := devenv.PersonnummerOf(3)
	found, err := app.Service.FindPersons(ctx, it, pnr)
	if err != nil || len(found) != 1 {
		t.Fatal(found, err)
	}
	want := numbersWhere(t, app, "r.person_id = $1", found[0].ID)
	for _, q := range []string{pnr, pnr[2:], strings.ReplaceAll(pnr, "-", "")} {
		rows := pageAll(t, app, "it-handler", provisioning.RequestQuery{List: provisioning.ListAll, Q: q})
		if len(want) == 0 || !slices.Equal(sorted(numbersOf(rows)), want) {
			t.Errorf("personnummer %q: %d rows, want %d", q, len(rows), len(want))
		}
	}
	// Persons: by name and by personnummer, and the whole list without gaps.
	persons, err := app.Service.ListPersons(ctx, it, pnr, "")
	if err != nil || len(persons.Persons) != 1 || persons.Persons[0].Personnummer != pnr {
		t.Fatalf("persons by personnummer: %+v, %v", persons, err)
	}
	byName, err := app.Service.ListPersons(ctx, it, strings.ToLower(surname), "")
	if err != nil || len(byName.Persons) == 0 {
		t.Fatalf("persons by name: %+v, %v", byName, err)
	}
	for _, p := range byName.Persons {
		if !strings.Contains(strings.ToLower(p.GivenName+" "+p.Surname), strings.ToLower(surname)) {
			t.Fatalf("persons by name found %s %s", p.GivenName, p.Surname)
		}
	}
	var total int
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM persons").Scan(&total)
	seen, cursor, last := map[string]bool{}, "", ""
	for {
		page, err := app.Service.ListPersons(ctx, it, "", cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Persons {
			key := p.Surname + "\x00" + p.GivenName + "\x00" + p.ID
			if seen[p.ID] || (last != "" && p.Surname < strings.Split(last, "\x00")[0]) {
				t.Fatalf("persons list repeats or leaves its order at %s", key)
			}
			seen[p.ID], last = true, key
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(seen) != total {
		t.Errorf("the persons list holds %d of %d persons", len(seen), total)
	}
}

// Each list shows only what it showed before paging came: a requester their own, a manager
// what they attest for, IT the queue and everything.
func TestListAuthorisation(t *testing.T) {
	app := listApp(t, 300)
	// Sven attests for 5120 only.
	for _, r := range pageAll(t, app, "manager-soder", provisioning.RequestQuery{List: provisioning.ListApprovals}) {
		if r.unit != "5120" || r.status != provisioning.StatusAwaitingApproval {
			t.Fatalf("Sven's approvals list %s of %s, %s", r.number, r.unit, r.status)
		}
	}
	// Maria's units filtered to Sven's: nothing. Rolf attests for nothing.
	if rows := pageAll(t, app, "manager", provisioning.RequestQuery{List: provisioning.ListApprovals, Unit: "5120"}); len(rows) != 0 {
		t.Errorf("Maria sees %d requests of 5120 awaiting approval", len(rows))
	}
	if rows := pageAll(t, app, "requester", provisioning.RequestQuery{List: provisioning.ListApprovals}); len(rows) != 0 {
		t.Errorf("Rolf, no manager, sees %d requests to approve", len(rows))
	}
	// Olle, external, sees only his own in Mina ärenden: none of the fixture's.
	if rows := pageAll(t, app, "omsorgsbolaget-chef", provisioning.RequestQuery{List: provisioning.ListMine, Status: ""}); len(rows) != 0 {
		t.Errorf("Olle sees %d requests he did not submit", len(rows))
	}
	for _, list := range []string{provisioning.ListQueue, provisioning.ListAll} {
		if _, err := app.Service.ListRequests(ctx, app.Actors["manager"], provisioning.RequestQuery{List: list}); !errors.Is(err, provisioning.ErrForbidden) {
			t.Errorf("a manager reading %s: %v, want forbidden", list, err)
		}
	}
	if _, err := app.Service.ListPersons(ctx, app.Actors["manager"], "", ""); !errors.Is(err, provisioning.ErrForbidden) {
		t.Errorf("a manager reading the persons list: %v, want forbidden", err)
	}
}

// Bad parameters are each a clear validation error naming the parameter.
func TestListRefusesBadParameters(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	it := app.Actors["it-handler"]
	for _, c := range []struct {
		q     provisioning.RequestQuery
		field string
	}{
		{provisioning.RequestQuery{Cursor: "not a cursor"}, "cursor"},
		{provisioning.RequestQuery{Cursor: "eyJzIjoibnVtYmVyIiwiayI6WyJhIl19"}, "cursor"},                               // {"s":"number","k":["a"]}, sorted by -number
		{provisioning.RequestQuery{Sort: provisioning.SortDue, Cursor: "eyJzIjoiZHVlIiwiayI6WyJ4IiwieSJdfQ"}, "cursor"}, // a due key that is no date
		{provisioning.RequestQuery{Sort: "name"}, "sort"},
		{provisioning.RequestQuery{List: "everything"}, "list"},
		{provisioning.RequestQuery{Status: "done"}, "status"},
		{provisioning.RequestQuery{List: provisioning.ListQueue, Status: provisioning.StatusCompleted}, "status"},
		{provisioning.RequestQuery{List: provisioning.ListApprovals, Status: provisioning.FilterClosed}, "status"},
		{provisioning.RequestQuery{Unit: "4711"}, "unit"},
		{provisioning.RequestQuery{Q: "Bo"}, "q"},
		{provisioning.RequestQuery{Q: "19500118-2047"}, "q"}, // a personnummer with a wrong check digit
		{provisioning.RequestQuery{Q: "Anna\x00"}, "q"},
		{provisioning.RequestQuery{Q: strings.Repeat("a", 101)}, "q"},
		// Tampered cursors and units that PostgreSQL cannot take as text or as a date.
		{provisioning.RequestQuery{Cursor: "eyJzIjogIi1udW1iZXIiLCAiayI6IFsiQkVILTIwMjZcdTAwMDAiXX0"}, "cursor"},                                            // a NUL in the number
		{provisioning.RequestQuery{Sort: provisioning.SortDue, Cursor: "eyJzIjogImR1ZSIsICJrIjogWyIwMDAwLTAxLTAxIiwgIkJFSC0yMDI2LTAwMDAwMSJdfQ"}, "cursor"}, // year 0
		{provisioning.RequestQuery{Sort: provisioning.SortDue, Cursor: "eyJzIjogImR1ZSIsICJrIjogWyIyMDI2LTAxLTAxIiwgIkJFSFx1MDAwMCJdfQ"}, "cursor"},         // a NUL in the number
		{provisioning.RequestQuery{Unit: "51\x0020"}, "unit"},
		{provisioning.RequestQuery{Unit: "51\xff20"}, "unit"},
	} {
		_, err := app.Service.ListRequests(ctx, it, c.q)
		var ve *provisioning.ValidationError
		if !errors.As(err, &ve) || !slices.ContainsFunc(ve.Errors, func(fe provisioning.FieldError) bool { return fe.Field == c.field }) {
			t.Errorf("%+v: %v, want a validation error of %s", c.q, err, c.field)
		}
	}
	for _, cursor := range []string{"x", "eyJzIjoibmFtZSIsImsiOlsiYSIsImIiLCJjIl19", // {"s":"name","k":["a","b","c"]}: no id
		"eyJzIjogIm5hbWUiLCAiayI6IFsiQVx1MDAwMCIsICJiIiwgIjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCJdfQ"} { // a NUL in the surname
		var ve *provisioning.ValidationError
		if _, err := app.Service.ListPersons(ctx, it, "", cursor); !errors.As(err, &ve) || ve.Errors[0].Field != "cursor" {
			t.Errorf("persons cursor %q: %v, want a validation error of cursor", cursor, err)
		}
	}
}

// queryLog records the queries a pool sends, with their arguments.
type queryLog struct {
	mu      sync.Mutex
	queries []loggedQuery
}

type loggedQuery struct {
	sql  string
	args []any
}

func (l *queryLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, loggedQuery{data.SQL, data.Args})
	return ctx
}

func (l *queryLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (l *queryLog) take() []loggedQuery {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queries
	l.queries = nil
	return q
}

// Every query of every list uses an index on the big tables: with 20,000 requests loaded and
// analysed, no plan reads requests, persons, grants or request items from end to end.
func TestListQueriesUseIndexes(t *testing.T) {
	app := listApp(t, 20000)
	log := &queryLog{}
	cfg, err := pgxpool.ParseConfig(app.Pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = log
	traced, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer traced.Close()
	service, err := provisioning.New(provisioning.Config{DB: traced, Box: app.Box, Audit: app.Audit, Directory: app.Directory,
		Scheduler: app.Runner.Scheduler(), Clock: app.Clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Pool.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	pnr := devenv.PersonnummerOf(11)
	var number, surname string
	app.Pool.QueryRow(ctx, "SELECT number, person_surname FROM requests ORDER BY number OFFSET 5000 LIMIT 1").Scan(&number, &surname)
	lists := map[string]string{provisioning.ListMine: "requester", provisioning.ListApprovals: "manager",
		provisioning.ListQueue: "it-handler", provisioning.ListAll: "it-handler"}
	var cases []struct {
		subject string
		q       provisioning.RequestQuery
	}
	for list, subject := range lists {
		for _, sort := range provisioning.RequestSorts {
			for _, q := range []provisioning.RequestQuery{{}, {Q: number}, {Q: surname}, {Q: "son"}, {Q: pnr}, {Unit: "5110"},
				{Status: map[string]string{provisioning.ListApprovals: provisioning.StatusAwaitingApproval,
					provisioning.ListQueue: provisioning.StatusInProgress}[list]}} {
				q.List, q.Sort = list, sort
				cases = append(cases, struct {
					subject string
					q       provisioning.RequestQuery
				}{subject, q})
			}
		}
	}
	explained, ways := 0, map[string]bool{}
	for _, c := range cases {
		page, err := service.ListRequests(ctx, app.Actors[c.subject], c.q)
		if err != nil {
			t.Fatalf("%+v: %v", c.q, err)
		}
		queries := log.take()
		if page.Next != "" {
			next := c.q
			next.Cursor = page.Next
			if _, err := service.ListRequests(ctx, app.Actors[c.subject], next); err != nil {
				t.Fatalf("%+v: %v", next, err)
			}
			queries = append(queries, log.take()...)
		}
		explained += explainAll(t, app, queries, c.q)
		for _, q := range queries {
			if strings.Contains(q.sql, "ILIKE") && !strings.HasPrefix(q.sql, "EXPLAIN") {
				ways[c.q.Q+" "+map[bool]string{true: "through the trigram index", false: "walking the order"}[strings.HasPrefix(q.sql, "WITH hit")]] = true
			}
		}
	}
	// Both ways of a name search were taken and explained.
	for _, want := range []string{surname + " through the trigram index", "son walking the order"} {
		if !ways[want] {
			t.Errorf("no search for %s; searches made: %v", want, ways)
		}
	}
	for _, q := range []string{"", surname, "son", pnr} {
		page, err := service.ListPersons(ctx, app.Actors["it-handler"], q, "")
		if err != nil {
			t.Fatal(err)
		}
		queries := log.take()
		if page.Next != "" {
			if _, err := service.ListPersons(ctx, app.Actors["it-handler"], q, page.Next); err != nil {
				t.Fatal(err)
			}
			queries = append(queries, log.take()...)
		}
		explained += explainAll(t, app, queries, q)
	}
	t.Logf("%d list queries explained", explained)
}

// explainAll explains the queries in one transaction, in which the settings the list made
// (SET LOCAL) are made again.
func explainAll(t *testing.T, app *testapp.App, queries []loggedQuery, what any) int {
	t.Helper()
	tx, err := app.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	n := 0
	for _, q := range queries {
		if strings.HasPrefix(q.sql, "SET LOCAL") {
			if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if strings.HasPrefix(q.sql, "begin") || strings.HasPrefix(q.sql, "commit") || strings.HasPrefix(q.sql, "EXPLAIN") ||
			strings.HasPrefix(q.sql, "SELECT reltuples") {
			continue
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+q.sql, q.args...)
		if err != nil {
			t.Fatalf("explain %s: %v", q.sql, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		for _, table := range []string{"requests", "persons", "grants", "request_items", "audit_events"} {
			if strings.Contains(plan, "Seq Scan on "+table+" ") {
				t.Errorf("%+v reads all of %s:\n%s\n%s", what, table, q.sql, plan)
			}
		}
		n++
	}
	return n
}
