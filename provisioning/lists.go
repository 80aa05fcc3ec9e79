package provisioning

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/internal/personnummer"
	"github.com/behorig/behorig/internal/textcheck"
)

// Lists are read a page at a time in keyset order: a page is the 50 rows after the last row
// of the page before, found through an index that yields the list's order (migration 019).
// A page therefore costs about the same on the first page and the thousandth, and a row
// added or closed while someone pages neither repeats nor hides another row.

// PageSize is how many rows a page of a list holds.
const PageSize = 50

// The lists of requests.
const (
	ListMine      = "mine"      // the requests the actor submitted
	ListApprovals = "approvals" // those waiting for the actor's attestation
	ListQueue     = "queue"     // IT's queue: past the manager, not closed
	ListAll       = "all"       // every request, closed ones too (IT)
)

// Sort orders of request lists.
const (
	SortNumber     = "number"  // oldest first
	SortNumberDesc = "-number" // newest first
	SortDue        = "due"     // due date first, those without one last, then by number
)

// Status filters beside a single status.
const (
	FilterOpen   = "open"
	FilterClosed = "closed"
)

// RequestSorts lists the sort orders in the order forms offer them.
var RequestSorts = []string{SortNumberDesc, SortNumber, SortDue}

// minNameSearch is the shortest name search: a trigram index needs three characters to
// narrow anything down; shorter would read every row.
const minNameSearch = 3

// maxSearch bounds a search text.
const maxSearch = 100

// RequestSummary is a request as lists show it: number, person, status, the two thumbs, due
// date and last change.
type RequestSummary struct {
	ID                  string    `json:"id"`
	Number              string    `json:"number"`
	Kind                string    `json:"kind"`
	Status              string    `json:"status"`
	PersonName          string    `json:"personName"`
	UnitName            string    `json:"unitName"`
	Ansvarskod          string    `json:"ansvarskod"`
	RequesterName       string    `json:"requesterName"`
	ApprovedBySubmitter bool      `json:"approvedBySubmitter"`
	ApprovedByManager   bool      `json:"approvedByManager"`
	DueDate             *string   `json:"dueDate,omitempty"`
	CreatedAt           time.Time `json:"createdAt"`
	UpdatedAt           time.Time `json:"updatedAt"`
	// The person's birth date and the systems asked for tell apart two people of the same
	// name in a list.
	BirthDate string   `json:"birthDate,omitempty"`
	Systems   []string `json:"systems"`
}

// birthDate reads a sealed personnummer's date of birth, which every reader of a request may
// see (as in the masked personnummer).
func (s *Service) birthDate(sealed []byte) (string, error) {
	plain, err := s.box.Open(sealed, personnummerContext)
	if err != nil {
		return "", fmt.Errorf("open personnummer: %w", err)
	}
	n, err := personnummer.Parse(string(plain), s.clock.Now())
	if err != nil {
		return "", fmt.Errorf("stored personnummer: %w", err)
	}
	return n.BirthDate().Format(time.DateOnly), nil
}

// IsOpen tells whether a status still needs someone to act.
func IsOpen(status string) bool {
	return !slices.Contains(closedStatuses, status)
}

// QueueEntry is a request in a list, with IT's handling of it.
type QueueEntry struct {
	RequestSummary
	AssigneeName string `json:"assigneeName,omitempty"`
	// WorkingDaysLeft counts Swedish working days from today to the due date; negative when
	// overdue. It means nothing without a due date.
	WorkingDaysLeft int `json:"workingDaysLeft"`
}

// RequestQuery asks for one page of a list of requests. Every field may be empty.
type RequestQuery struct {
	List   string // ListMine (default), ListApprovals, ListQueue or ListAll
	Status string // a status, FilterOpen or FilterClosed; empty for every status of the list
	Unit   string // ansvarskod or id of a unit: the unit and those below it
	Q      string // a request number, a personnummer, or at least 3 characters of a name
	Sort   string // SortNumber, SortNumberDesc or SortDue; each list has its default
	Cursor string // Next of the page before; empty for the first page
}

