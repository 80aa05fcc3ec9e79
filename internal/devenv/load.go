package devenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/provisioning"
)

// The scale fixture: `behorig dev -load N` fills the dev database with N requests, N/5
// persons, 2N grants and 10N audit events, copied in bulk (COPY), so that the lists, the
// audit verification and the benchmarks meet the volumes of a large municipality. The rows
// are what the service itself would have written: valid statuses in their proportions,
// request numbers taken from the same counter, personnummer sealed and blind-indexed with
// the instance's key (so search finds them), units of the demo organisation and their
// managers as approvers, so that Maria Chef's approval overview and Ingrid's queue have
// many pages. The grants are rows only: no job is queued and no directory entry made.

// ScaleSize is how much the fixture loads.
type ScaleSize struct {
	Requests, Persons, Grants, AuditEvents int
}

// ScaleFor is the fixture's proportions for n requests: n/5 persons, 2n grants, 10n events.
func ScaleFor(n int) ScaleSize {
	return ScaleSize{Requests: n, Persons: max(1, n/5), Grants: 2 * n, AuditEvents: 10 * n}
}

// ErrLoaded says the fixture is in the database already.
var ErrLoaded = errors.New("the scale fixture is loaded already")

// loadRequester is the subject prefix of the fixture's own requesters; one of them existing
// marks the fixture as loaded.
const loadRequester = "load-requester-"

// statusMix is the share of each request status, in per mille: most requests are done.
var statusMix = []struct {
	status   string
	perMille int
}{
	{provisioning.StatusCompleted, 600}, {provisioning.StatusAwaitingApproval, 80}, {provisioning.StatusRejected, 50},
	{provisioning.StatusCancelled, 20}, {provisioning.StatusAwaitingUser, 60}, {provisioning.StatusAnsweredByUser, 20},
	{provisioning.StatusAssigned, 30}, {provisioning.StatusInProgress, 40}, {provisioning.StatusWaitingThirdParty, 20},
	{provisioning.StatusScheduled, 80},
}

var givenNames = []string{"Anna", "Maria", "Karin", "Sara", "Lena", "Emma", "Kerstin", "Ingrid", "Eva", "Birgitta",
	"Linnéa", "Elin", "Johanna", "Sofia", "Ida", "Åsa", "Malin", "Hanna", "Märta", "Ebba",
	"Lars", "Mikael", "Anders", "Johan", "Erik", "Per", "Karl", "Peter", "Jan", "Thomas",
	"Daniel", "Fredrik", "Hans", "Mattias", "Björn", "Oskar", "Ali", "Mohammed", "Olle", "Örjan"}

var surnames = []string{"Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
	"Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson", "Bengtsson", "Jönsson", "Lindberg",
	"Jakobsson", "Magnusson", "Olofsson", "Lindström", "Lindqvist", "Lindgren", "Berg", "Axelsson", "Bergström",
	"Lundberg", "Lind", "Lundgren", "Lundqvist", "Mattsson", "Berglund", "Fredriksson", "Sandberg", "Henriksson",
	"Forsberg", "Sjöberg", "Wallin", "Engström", "Eklund", "Danielsson", "Lundin", "Håkansson", "Björk", "Bergman",
	"Gunnarsson", "Holm", "Wikström", "Samuelsson", "Isaksson", "Fransson", "Bergqvist", "Nyström", "Holmberg",
	"Arvidsson", "Löfgren", "Söderberg", "Nyberg", "Blomqvist", "Claesson", "Nordström", "Mårtensson", "Lundström",
	"Ali", "Viklund", "Björklund", "Eliasson", "Pålsson", "Berggren", "Sandström", "Lund", "Nordin", "Ström",
	"Åberg", "Ekström", "Holmgren", "Sundberg", "Hedlund", "Dahlberg", "Hellström", "Sjögren", "Abrahamsson",
	"Falk", "Martinsson", "Öberg", "Andreasson", "Blom", "Månsson", "Strand", "Åkesson", "Hansen", "Jensen",
	"Norberg", "Sundström", "Lindholm", "Dahl", "Holmqvist", "Ek", "Ekman"}

