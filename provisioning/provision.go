package provisioning

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/username"
)

// resolveAccounts makes sure that every person of the batch who needs an account has an
// account row before any directory write: the username is reserved (or an existing entry
// linked) in a short transaction, so a retry after a crash reuses it instead of making a
// second account. The directory is asked outside that transaction.
//
// Made-up usernames are chosen for the whole batch at once: every person's next candidate is
// checked in one query and one directory search and the free ones reserved in one
// transaction; a person whose candidate is taken tries the next. A username the request
// named is taken per person.
func (s *Service) resolveAccounts(ctx context.Context, batch []*batchPerson) {
	type choosing struct {
		p    *batchPerson
		base string
		n    int
	}
	var need []*choosing
	for _, p := range batch {
		if p.err != nil || p.st.hasAccount || !p.want.needsAccount {
			continue
		}
		if p.st.person.requestedUsername != "" {
			p.err = protect(func() error { return s.takeRequestedUsername(ctx, &p.st) })
			continue
		}
		base, err := username.Base(p.st.person.givenName, p.st.person.surname)
		if err != nil {
			p.err = fmt.Errorf("make a username for person %s: %w", p.id, err)
			continue
		}
		need = append(need, &choosing{p: p, base: base, n: 1})
	}
	for len(need) > 0 {
		var tries []reservation
		chosen := map[string]bool{} // two persons of the batch with the same name try different ones
		for _, c := range need {
			for ; c.n < 1000 && chosen[username.Candidate(c.base, c.n)]; c.n++ {
			}
			if c.n >= 1000 {
				c.p.err = fmt.Errorf("no free username for %s after 999 tries", c.base)
				continue
			}
			name := username.Candidate(c.base, c.n)
			chosen[name] = true
			tries = append(tries, reservation{st: &c.p.st, name: name})
		}
		free, err := s.usernamesFree(ctx, tries)
		if err == nil {
			err = s.reserveAccounts(ctx, slices.DeleteFunc(slices.Clone(tries), func(r reservation) bool { return !free[r.name] }))
		}
		next := need[:0]
		for _, c := range need {
			switch {
			case c.p.err != nil || c.p.st.hasAccount:
			case err != nil:
				c.p.err = err
			default:
				c.n++ // taken: the next candidate
				next = append(next, c)
			}
		}
		need = next
	}
}

// reservation is a username to reserve for a person.
type reservation struct {
	st   *personState
	name string
}

// usernamesFree tells which made-up usernames may be given to their persons: behorig never
// issued them to anyone else and no directory entry has them.
func (s *Service) usernamesFree(ctx context.Context, tries []reservation) (map[string]bool, error) {
	names, persons := make([]string, len(tries)), make([]string, len(tries))
	for i, r := range tries {
		names[i], persons[i] = r.name, r.st.person.id
	}
	rows, err := s.db.Query(ctx, `SELECT u.username FROM usernames u
		JOIN unnest($1::text[], $2::uuid[]) AS c(username, person_id) ON u.username = c.username
		WHERE u.person_id <> c.person_id`, names, persons)
	if err != nil {
		return nil, fmt.Errorf("check %d usernames: %w", len(names), err)
	}
	issued, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("check %d usernames: %w", len(names), err)
	}
	var refs []connectors.AccountRef
	if err := protect(func() error { refs, err = s.dir.FindAccounts(ctx, names, nil); return err }); err != nil {
		return nil, fmt.Errorf("check %d usernames: %w", len(names), err)
	}
	free := make(map[string]bool, len(names))
	for _, n := range names {
		free[n] = true
	}
	for _, n := range issued {
		delete(free, n)
	}
	for _, r := range refs {
		delete(free, strings.ToLower(r.Username)) // someone outside behorig has it
	}
	return free, nil
}