// RequestPage is one page of a list. Next is the cursor of the following page, empty on
// the last.
type RequestPage struct {
	Requests []QueueEntry `json:"requests"`
	Next     string       `json:"next"`
}

// listCursor is what a cursor holds: the sort it belongs to and the sort key of the last
// row of its page. It is opaque to clients (base64url of JSON) but not secret: it carries
// only what the page showed.
type listCursor struct {
	Sort string   `json:"s"`
	Key  []string `json:"k"`
}

func encodeCursor(sort string, key ...string) string {
	data, _ := json.Marshal(listCursor{Sort: sort, Key: key})
	return base64.RawURLEncoding.EncodeToString(data)
}

// decodeCursor reads a cursor of the sort with n key values; anything else is refused.
func decodeCursor(ve *ValidationError, cursor, sort string, n int) []string {
	if cursor == "" {
		return nil
	}
	data, err := base64.RawURLEncoding.DecodeString(cursor)
	var c listCursor
	if err == nil {
		err = json.Unmarshal(data, &c)
	}
	// A key goes to PostgreSQL as text: one that is no valid text there (a NUL, from a
	// tampered cursor) would fail as a server error instead of this one. Only that is
	// refused: a key is a value of a row shown, such as a surname from another system, and
	// a stricter rule would leave a page that cannot be paged past.
	if err != nil || len(c.Key) != n || slices.ContainsFunc(c.Key, func(k string) bool { return strings.ContainsRune(k, 0) }) {
		ve.add("cursor", "is not a cursor of this list: take the next link of a page")
		return nil
	}
	if c.Sort != sort {
		ve.add("cursor", "belongs to another sort order: start from the first page")
		return nil
	}
	return c.Key
}

var requestNumber = regexp.MustCompile(`^(?i:BEH)-(\d{4})-(\d{1,6})$`)

// personnummerLike is the shape of a personnummer typed into a search box: digits, one
// dash or plus, nothing else. Such a search is a personnummer or an error, never a name.
var personnummerLike = regexp.MustCompile(`^\d{6,8}[-+]?\d{4}$`)

// search is a search text understood: a request number, a person (by personnummer) or a
// name pattern for ILIKE.
type search struct {
	number, namePattern string
	personIndex         []byte
}

func (s *Service) parseSearch(ve *ValidationError, q string) search {
	q = strings.TrimSpace(q)
	if q == "" {
		return search{}
	}
	if err := textcheck.Line(q); err != nil {
		ve.add("q", "%v", err)
		return search{}
	}
	if utf8.RuneCountInString(q) > maxSearch {
		ve.add("q", "is longer than %d characters", maxSearch)
		return search{}
	}
	if m := requestNumber.FindStringSubmatch(q); m != nil {
		n, _ := strconv.Atoi(m[2])
		return search{number: fmt.Sprintf("BEH-%s-%06d", m[1], n)}
	}
	if personnummerLike.MatchString(strings.ReplaceAll(q, " ", "")) {
		n, err := personnummer.Parse(strings.ReplaceAll(q, " ", ""), s.clock.Now())
		if err != nil {
			ve.Errors = append(ve.Errors, FieldError{Field: "q", Message: err.Error(), Format: "%v", Args: []any{err}})
			return search{}
		}
		return search{personIndex: s.pnrIndex(n)}
	}
	if utf8.RuneCountInString(q) < minNameSearch {
		ve.add("q", "search for at least %d characters of a name, a request number or a personnummer", minNameSearch)
		return search{}
	}
	escaped := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q)
	return search{namePattern: "%" + escaped + "%"}
}

// sqlArgs collects the parameters of a query built from fixed fragments.
type sqlArgs []any