// PersonnummerOf is the fixture's i-th personnummer (YYYYMMDD-NNNC): a valid number born
// between 1945 and 2004, different for every i below 18,250,000.
func PersonnummerOf(i int) string {
	const days = 365 * 50
	birth := time.Date(1945, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%days)
	serial := (i / days) % 1000
	nine := fmt.Sprintf("%s%03d", birth.Format("060102"), serial)
	sum := 0
	for j, c := range nine {
		d := int(c-'0') * (2 - j%2)
		sum += d/10 + d%10
	}
	return fmt.Sprintf("%s-%03d%d", birth.Format("20060102"), serial, (10-sum%10)%10)
}

// LoadScale loads the fixture. The demo organisation and catalog (LoadDemo) and the demo
// principals must be there; box and log must be the instance's, so that its personnummer
// can be found and its audit log verifies. It refuses to load twice (ErrLoaded).
func LoadScale(ctx context.Context, pool *pgxpool.Pool, box *secret.Box, log *audit.Log, size ScaleSize) error {
	var loaded bool
	if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM principals WHERE subject = $1)", loadRequester+"0").Scan(&loaded); err != nil {
		return fmt.Errorf("scale fixture: %w", err)
	}
	if loaded {
		return ErrLoaded
	}
	f, err := newFixture(ctx, pool, size)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := f.loadPrincipals(ctx, tx); err != nil {
			return err
		}
		if err := f.loadNumbers(ctx, tx); err != nil {
			return err
		}
		if err := f.loadPersons(ctx, tx, box); err != nil {
			return err
		}
		if err := f.loadRequests(ctx, tx); err != nil {
			return err
		}
		return f.loadItemsAndGrants(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("scale fixture: %w", err)
	}
	if size.AuditEvents > 0 {
		if err := audit.LoadSynthetic(ctx, pool, log, size.AuditEvents, f.event); err != nil {
			return fmt.Errorf("scale fixture: %w", err)
		}
	}
	if _, err := pool.Exec(ctx, "ANALYZE units, principals, persons, requests, request_items, grants, audit_events"); err != nil {
		return fmt.Errorf("scale fixture: analyze: %w", err)
	}
	return nil
}

type loadUnit struct {
	id, ansvarskod string
	approver       string // principal id
}

type fixtureSystem struct {
	id, template string
	roles        []string
}

type fixture struct {
	size       ScaleSize
	now        time.Time
	units      []loadUnit
	systems    []fixtureSystem
	requesters []string // principal ids: the demo requesters first, then the fixture's own
	it         string   // Ingrid, who handles the queue
	persons    []string
	requestIDs []string
	numbers    []string
	statuses   []string
	created    []time.Time
}