// takeRequestedUsername reserves the username the approved request named. A directory entry
// that already has it is linked only when its identity attribute names the person; otherwise
// the person waits for IT to confirm the link (LinkAccount), and nothing is written.
func (s *Service) takeRequestedUsername(ctx context.Context, st *personState) error {
	name := st.person.requestedUsername
	ref, err := s.dir.LookupAccount(ctx, name)
	switch {
	case errors.Is(err, connectors.ErrNotFound):
		if err := s.reserveAccount(ctx, st, name); err != nil {
			return err
		}
		if st.hasAccount {
			return nil
		}
		// Another person's approved request got the username first: IT decides.
		if err := s.markLinkRequired(ctx, st.person.id, name); err != nil {
			return err
		}
		return fmt.Errorf("username %s was issued to someone else; it is never reused: %w", name, ErrLinkRequired)
	case err != nil:
		return fmt.Errorf("look up requested username %s: %w", name, err)
	case s.identityMatches(st.person, ref.Identity):
		_, err := s.linkEntry(ctx, st, ref, systemActor, "identity_attribute", false)
		return err
	}
	if err := s.markLinkRequired(ctx, st.person.id, name); err != nil {
		return err
	}
	return fmt.Errorf("person %s, username %s: %w", st.person.id, name, ErrLinkRequired)
}

// reserveAccount records the account row for the person with the username, unless another
// run got there first.
func (s *Service) reserveAccount(ctx context.Context, st *personState, name string) error {
	return s.reserveAccounts(ctx, []reservation{{st: st, name: name}})
}

// reserveAccounts records, in one transaction, an account row for each person with their
// username, unless another run got there first (then the person has that one) or the
// username went to someone else (then the person still has none).
func (s *Service) reserveAccounts(ctx context.Context, rs []reservation) error {
	if len(rs) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		ids := make([]string, len(rs))
		for i, r := range rs {
			ids[i] = r.st.person.id
		}
		fresh, err := s.readPersonStates(ctx, tx, ids, true)
		if err != nil {
			return err
		}
		var names, persons []string
		for _, r := range rs {
			f, ok := fresh[r.st.person.id]
			if !ok {
				return fmt.Errorf("person %s: %w", r.st.person.id, ErrNotFound)
			}
			if f.hasAccount {
				r.st.account, r.st.hasAccount = f.account, true
				continue
			}
			names, persons = append(names, r.name), append(persons, r.st.person.id)
		}
		owners, err := claimUsernames(ctx, tx, names, persons)
		if err != nil {
			return err
		}
		w := &queued{s: s, tx: tx}
		var got, gotBy []string
		for _, r := range rs {
			if r.st.hasAccount || owners[r.name] != r.st.person.id {
				continue
			}
			got, gotBy = append(got, r.name), append(gotBy, r.st.person.id)
			w.record(ctx, systemActor, "username.reserved", "", r.st.person.id,
				map[string]any{"username": r.name, "directory": s.dirName, "origin": "created"})
		}
		if len(got) > 0 {
			w.exec(ctx, `INSERT INTO accounts (person_id, directory, username, state, origin, linked_by)
				SELECT p, $1, u, $2, 'created', '' FROM unnest($3::uuid[], $4::text[]) AS r(p, u)`, s.dirName, AccountReserved, gotBy, got)
			w.exec(ctx, "UPDATE persons SET link_required = '' WHERE id = ANY($1) AND link_required <> ''", gotBy)
		}
		if err := w.flush(ctx); err != nil {
			return fmt.Errorf("reserve %d usernames: %w", len(names), err)
		}
		for _, r := range rs {
			if !r.st.hasAccount && owners[r.name] == r.st.person.id {
				r.st.account = accountRow{username: r.name, state: AccountReserved, origin: "created"}
				r.st.hasAccount = true
			}
		}
		return nil
	})
}