func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// ListRequests returns a page of one of the lists, as the actor may see it: Mina ärenden
// (the requests the actor submitted), the approval overview (those waiting in the units the
// actor attests for, and their descendants), IT's queue and, for IT, all requests including
// closed ones. Bad parameters are a *ValidationError; the queue and all of them are IT's.
func (s *Service) ListRequests(ctx context.Context, actor Actor, q RequestQuery) (RequestPage, error) {
	page := RequestPage{Requests: []QueueEntry{}}
	ve := &ValidationError{}
	list := q.List
	if list == "" {
		list = ListMine
	}
	sort := q.Sort
	switch list {
	case ListMine, ListAll:
		sort = cmp.Or(sort, SortNumberDesc)
	case ListApprovals:
		sort = cmp.Or(sort, SortNumber)
	case ListQueue:
		sort = cmp.Or(sort, SortDue)
	default:
		ve.add("list", "%q is not a list: use mine, approvals, queue or all", list)
	}
	if (list == ListQueue || list == ListAll) && !actor.IT() {
		return page, fmt.Errorf("the list %s: %w", list, ErrForbidden)
	}
	if !slices.Contains(RequestSorts, sort) {
		ve.add("sort", "%q is not a sort order: use number, -number or due", sort)
	}
	var args sqlArgs
	where := []string{}
	switch list {
	case ListMine:
		where = append(where, "r.requester_id = "+args.add(uuidOrNull(actor.ID)))
	case ListApprovals:
		// The literal status matches the partial and status indexes.
		where = append(where, "r.status = 'awaiting_approval'")
	case ListQueue:
		where = append(where, "r.status = ANY("+args.add(QueueStatuses)+")")
	}
	switch st := q.Status; {
	case st == "":
	case st == FilterOpen && list != ListQueue && list != ListApprovals:
		where = append(where, "NOT (r.status = ANY("+args.add(closedStatuses)+"))")
	case st == FilterClosed && (list == ListMine || list == ListAll):
		where = append(where, "r.status = ANY("+args.add(closedStatuses)+")")
	case list == ListQueue && slices.Contains(QueueStatuses, st),
		list == ListApprovals && st == StatusAwaitingApproval,
		(list == ListMine || list == ListAll) && slices.Contains(RequestStatuses, st):
		where = append(where, "r.status = "+args.add(st))
	default:
		ve.add("status", "%q is not a status of this list", st)
	}
	var units []string
	if list == ListApprovals {
		var err error
		if units, err = s.attestedUnits(ctx, actor); err != nil {
			return page, err
		}
	}
	if err := textcheck.Line(q.Unit); err != nil {
		// Not sent to PostgreSQL, which would fail on a NUL or invalid UTF-8.
		ve.add("unit", "%v", err)
	} else if q.Unit != "" {
		below, err := s.unitAndBelow(ctx, q.Unit)
		if err != nil {
			return page, err
		}
		if below == nil {
			ve.add("unit", "%q is not a unit", q.Unit)
		}
		if units == nil {
			units = below
		} else {
			units = slices.DeleteFunc(units, func(id string) bool { return !slices.Contains(below, id) })
		}
	}
	if units != nil {
		where = append(where, "r.unit_id = ANY("+args.add(units)+"::uuid[])")
	}
	found := s.parseSearch(ve, q.Q)
	switch {
	case found.number != "":
		where = append(where, "r.number = "+args.add(found.number))
	case found.personIndex != nil:
		where = append(where, "r.person_id = (SELECT id FROM persons WHERE personnummer_index = "+args.add(found.personIndex)+")")
	case found.namePattern != "":
		where = append(where, "(r.person_given_name || ' ' || r.person_surname) ILIKE "+args.add(found.namePattern))
	}
	keyLen := map[string]int{SortNumber: 1, SortNumberDesc: 1, SortDue: 2}[sort]
	key := decodeCursor(ve, q.Cursor, sort, keyLen)
	// keyset is where the page starts: after the last row of the page before.
	keyset := "TRUE"
	if key != nil {
		switch sort {
		case SortNumber:
			keyset = "r.number > " + args.add(key[0])
		case SortNumberDesc:
			keyset = "r.number < " + args.add(key[0])
		case SortDue:
			// infinity stands for no due date, as in the index.
			// PostgreSQL has no year 0, which Go parses.
			if d, err := time.Parse(dateLayout, key[0]); (err != nil || d.Year() < 1) && key[0] != "infinity" {
				ve.add("cursor", "is not a cursor of this list: take the next link of a page")
				break
			}
			keyset = "(coalesce(r.due_date, 'infinity'::date), r.number) > (" + args.add(key[0]) + "::date, " + args.add(key[1]) + ")"
		}
	}
	if err := ve.err(); err != nil {
		return page, err
	}
	if list == ListApprovals && len(units) == 0 {
		return page, nil
	}
	order := map[string]string{
		SortNumber:     "r.number",
		SortNumberDesc: "r.number DESC",
		SortDue:        "coalesce(r.due_date, 'infinity'::date), r.number",
	}[sort]
	cond := "TRUE"
	if len(where) > 0 {
		cond = strings.Join(where, " AND ")
	}
	// The page's 50 rows are chosen and sorted first, and only those joined with their unit
	// and people.
	limit := strconv.Itoa(PageSize + 1)
	build := func(trigramFirst bool) string {
		page50 := `SELECT r.* FROM requests r WHERE ` + cond + ` AND ` + keyset + ` ORDER BY ` + order + ` LIMIT ` + limit
		with := ""
		if trigramFirst {
			// The page's start is tested on the hits, not in the index scan: as a range of
			// another index it would be read whole and intersected with the name's.
			with = `WITH hit AS MATERIALIZED (SELECT r.id, r.number, r.due_date FROM requests r WHERE ` + cond + `) `
			page50 = `SELECT r.* FROM requests r WHERE r.id IN (SELECT r.id FROM hit r WHERE ` + keyset + ` ORDER BY ` + order +
				` LIMIT ` + limit + `)`
		}
		return with + `SELECT r.id::text, r.number, r.kind, r.status, r.person_given_name || ' ' || r.person_surname, u.name,
				u.ansvarskod, rq.display_name, r.approved_by_submitter, r.approved_by_manager, to_char(r.due_date, 'YYYY-MM-DD'),
				r.created_at, r.updated_at, coalesce(a.display_name, ''), pe.personnummer_enc,
				ARRAY(SELECT DISTINCT sy.name FROM request_items i JOIN systems sy ON sy.id = i.system_id
					WHERE i.request_id = r.id ORDER BY sy.name)
			FROM (` + page50 + `) r JOIN units u ON u.id = r.unit_id JOIN principals rq ON rq.id = r.requester_id
				JOIN persons pe ON pe.id = r.person_id LEFT JOIN principals a ON a.id = r.assignee_id
			ORDER BY ` + order
	}
	var name *nameSearch
	if found.namePattern != "" {
		name = &nameSearch{table: "requests", match: "(r.person_given_name || ' ' || r.person_surname) ILIKE $1", pattern: found.namePattern}
	}
	entries, err := readRows(ctx, s.db, name, build, args, func(row pgx.CollectableRow) (QueueEntry, error) {
		var e QueueEntry
		var sealed []byte
		r := &e.RequestSummary
		err := row.Scan(&r.ID, &r.Number, &r.Kind, &r.Status, &r.PersonName, &r.UnitName, &r.Ansvarskod, &r.RequesterName,
			&r.ApprovedBySubmitter, &r.ApprovedByManager, &r.DueDate, &r.CreatedAt, &r.UpdatedAt, &e.AssigneeName, &sealed, &r.Systems)
		if err == nil {
			r.BirthDate, err = s.birthDate(sealed)
		}
		return e, err
	})
	if err != nil {
		return page, fmt.Errorf("list %s: %w", list, err)
	}
	if len(entries) > PageSize {
		entries = entries[:PageSize]
		last := entries[PageSize-1]
		if sort == SortDue {
			page.Next = encodeCursor(sort, cmp.Or(deref(last.DueDate), "infinity"), last.Number)
		} else {
			page.Next = encodeCursor(sort, last.Number)
		}
	}
	today := s.today()
	for i := range entries {
		if d := entries[i].DueDate; d != nil {
			if due, err := time.Parse(dateLayout, *d); err == nil {
				entries[i].WorkingDaysLeft = s.workingDaysBetween(today, due)
			}
		}
	}
	page.Requests = entries
	return page, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// nameSearch is a list's search for a name: the table, the condition the trigram index
// answers (with the pattern as $1, the table as r or p) and the pattern.
type nameSearch struct {
	table, match, pattern string
}

// readRows runs a list's query, built by build. A name search runs with sequential scans off
// (the planner prices a trigram match so high that below about 20,000 rows it reads the
// whole table instead, and keeps that plan as the table grows), and reads its hits in one of
// two ways. A name few rows have is found through the trigram index first, and only its
// hits are sorted; walking the list's order and testing each row's name would read most of
// the table before 50 match. A name many rows have (more than 5 %) is the other way round:
// the walk finds a page within a thousand rows, while the hits are tens of thousands. The
// planner's estimate of a trigram match is close, so it decides which (nameIsCommon).
func readRows[T any](ctx context.Context, db *pgxpool.Pool, name *nameSearch, build func(trigramFirst bool) string, args []any,
	fn pgx.RowToFunc[T]) ([]T, error) {
	if name == nil {
		rows, err := db.Query(ctx, build(false), args...)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, fn)
	}
	var out []T
	err := pgx.BeginTxFunc(ctx, db, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			return err
		}
		common, err := nameIsCommon(ctx, tx, name)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, build(!common), args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, fn)
		return err
	})
	return out, err
}