func newFixture(ctx context.Context, pool *pgxpool.Pool, size ScaleSize) (*fixture, error) {
	f := &fixture{size: size, now: time.Now().UTC().Truncate(time.Second)}
	principal := func(subject string) (string, error) {
		var id string
		err := pool.QueryRow(ctx, "SELECT id::text FROM principals WHERE subject = $1", subject).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", fmt.Errorf("scale fixture: the demo principal %s is missing: load the demo principals first", subject)
		}
		return id, err
	}
	var err error
	if f.it, err = principal("it-handler"); err != nil {
		return nil, err
	}
	for _, subject := range []string{"requester", "manager"} {
		id, err := principal(subject)
		if err != nil {
			return nil, err
		}
		f.requesters = append(f.requesters, id)
	}
	rows, err := pool.Query(ctx, `SELECT u.id::text, u.ansvarskod, coalesce((SELECT m.principal_id::text FROM unit_managers m
			JOIN principals p ON p.id = m.principal_id WHERE m.unit_id = u.id ORDER BY p.subject LIMIT 1), '')
		FROM units u WHERE u.parent_id IS NOT NULL ORDER BY u.ansvarskod`)
	if err != nil {
		return nil, fmt.Errorf("scale fixture: units: %w", err)
	}
	if f.units, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (loadUnit, error) {
		var u loadUnit
		return u, row.Scan(&u.id, &u.ansvarskod, &u.approver)
	}); err != nil {
		return nil, fmt.Errorf("scale fixture: units: %w", err)
	}
	if len(f.units) == 0 {
		return nil, errors.New("scale fixture: no units: load the demo organisation first")
	}
	rows, err = pool.Query(ctx, `SELECT s.id, s.group_template, coalesce(array_agg(r.id ORDER BY r.id) FILTER (WHERE r.id IS NOT NULL), '{}')
		FROM systems s LEFT JOIN system_roles r ON r.system_id = s.id WHERE NOT s.manual GROUP BY s.id ORDER BY s.id`)
	if err != nil {
		return nil, fmt.Errorf("scale fixture: systems: %w", err)
	}
	if f.systems, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (fixtureSystem, error) {
		var s fixtureSystem
		return s, row.Scan(&s.id, &s.template, &s.roles)
	}); err != nil {
		return nil, fmt.Errorf("scale fixture: systems: %w", err)
	}
	if len(f.systems) == 0 {
		return nil, errors.New("scale fixture: no systems: load the demo catalog first")
	}
	return f, nil
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// principals adds the fixture's requesters (200, at the demo units) and a manager for each
// unit nobody attests for, so that every request has an approver who may approve it.
func (f *fixture) loadPrincipals(ctx context.Context, tx pgx.Tx) error {
	for i := range 200 {
		u := f.units[i%len(f.units)]
		var id string
		if err := tx.QueryRow(ctx, `INSERT INTO principals (subject, display_name, email, unit_id) VALUES ($1, $2, $3, $4)
			RETURNING id::text`, fmt.Sprintf("%s%d", loadRequester, i), fmt.Sprintf("%s %s", givenNames[i%len(givenNames)],
			surnames[(i*7)%len(surnames)]), fmt.Sprintf("load-requester-%d@example.org", i), u.id).Scan(&id); err != nil {
			return fmt.Errorf("requester %d: %w", i, err)
		}
		f.requesters = append(f.requesters, id)
	}
	for i, u := range f.units {
		if u.approver != "" {
			continue
		}
		var id string
		if err := tx.QueryRow(ctx, `INSERT INTO principals (subject, display_name, email, unit_id) VALUES ($1, $2, $3, $4)
			RETURNING id::text`, "load-manager-"+u.ansvarskod, "Chef "+u.ansvarskod, "load-manager-"+u.ansvarskod+"@example.org",
			u.id).Scan(&id); err != nil {
			return fmt.Errorf("manager of %s: %w", u.ansvarskod, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO unit_managers (unit_id, principal_id) VALUES ($1, $2)", u.id, id); err != nil {
			return fmt.Errorf("manager of %s: %w", u.ansvarskod, err)
		}
		f.units[i].approver = id
	}
	return nil
}

// numbers spreads the requests over the last two years, oldest first, and takes their
// numbers from the service's counter of each year, so that later requests follow on.
func (f *fixture) loadNumbers(ctx context.Context, tx pgx.Tx) error {
	n := f.size.Requests
	span := 2 * 365 * 24 * time.Hour
	f.created = make([]time.Time, n)
	perYear := map[int]int{}
	for i := range n {
		f.created[i] = f.now.Add(-span + time.Duration(i)*span/time.Duration(n))
		perYear[f.created[i].Year()]++
	}
	next := map[int]int{}
	for year, count := range perYear {
		var last int
		if err := tx.QueryRow(ctx, `INSERT INTO request_numbers (year, last) VALUES ($1, $2)
			ON CONFLICT (year) DO UPDATE SET last = request_numbers.last + $2 RETURNING last`, year, count).Scan(&last); err != nil {
			return fmt.Errorf("request numbers of %d: %w", year, err)
		}
		next[year] = last - count + 1
	}
	f.numbers, f.requestIDs, f.statuses = make([]string, n), make([]string, n), make([]string, n)
	for i := range n {
		year := f.created[i].Year()
		f.numbers[i] = fmt.Sprintf("BEH-%d-%06d", year, next[year])
		next[year]++
		f.requestIDs[i] = newID()
		f.statuses[i] = statusOf(i)
	}
	return nil
}

// statusOf deals the statuses out in their shares, spread over the requests.
func statusOf(i int) string {
	k := (i * 389) % 1000 // 389 is prime to 1000: every per-mille slot comes round evenly
	for _, s := range statusMix {
		if k < s.perMille {
			return s.status
		}
		k -= s.perMille
	}
	return provisioning.StatusCompleted
}

func (f *fixture) loadPersons(ctx context.Context, tx pgx.Tx, box *secret.Box) error {
	f.persons = make([]string, f.size.Persons)
	i := 0
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"persons"}, []string{"id", "personnummer_enc", "personnummer_index", "birth_date",
		"given_name", "surname", "email", "employee_type", "details_approved", "created_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == f.size.Persons {
				return nil, nil
			}
			pnr := strings.ReplaceAll(PersonnummerOf(i), "-", "")
			birth, _ := time.Parse("20060102", pnr[:8])
			given, surname := personName(i)
			f.persons[i] = newID()
			employment := "employee"
			if i%9 == 0 {
				employment = "consultant"
			}
			row := []any{f.persons[i], box.Seal([]byte(pnr), provisioning.PersonnummerContext),
				box.Index([]byte(pnr), provisioning.PersonnummerContext), birth, given, surname,
				fmt.Sprintf("person-%d@example.org", i), employment, true, f.now.Add(-3 * 365 * 24 * time.Hour)}
			i++
			return row, nil
		}))
	if err != nil {
		return fmt.Errorf("copy persons: %w", err)
	}
	return nil
}

