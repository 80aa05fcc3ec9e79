package provisioning

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/username"
)

// resolveAccount makes sure a person who needs an account has an account row before any
// directory write: the username is reserved (or an existing entry linked) in its own short
// transaction, so a retry after a crash reuses it instead of making a second account. The
// directory is asked outside that transaction.
func (s *Service) resolveAccount(ctx context.Context, st *personState, want desired) error {
	if st.hasAccount || !want.needsAccount {
		return nil
	}
	if st.person.requestedUsername != "" {
		return s.takeRequestedUsername(ctx, st)
	}
	base, err := username.Base(st.person.givenName, st.person.surname)
	if err != nil {
		return fmt.Errorf("make a username for person %s: %w", st.person.id, err)
	}
	for n := 1; n < 1000; n++ {
		candidate := username.Candidate(base, n)
		free, err := s.usernameFree(ctx, candidate, st.person.id)
		if err != nil {
			return err
		}
		if !free {
			continue
		}
		reserved, err := s.reserveAccount(ctx, st, candidate, "created", "")
		if err != nil || reserved {
			return err
		}
	}
	return fmt.Errorf("no free username for %s after 999 tries", base)
}

// usernameFree tells whether a made-up username may be given to the person: behorig never
// issued it to anyone else and no directory entry has it.
func (s *Service) usernameFree(ctx context.Context, name, personID string) (bool, error) {
	var issuedToOther bool
	if err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM usernames WHERE username = $1 AND person_id <> $2)",
		name, personID).Scan(&issuedToOther); err != nil {
		return false, fmt.Errorf("check username %s: %w", name, err)
	}
	if issuedToOther {
		return false, nil
	}
	_, err := s.dir.LookupAccount(ctx, name)
	if err == nil {
		return false, nil // someone outside behorig has it
	}
	if !errors.Is(err, connectors.ErrNotFound) {
		return false, fmt.Errorf("check username %s: %w", name, err)
	}
	return true, nil
}

// takeRequestedUsername reserves the username the approved request named. A directory entry
// that already has it is linked only when its identity attribute names the person; otherwise
// the person waits for IT to confirm the link (LinkAccount), and nothing is written.
func (s *Service) takeRequestedUsername(ctx context.Context, st *personState) error {
	name := st.person.requestedUsername
	ref, err := s.dir.LookupAccount(ctx, name)
	switch {
	case errors.Is(err, connectors.ErrNotFound):
		if _, err := s.reserveAccount(ctx, st, name, "created", ""); err != nil {
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
// run got there first; it reports whether the person now has an account row.
func (s *Service) reserveAccount(ctx context.Context, st *personState, name, origin, linkedBy string) (bool, error) {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		fresh, err := s.readPersonState(ctx, tx, st.person.id, true)
		if err != nil {
			return err
		}
		if fresh.hasAccount {
			st.account, st.hasAccount = fresh.account, true
			return nil
		}
		ok, err := claimUsername(ctx, tx, name, st.person.id)
		if err != nil || !ok {
			return err
		}
		st.account = accountRow{username: name, state: AccountReserved, origin: origin}
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (person_id, directory, username, state, origin, linked_by)
			VALUES ($1, $2, $3, $6, $4, $5)`, st.person.id, s.dirName, name, origin, linkedBy, AccountReserved); err != nil {
			return fmt.Errorf("reserve username %s: %w", name, err)
		}
		st.hasAccount = true
		if _, err := tx.Exec(ctx, "UPDATE persons SET link_required = '' WHERE id = $1", st.person.id); err != nil {
			return fmt.Errorf("clear link of person %s: %w", st.person.id, err)
		}
		return s.record(ctx, tx, systemActor, "username.reserved", "", st.person.id,
			map[string]any{"username": name, "directory": s.dirName, "origin": origin})
	})
	return st.hasAccount, err
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
	var owner string
	err := tx.QueryRow(ctx, `INSERT INTO usernames (username, person_id) VALUES ($1, $2)
		ON CONFLICT (username) DO UPDATE SET username = EXCLUDED.username RETURNING person_id::text`, name, personID).Scan(&owner)
	if err != nil {
		return false, fmt.Errorf("claim username %s: %w", name, err)
	}
	return owner == personID, nil
}

// completeIfDone closes a grant request once none of its grants waits for provisioning.
func (s *Service) completeIfDone(ctx context.Context, tx pgx.Tx, requestID string) error {
	r, err := s.lockRequest(ctx, tx, requestID)
	if err != nil {
		return err
	}
	if r.status != StatusInProgress && r.status != StatusScheduled && r.status != StatusAssigned &&
		r.status != StatusWaitingThirdParty {
		return nil
	}
	var waiting bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM grants WHERE request_id = $1 AND state = 'scheduled')",
		r.id).Scan(&waiting); err != nil {
		return fmt.Errorf("check grants of %s: %w", r.number, err)
	}
	if waiting {
		return nil
	}
	return s.setStatus(ctx, tx, systemActor, r, StatusCompleted, nil)
}

// completeTerminations closes the person's open termination requests once every grant due
// to end by now has ended.
func (s *Service) completeTerminations(ctx context.Context, tx pgx.Tx, personID string) error {
	var pending bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM grants WHERE person_id = $1 AND state <> 'revoked'
		AND ends_at <= $2)`, personID, s.clock.Now()).Scan(&pending); err != nil {
		return fmt.Errorf("check ending grants of person %s: %w", personID, err)
	}
	if pending {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT id::text FROM requests WHERE person_id = $1 AND kind = $3
		AND status = ANY($4) AND coalesce(effective_date, '-infinity') <= $2`, personID, s.today(), KindTerminate, underwayStatuses)
	if err != nil {
		return fmt.Errorf("find terminations of person %s: %w", personID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("find terminations of person %s: %w", personID, err)
	}
	for _, id := range ids {
		r, err := s.lockRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.setStatus(ctx, tx, systemActor, r, StatusCompleted, nil); err != nil {
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
			FROM (SELECT id, link_required FROM persons WHERE id = $1 FOR UPDATE) old
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