// nameIsCommon tells whether the planner expects more than 5 % of the table's rows to match
// the name.
func nameIsCommon(ctx context.Context, tx pgx.Tx, name *nameSearch) (bool, error) {
	var total float64
	if err := tx.QueryRow(ctx, "SELECT reltuples FROM pg_class WHERE relname = $1 AND relkind = 'r'", name.table).Scan(&total); err != nil {
		return false, fmt.Errorf("size of %s: %w", name.table, err)
	}
	var plan []byte
	alias := name.table[:1]
	if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) SELECT 1 FROM "+name.table+" "+alias+" WHERE "+name.match,
		name.pattern).Scan(&plan); err != nil {
		return false, fmt.Errorf("estimate a name search: %w", err)
	}
	var estimate []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		}
	}
	if err := json.Unmarshal(plan, &estimate); err != nil || len(estimate) == 0 {
		return false, fmt.Errorf("estimate a name search: %s: %v", plan, err)
	}
	return total > 0 && estimate[0].Plan.Rows > total/20, nil
}

// attestedUnits returns the ids of the units the actor attests for: those they manage and
// every unit below them.
func (s *Service) attestedUnits(ctx context.Context, actor Actor) ([]string, error) {
	rows, err := s.db.Query(ctx, `WITH RECURSIVE attested AS (
			SELECT unit_id AS id FROM unit_managers WHERE principal_id = $1
			UNION SELECT u.id FROM units u JOIN attested a ON u.parent_id = a.id)
		SELECT id::text FROM attested`, uuidOrNull(actor.ID))
	if err != nil {
		return nil, fmt.Errorf("units %s attests for: %w", actor.Subject, err)
	}
	units, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("units %s attests for: %w", actor.Subject, err)
	}
	if units == nil {
		units = []string{}
	}
	return units, nil
}