func personName(i int) (given, surname string) {
	return givenNames[i%len(givenNames)], surnames[(i/len(givenNames)+i*13)%len(surnames)]
}

func (f *fixture) unitOf(i int) loadUnit { return f.units[(i*7)%len(f.units)] }

func (f *fixture) personOf(i int) int { return (i * 7919) % f.size.Persons }

func (f *fixture) loadRequests(ctx context.Context, tx pgx.Tx) error {
	i := 0
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"requests"}, []string{"id", "number", "kind", "status", "requester_id",
		"approver_id", "person_id", "unit_id", "cost_centre", "reason", "valid_from", "terms_required", "approved_by_submitter",
		"approved_by_manager", "decided_by", "decision_reason", "due_date", "created_at", "updated_at", "assignee_id",
		"person_given_name", "person_surname", "person_employee_type", "person_email"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == f.size.Requests {
				return nil, nil
			}
			u, status, created := f.unitOf(i), f.statuses[i], f.created[i]
			p := f.personOf(i)
			given, surname := personName(p)
			// Requesters: Rolf submits one in 10 and Maria one in 25, the fixture's own the rest.
			requester := f.requesters[2+i%(len(f.requesters)-2)]
			switch {
			case i%10 == 0:
				requester = f.requesters[0]
			case i%25 == 1:
				requester = f.requesters[1]
			}
			approved := status != provisioning.StatusAwaitingApproval && status != provisioning.StatusRejected
			var decidedBy, assignee, due any
			reason := ""
			if status != provisioning.StatusAwaitingApproval {
				decidedBy = u.approver
			}
			if status == provisioning.StatusRejected {
				reason = "Fel enhet"
			}
			if approved {
				due = created.AddDate(0, 0, 2+i%5).Format(time.DateOnly)
			}
			if status == provisioning.StatusAssigned || status == provisioning.StatusInProgress || status == provisioning.StatusWaitingThirdParty {
				assignee = f.it
			}
			updated := created.Add(time.Duration(i%72) * time.Hour)
			if updated.After(f.now) {
				updated = f.now
			}
			row := []any{f.requestIDs[i], f.numbers[i], provisioning.KindGrant, status, requester, u.approver, f.persons[p], u.id,
				u.ansvarskod, "Ny medarbetare", created.Format(time.DateOnly), i%3 == 0, true, approved, decidedBy, reason, due,
				created, updated, assignee, given, surname, "employee", fmt.Sprintf("person-%d@example.org", p)}
			i++
			return row, nil
		}))
	if err != nil {
		return fmt.Errorf("copy requests: %w", err)
	}
	return nil
}