// linkEntry records an existing directory entry as the person's account, audits who or what
// vouched for the link, and has the person converged.
// Only IT's confirmation replaces a reservation (replaceReservation): an identity-attribute
// link made by a job defers to a reservation another job of the person made meanwhile.
func (s *Service) linkEntry(ctx context.Context, st *personState, ref connectors.AccountRef, actor, linkedBy string,
	replaceReservation bool) (bool, error) {
	var linked bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		fresh, err := s.readPersonState(ctx, tx, st.person.id, true)
		if err != nil {
			return err
		}
		if fresh.hasAccount && (fresh.account.state != AccountReserved || !replaceReservation) {
			st.account, st.hasAccount = fresh.account, true
			return nil
		}
		// A username only reserved, whose entry someone else made, gives way to the link.
		if err := s.dropReservation(ctx, tx, st.person.id); err != nil {
			return err
		}
		ok, err := claimUsername(ctx, tx, ref.Username, st.person.id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("username %s was issued to someone else: %w", ref.Username, ErrConflict)
		}
		state := AccountActive
		if ref.Disabled {
			state = AccountDisabled
		}
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (person_id, directory, username, dn, state, origin, linked_by, entry_id)
			VALUES ($1, $2, $3, $4, $5, 'linked', $6, $7)`, st.person.id, s.dirName, ref.Username, ref.DN, state, linkedBy, ref.ID); err != nil {
			return fmt.Errorf("link account %s: %w", ref.Username, err)
		}
		if _, err := tx.Exec(ctx, "UPDATE persons SET link_required = '' WHERE id = $1", st.person.id); err != nil {
			return fmt.Errorf("clear link of person %s: %w", st.person.id, err)
		}
		st.account = accountRow{username: ref.Username, dn: ref.DN, state: state, origin: "linked", entryID: ref.ID}
		st.hasAccount, linked = true, true
		if err := s.jobs.ScheduleConverge(ctx, tx, st.person.id); err != nil {
			return fmt.Errorf("schedule convergence of person %s: %w", st.person.id, err)
		}
		return s.record(ctx, tx, actor, "account.linked", "", st.person.id,
			map[string]any{"username": ref.Username, "dn": ref.DN, "directory": s.dirName, "linkedBy": linkedBy})
	})
	return linked, err
}

// markLinkRequired tells IT, once, that the person's requested username is an existing entry
// that waits for their confirmation.
func (s *Service) markLinkRequired(ctx context.Context, personID, name string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE persons SET link_required = $2 WHERE id = $1 AND link_required <> $2", personID, name)
		if err != nil {
			return fmt.Errorf("mark link of person %s: %w", personID, err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		return s.record(ctx, tx, systemActor, "account.link_required", "", personID,
			map[string]any{"username": name, "directory": s.dirName})
	})
}

// claimUsername records the username as issued to the person; false when it went to another.
func claimUsername(ctx context.Context, tx pgx.Tx, name, personID string) (bool, error) {
	owners, err := claimUsernames(ctx, tx, []string{name}, []string{personID})
	return owners[name] == personID, err
}

// claimUsernames records each username as issued to its person (all different) and returns
// whom each was issued to: the person, or whoever had it before.
func claimUsernames(ctx context.Context, tx pgx.Tx, names, personIDs []string) (map[string]string, error) {
	owners := make(map[string]string, len(names))
	if len(names) == 0 {
		return owners, nil
	}
	rows, err := tx.Query(ctx, `INSERT INTO usernames (username, person_id) SELECT * FROM unnest($1::text[], $2::uuid[])
		ON CONFLICT (username) DO UPDATE SET username = EXCLUDED.username RETURNING username, person_id::text`, names, personIDs)
	if err != nil {
		return nil, fmt.Errorf("claim %d usernames: %w", len(names), err)
	}
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var name, owner string
		err := row.Scan(&name, &owner)
		owners[name] = owner
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim %d usernames: %w", len(names), err)
	}
	return owners, nil
}

// completeIfDone closes a grant or change request once none of its grants waits for
// provisioning (and a change's ended grants have ended).
func (s *Service) completeIfDone(ctx context.Context, tx pgx.Tx, requestID string) error {
	sql, args := s.completeRequests([]string{requestID})
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("complete request %s: %w", requestID, err)
	}
	closed, err := scanClosed(rows)
	if err != nil {
		return fmt.Errorf("complete request %s: %w", requestID, err)
	}
	return s.recordClosed(ctx, direct{s, tx}, closed)
}

// closedRequest is a request a completion statement closed, with the status it had.
type closedRequest struct{ id, personID, from string }

// The completion statements lock and close in one statement, so that a batch can send them
// behind its grant changes in the same round trip. The row lock re-checks the status of a row
// another transaction changed meanwhile, so a request cancelled since is left alone.
const (
	// completeRequestsSQL closes those of the grant and change requests that are underway,
	// have no grant waiting for provisioning any more and (a change) no grant they end that
	// has not ended yet. Terminations are closed by completeTerminationsSQL.
	completeRequestsSQL = `WITH done AS (
			SELECT r.id, r.status FROM requests r WHERE r.id = ANY($1) AND r.status = ANY($2) AND r.kind <> $6
				AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.request_id = r.id AND g.state = $4)
				AND (r.other_system = '' OR r.other_system_done_at IS NOT NULL)
				AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.ended_by_request = r.id AND g.state <> $7)
			ORDER BY r.id FOR NO KEY UPDATE OF r)
		UPDATE requests r SET status = $5, updated_at = $3 FROM done WHERE r.id = done.id
		RETURNING r.id::text, r.person_id::text, done.status`

	// completeTerminationsSQL closes the persons' termination requests that are underway once
	// every grant due to end by now has ended.
	completeTerminationsSQL = `WITH done AS (
			SELECT r.id, r.status FROM requests r WHERE r.person_id = ANY($1) AND r.kind = $6
				AND r.status = ANY($2) AND coalesce(r.effective_date, '-infinity') <= $7
				AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.person_id = r.person_id AND g.state <> $4 AND g.ends_at <= $3)
			ORDER BY r.id FOR NO KEY UPDATE OF r)
		UPDATE requests r SET status = $5, updated_at = $3 FROM done WHERE r.id = done.id
		RETURNING r.id::text, r.person_id::text, done.status`
)

// completeRequests is the statement that closes the grant requests that are done; it must
// run after the grant changes it judges by.
func (s *Service) completeRequests(requestIDs []string) (string, []any) {
	return completeRequestsSQL, []any{uuidsOnly(requestIDs), underwayStatuses, s.clock.Now(), GrantScheduled, StatusCompleted,
		KindTerminate, GrantRevoked}
}

// completeTerminations is the statement that closes the persons' terminations that are done.
func (s *Service) completeTerminations(personIDs []string) (string, []any) {
	return completeTerminationsSQL, []any{uuidsOnly(personIDs), underwayStatuses, s.clock.Now(), GrantRevoked,
		StatusCompleted, KindTerminate, s.today()}
}

func scanClosed(rows pgx.Rows) ([]closedRequest, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (closedRequest, error) {
		var c closedRequest
		return c, row.Scan(&c.id, &c.personID, &c.from)
	})
}

// recordClosed audits the requests a completion statement closed, as setStatus would have.
func (s *Service) recordClosed(ctx context.Context, w stepWriter, closed []closedRequest) error {
	for _, c := range closed {
		if err := w.record(ctx, systemActor, "request.status", c.id, c.personID,
			map[string]any{"from": c.from, "to": StatusCompleted}); err != nil {
			return err
		}
		if err := w.notify(ctx, notice{key: "completed:" + c.id, kind: NoticeCompleted, requestID: c.id, personID: c.personID}); err != nil {
			return err
		}
	}
	return nil
}

// LinkAccount is IT confirming that an existing directory entry is the person's account, so
// that behorig may give it the person's access (and take it away at the end). It is the only
// way an entry behorig did not create becomes a person's account, besides an identity
// attribute that names the person.
func (s *Service) LinkAccount(ctx context.Context, actor Actor, personID, name string) error {
	if !actor.IT() {
		return fmt.Errorf("only IT links directory accounts: %w", ErrForbidden)
	}
	ve := &ValidationError{}
	if !usernamePattern.MatchString(name) {
		ve.add("username", "must be 1–20 characters of a–z, 0–9, '.', '_' or '-'")
		return ve
	}
	if !isUUID(personID) {
		return fmt.Errorf("person %q: %w", personID, ErrNotFound)
	}
	st, err := s.readPersonState(ctx, s.db, personID, false)
	if err != nil {
		return err
	}
	// A reservation gives way only when IT was asked: an entry someone else made under it. A
	// reservation without that question may be an account a job is making right now.
	if st.hasAccount && (st.account.state != AccountReserved || st.person.linkRequired == "") {
		return fmt.Errorf("person %s already has the account %s: %w", personID, st.account.username, ErrConflict)
	}
	// IT's click waits for the directory only as long as a form does: a hung directory must
	// not hold the request (the look-up is a read; what the link gives is the converge job's).
	ref, err := s.lookupWithin(ctx, directoryCheckTimeout, name)
	if errors.Is(err, connectors.ErrNotFound) {
		ve.add("username", "the directory has no account %s", name)
		return ve
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if ref.Identity != "" && !s.identityMatches(st.person, ref.Identity) {
		ve.add("username", "the directory says %s is another person's account (its identity attribute differs)", name)
		return ve
	}
	linked, err := s.linkEntry(ctx, &st, ref, actor.Subject, "it:"+actor.Subject, true)
	if errors.Is(err, ErrConflict) {
		ve.add("username", "%s belongs to someone else; usernames are never reused", name)
		return ve
	}
	if err == nil && !linked {
		return fmt.Errorf("person %s already has an account: %w", personID, ErrConflict)
	}
	return err
}

// UseNewAccount is IT deciding that the existing directory entry a request named is not the
// person's (or should not be used): the requested username is dropped, and the person gets a
// new account made from their name.
func (s *Service) UseNewAccount(ctx context.Context, actor Actor, personID string) error {
	if !actor.IT() {
		return fmt.Errorf("only IT decides on directory accounts: %w", ErrForbidden)
	}
	if !isUUID(personID) {
		return fmt.Errorf("person %q: %w", personID, ErrNotFound)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var declined string
		err := tx.QueryRow(ctx, `UPDATE persons p SET requested_username = '', link_required = ''
			FROM (SELECT id, link_required FROM persons WHERE id = $1 FOR NO KEY UPDATE) old
			WHERE p.id = old.id AND old.link_required <> '' RETURNING old.link_required`, personID).Scan(&declined)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("person %s waits for no account link: %w", personID, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("drop the requested username of person %s: %w", personID, err)
		}
		if err := s.dropReservation(ctx, tx, personID); err != nil {
			return err
		}
		if err := s.jobs.ScheduleConverge(ctx, tx, personID); err != nil {
			return fmt.Errorf("schedule convergence of person %s: %w", personID, err)
		}
		return s.record(ctx, tx, actor.Subject, "account.link_declined", "", personID,
			map[string]any{"username": declined, "directory": s.dirName})
	})
}

// dropReservation forgets a username reserved for the person but never recorded as created,
// so that another is chosen; the username stays the person's and is never given to anyone
// else.
func (s *Service) dropReservation(ctx context.Context, tx pgx.Tx, personID string) error {
	if _, err := tx.Exec(ctx, "DELETE FROM accounts WHERE person_id = $1 AND directory = $2 AND state = 'reserved'",
		personID, s.dirName); err != nil {
		return fmt.Errorf("drop the reserved username of person %s: %w", personID, err)
	}
	return nil
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// isUUID tells whether an id from a URL can name a row: anything else names nothing.
func isUUID(id string) bool { return uuidPattern.MatchString(id) }

// uuidOrNull passes an id from outside to a uuid parameter: anything but a uuid becomes NULL,
// which matches no row, so a malformed id reads as "not found" and never as a failed query.
// Comparing as uuid (never id::text) keeps primary-key look-ups on their index.
func uuidOrNull(id string) *string {
	if !isUUID(id) {
		return nil
	}
	return &id
}

// uuidsOnly keeps the ids that can name a row, for a uuid[] parameter.
func uuidsOnly(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if isUUID(id) {
			out = append(out, id)
		}
	}
	return out
}