// unitAndBelow returns the ids of the unit named by ansvarskod or id and of every unit
// below it; nil when there is no such unit.
func (s *Service) unitAndBelow(ctx context.Context, unit string) ([]string, error) {
	rows, err := s.db.Query(ctx, `WITH RECURSIVE below AS (
			SELECT id FROM units WHERE ansvarskod = $1 OR id = $2
			UNION SELECT u.id FROM units u JOIN below b ON u.parent_id = b.id)
		SELECT id::text FROM below`, unit, uuidOrNull(unit))
	if err != nil {
		return nil, fmt.Errorf("unit %s: %w", unit, err)
	}
	units, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("unit %s: %w", unit, err)
	}
	if len(units) == 0 {
		return nil, nil
	}
	return units, nil
}

// PersonSummary is a person as the persons list shows them.
type PersonSummary struct {
	ID           string `json:"id"`
	GivenName    string `json:"givenName"`
	Surname      string `json:"surname"`
	Personnummer string `json:"personnummer"`
	EmployeeType string `json:"employeeType"`
	Username     string `json:"username,omitempty"`
}

// PersonPage is one page of the persons list.
type PersonPage struct {
	Persons []PersonSummary `json:"persons"`
	Next    string          `json:"next"`
}

const sortName = "name"

// ListPersons returns a page of every person, by surname and given name, for IT: q is a
// personnummer or at least 3 characters of a name.
func (s *Service) ListPersons(ctx context.Context, actor Actor, q, cursor string) (PersonPage, error) {
	page := PersonPage{Persons: []PersonSummary{}}
	if !actor.IT() {
		return page, fmt.Errorf("the persons list: %w", ErrForbidden)
	}
	ve := &ValidationError{}
	found := s.parseSearch(ve, q)
	if found.number != "" {
		ve.add("q", "search persons by name or personnummer, not by request number")
	}
	key := decodeCursor(ve, cursor, sortName, 3)
	if key != nil && !isUUID(key[2]) {
		ve.add("cursor", "is not a cursor of this list: take the next link of a page")
	}
	if err := ve.err(); err != nil {
		return page, err
	}
	var args sqlArgs
	where := []string{"TRUE"}
	if found.personIndex != nil {
		where = append(where, "p.personnummer_index = "+args.add(found.personIndex))
	}
	if found.namePattern != "" {
		where = append(where, "(p.given_name || ' ' || p.surname) ILIKE "+args.add(found.namePattern))
	}
	keyset := "TRUE"
	if key != nil {
		keyset = "(p.surname, p.given_name, p.id) > (" + args.add(key[0]) + ", " + args.add(key[1]) + ", " + args.add(key[2]) + "::uuid)"
	}
	limit := strconv.Itoa(PageSize + 1)
	dirArg := args.add(s.dirName)
	build := func(trigramFirst bool) string {
		page50 := `SELECT p.* FROM persons p WHERE ` + strings.Join(where, " AND ") + ` AND ` + keyset +
			` ORDER BY p.surname, p.given_name, p.id LIMIT ` + limit
		with := ""
		if trigramFirst {
			with = `WITH hit AS MATERIALIZED (SELECT p.id, p.surname, p.given_name FROM persons p WHERE ` + strings.Join(where, " AND ") + `) `
			page50 = `SELECT p.* FROM persons p WHERE p.id IN (SELECT p.id FROM hit p WHERE ` + keyset +
				` ORDER BY p.surname, p.given_name, p.id LIMIT ` + limit + `)`
		}
		return with + `SELECT p.id::text, p.given_name, p.surname, p.personnummer_enc, p.employee_type, coalesce(a.username, '')
			FROM (` + page50 + `) p LEFT JOIN accounts a ON a.person_id = p.id AND a.directory = ` + dirArg + `
			ORDER BY p.surname, p.given_name, p.id`
	}
	var name *nameSearch
	if found.namePattern != "" {
		name = &nameSearch{table: "persons", match: "(p.given_name || ' ' || p.surname) ILIKE $1", pattern: found.namePattern}
	}
	var sealed [][]byte
	persons, err := readRows(ctx, s.db, name, build, args, func(row pgx.CollectableRow) (PersonSummary, error) {
		var p PersonSummary
		var enc []byte
		err := row.Scan(&p.ID, &p.GivenName, &p.Surname, &enc, &p.EmployeeType, &p.Username)
		sealed = append(sealed, enc)
		return p, err
	})
	if err != nil {
		return page, fmt.Errorf("list persons: %w", err)
	}
	if len(persons) > PageSize {
		persons = persons[:PageSize]
		last := persons[PageSize-1]
		page.Next = encodeCursor(sortName, last.Surname, last.GivenName, last.ID)
	}
	for i := range persons {
		if persons[i].Personnummer, err = s.showPersonnummer(actor, sealed[i]); err != nil {
			return page, fmt.Errorf("person %s: %w", persons[i].ID, err)
		}
	}
	page.Persons = persons
	return page, nil
}