// itemsAndGrants gives every request two systems, and the approved ones as many more as
// make the grants add up to the size asked for; every item of an approved request has its
// grant.
func (f *fixture) loadItemsAndGrants(ctx context.Context, tx pgx.Tx) error {
	var approved []int
	for i, s := range f.statuses {
		if s != provisioning.StatusAwaitingApproval && s != provisioning.StatusRejected {
			approved = append(approved, i)
		}
	}
	items := make([]int, f.size.Requests)
	for i := range items {
		items[i] = 2
	}
	if len(approved) > 0 {
		base, extra := f.size.Grants/len(approved), f.size.Grants%len(approved)
		for j, i := range approved {
			items[i] = max(1, base)
			if j < extra {
				items[i]++
			}
		}
	}
	type item struct {
		id, system, role, group string
		request, person         int
	}
	var all []item
	for i, k := range items {
		u := f.unitOf(i)
		for pos := range k {
			s := f.systems[(i+pos*3)%len(f.systems)]
			role := ""
			if len(s.roles) > 0 {
				role = s.roles[(i/7+pos)%len(s.roles)]
			}
			group := strings.NewReplacer("{unit}", u.ansvarskod, "{role}", role).Replace(s.template)
			all = append(all, item{id: newID(), system: s.id, role: role, group: group, request: i, person: f.personOf(i)})
		}
	}
	position := map[int]int{}
	j := 0
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"request_items"}, []string{"id", "request_id", "position", "system_id", "role_id", "unit_id"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if j == len(all) {
				return nil, nil
			}
			it := all[j]
			j++
			pos := position[it.request]
			position[it.request]++
			return []any{it.id, f.requestIDs[it.request], pos, it.system, nullIfEmpty(it.role), f.unitOf(it.request).id}, nil
		})); err != nil {
		return fmt.Errorf("copy request items: %w", err)
	}
	j = 0
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"grants"}, []string{"id", "person_id", "request_id", "item_id", "system_id",
		"role_id", "unit_id", "group_name", "group_key", "valid_from", "starts_at", "state", "provisioned_at", "revoked_at", "ends_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			for j < len(all) {
				it := all[j]
				j++
				status := f.statuses[it.request]
				if status == provisioning.StatusAwaitingApproval || status == provisioning.StatusRejected {
					continue
				}
				created := f.created[it.request]
				state, provisioned, revoked, ends := provisioning.GrantScheduled, any(nil), any(nil), any(nil)
				switch {
				case status == provisioning.StatusCompleted && it.request%5 == 0:
					state, provisioned, revoked, ends = provisioning.GrantRevoked, created.Add(time.Hour), created.Add(200*24*time.Hour),
						created.Add(200*24*time.Hour)
				case status == provisioning.StatusCompleted:
					state, provisioned = provisioning.GrantActive, created.Add(time.Hour)
				case status == provisioning.StatusCancelled:
					state, revoked, ends = provisioning.GrantRevoked, created.Add(time.Hour), created.Add(time.Hour)
				}
				return []any{newID(), f.persons[it.person], f.requestIDs[it.request], it.id, it.system, nullIfEmpty(it.role),
					f.unitOf(it.request).id, it.group, strings.ToLower(it.group), created.Format(time.DateOnly), created, state,
					provisioned, revoked, ends}, nil
			}
			return nil, nil
		})); err != nil {
		return fmt.Errorf("copy grants: %w", err)
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// event is the i-th audit event: ten for each request, in the order they happened.
func (f *fixture) event(i int) audit.Event {
	actions := [...]string{"request.submitted", "request.approved", "terms.link_sent", "terms.signed", "grant.scheduled",
		"grant.provisioned", "account.created", "request.status", "comment.added", "request.completed"}
	r := (i / len(actions)) % max(1, f.size.Requests)
	at := f.created[r].Add(time.Duration(i%len(actions)) * time.Minute)
	return audit.Event{At: at, Actor: "load-requester-" + fmt.Sprint(r%200), Action: actions[i%len(actions)],
		RequestID: f.requestIDs[r], PersonID: f.persons[f.personOf(r)], Data: map[string]any{"number": f.numbers[r]}}
}
