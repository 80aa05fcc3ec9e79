package provisioning

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/personnummer"
)

// Convergence. A person's directory state is derived from their grants, never replayed from
// what the database remembers doing: the person is in a group exactly when at least one of
// their grants in effect maps to it, and their account is enabled exactly when at least one
// grant is in effect. Every provisioning and revocation job, and reconciliation, runs the
// same three steps for the person:
//
//  1. read the grants and compute the desired state (no lock held);
//  2. read the actual state from the directory and change only the difference (no
//     transaction open, so a slow directory holds up nobody else);
//  3. in one short transaction that locks the person, check that the desired state is still
//     the one just applied, and record it: grant states, the account, audit events.
//
// A crash between any two steps leaves the database saying less than the directory holds,
// never more, and the next run (a retry, a revocation, a termination, reconciliation) starts
// again from what the directory says. When step 3 finds that the grants changed meanwhile
// (an approval or a termination committed), it starts again from step 1.

// ErrLinkRequired is returned when the username a request named is an existing directory
// entry that behorig may not take over until IT confirms that it is the person's.
var ErrLinkRequired = errors.New("the username is an existing directory account that IT has not linked to the person")

// maxConvergeRounds bounds how often one run starts again because the grants changed while
// it worked; the job retries after that.
const maxConvergeRounds = 5

// grantRow is a grant with what convergence needs.
type grantRow struct {
	id, personID, requestID, group, state, memberDN, endedBy string
	startsAt                                                 time.Time
	endsAt                                                   *time.Time
	manual                                                   bool
	// remoteAccess tells that the grant is remote access, whose second factors end with it.
	remoteAccess bool
}

// started tells whether the grant's valid-from has come.
func (g grantRow) started(now time.Time) bool { return !g.startsAt.After(now) }

// ended tells whether the grant's end (valid-to or a termination) has come.
func (g grantRow) ended(now time.Time) bool { return g.endsAt != nil && !g.endsAt.After(now) }

// inEffect tells whether the grant gives access now. A manual grant that IT has given counts
// until IT has removed it by hand, ended or not: the access is there until someone took it.
func (g grantRow) inEffect(now time.Time) bool {
	switch {
	case g.state == GrantRevoked:
		return false
	case g.state == GrantRemovalPending, g.manual && g.state == GrantActive:
		return true
	}
	return g.started(now) && !g.ended(now)
}

type personRow struct {
	id, givenName, surname, email, mobile, employeeType, requestedUsername, linkRequired string
	pnrSealed                                                                            []byte
}

type accountRow struct {
	username, dn, state, origin, entryID string
}

// personState is what the database says about one person.
type personState struct {
	person     personRow
	account    accountRow
	hasAccount bool
	grants     []grantRow // every grant not yet revoked
}

// desired is what the directory should hold for a person at one moment.
type desired struct {
	groups       []string // sorted, lower-case: groups of the connected grants in effect
	enabled      bool     // some grant is in effect
	needsAccount bool     // some connected (non-manual) grant is in effect
}

func (d desired) equal(o desired) bool {
	return slices.Equal(d.groups, o.groups) && d.enabled == o.enabled && d.needsAccount == o.needsAccount
}

func (st personState) desiredAt(now time.Time) desired {
	var d desired
	for _, g := range st.grants {
		if !g.inEffect(now) {
			continue
		}
		d.enabled = true
		if !g.manual {
			d.needsAccount = true
			d.groups = append(d.groups, groupKey(g.group))
		}
	}
	slices.Sort(d.groups)
	d.groups = slices.Compact(d.groups)
	return d
}

// readPersonState reads a person, their account and their open grants through q: the pool
// for step 1, the locking transaction for step 3.
func (s *Service) readPersonState(ctx context.Context, q batchQuerier, personID string, lock bool) (personState, error) {
	states, err := s.readPersonStates(ctx, q, []string{personID}, lock)
	if err != nil {
		return personState{}, err
	}
	st, ok := states[personID]
	if !ok {
		return personState{}, fmt.Errorf("person %s: %w", personID, ErrNotFound)
	}
	return *st, nil
}

// readPersonStates reads several persons in three queries sent in one round trip, whatever
// their number; those that do not exist are missing from the map. With lock, the persons are
// locked in the order of their ids, so that two batches never wait for each other in a
// circle; the account and grant queries run after the lock, so they see what the lock waited
// for.
func (s *Service) readPersonStates(ctx context.Context, q batchQuerier, personIDs []string, lock bool) (map[string]*personState, error) {
	ids := uuidsOnly(personIDs)
	query := `SELECT id::text, given_name, surname, email, mobile, employee_type, requested_username, link_required, personnummer_enc
		FROM persons WHERE id = ANY($1) ORDER BY id`
	if lock {
		query += " FOR NO KEY UPDATE"
	}
	states := make(map[string]*personState, len(ids))
	var b pgx.Batch
	b.Queue(query, ids).Query(func(rows pgx.Rows) error {
		_, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
			var p personRow
			err := row.Scan(&p.id, &p.givenName, &p.surname, &p.email, &p.mobile, &p.employeeType,
				&p.requestedUsername, &p.linkRequired, &p.pnrSealed)
			states[p.id] = &personState{person: p}
			return struct{}{}, err
		})
		if err != nil {
			return fmt.Errorf("read %d persons: %w", len(ids), err)
		}
		return nil
	})
	b.Queue(`SELECT person_id::text, username, dn, state, origin, entry_id FROM accounts
		WHERE directory = $1 AND person_id = ANY($2)`, s.dirName, ids).Query(func(rows pgx.Rows) error {
		_, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
			var personID string
			var a accountRow
			if err := row.Scan(&personID, &a.username, &a.dn, &a.state, &a.origin, &a.entryID); err != nil {
				return struct{}{}, err
			}
			if st := states[personID]; st != nil {
				st.account, st.hasAccount = a, true
			}
			return struct{}{}, nil
		})
		if err != nil {
			return fmt.Errorf("read accounts of %d persons: %w", len(ids), err)
		}
		return nil
	})
	b.Queue(`SELECT id::text, person_id::text, request_id::text, group_name, state, member_dn,
			coalesce(ended_by_request::text, ''), starts_at, ends_at, manual,
			(SELECT remote_access FROM systems WHERE id = system_id)
		FROM grants WHERE person_id = ANY($1) AND state <> 'revoked' ORDER BY starts_at, id`, ids).Query(func(rows pgx.Rows) error {
		_, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
			var g grantRow
			if err := row.Scan(&g.id, &g.personID, &g.requestID, &g.group, &g.state, &g.memberDN, &g.endedBy,
				&g.startsAt, &g.endsAt, &g.manual, &g.remoteAccess); err != nil {
				return struct{}{}, err
			}
			if st := states[g.personID]; st != nil {
				st.grants = append(st.grants, g)
			}
			return struct{}{}, nil
		})
		if err != nil {
			return fmt.Errorf("read grants of %d persons: %w", len(ids), err)
		}
		return nil
	})
	if err := q.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	return states, nil
}

func (s *Service) accountOf(ctx context.Context, q querier, personID string) (accountRow, bool, error) {
	var a accountRow
	err := q.QueryRow(ctx, "SELECT username, dn, state, origin, entry_id FROM accounts WHERE directory = $1 AND person_id = $2",
		s.dirName, personID).Scan(&a.username, &a.dn, &a.state, &a.origin, &a.entryID)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("read account of person %s: %w", personID, err)
	}
	return a, true, nil
}

// ConvergeGrant converges the person a grant belongs to. The provision job (at the grant's
// valid-from) and the revoke job (at its end) are timers, and what they do is decided by all
// of the person's grants at the time they run; the jobs that run together are converged as
// one batch (ConvergeGrants, batch.go).
func (s *Service) ConvergeGrant(ctx context.Context, grantID string) error {
	return s.ConvergeGrants(ctx, []string{grantID})[0]
}

// Converge brings the person's directory account and group memberships to what their grants
// say now, and records it. With dryRun it changes nothing and only reports the differences.
// It returns the differences it found (and, without dryRun, repaired).
func (s *Service) Converge(ctx context.Context, personID string, dryRun bool) ([]Difference, error) {
	if !dryRun {
		out := s.convergeBatch(ctx, []string{personID})[personID]
		return out.diffs, out.err
	}
	st, err := s.readPersonState(ctx, s.db, personID, false)
	if err != nil {
		return nil, err
	}
	_, diffs, err := s.applyToDirectory(ctx, st, st.desiredAt(s.clock.Now()), true, nil)
	return diffs, err
}

// Difference is one way in which the directory differs from the grants.
type Difference struct {
	Kind     string `json:"kind"` // DiffMissingMember, DiffUngrantedMember, DiffEnabledWithoutGrant, DiffDisabledWithGrant, DiffMissingAccount
	PersonID string `json:"personId,omitempty"`
	Username string `json:"username,omitempty"`
	DN       string `json:"dn,omitempty"`
	Group    string `json:"group,omitempty"`
}

// The kinds of Difference.
const (
	DiffMissingMember       = "membership_missing"    // a grant in effect maps to the group, the account is not in it
	DiffUngrantedMember     = "member_not_granted"    // in a group behorig manages without a grant in effect
	DiffEnabledWithoutGrant = "enabled_without_grant" // the account is enabled, no grant is in effect
	DiffDisabledWithGrant   = "disabled_with_grant"   // the account is disabled, a grant is in effect
	DiffMissingAccount      = "account_missing"       // a grant is in effect, the directory has no account
)

// entry is the person's directory entry as step 2 left it.
type entry struct {
	exists, disabled bool
	dn, id           string
}

// applyToDirectory reads the person's entry and groups and changes what differs from want.
// No transaction is open: the directory may be slow, and nobody else waits for it.
//
// Taking away comes first and needs no proof: an entry whose identity attribute names
// someone else still loses what behorig gave it. Giving (creating, enabling, adding to a
// group) needs the entry to be the person's. behorig enables and disables only the accounts
// it created; a linked account's life belongs to whoever made it, and behorig keeps only its
// group memberships.
//
// In a batch (b not nil), the entry, its groups and which of them behorig manages come from
// the batch's reads when it made them, a new entry's ID is read back by the batch, and the
// group memberships to add and remove are left in b for the batch to write, one change per
// group. Alone, step 2 reads and writes each itself.
func (s *Service) applyToDirectory(ctx context.Context, st personState, want desired, dryRun bool, b *personBatch) (entry, []Difference, error) {
	if !st.hasAccount {
		if want.needsAccount {
			return entry{}, []Difference{{Kind: DiffMissingAccount, PersonID: st.person.id}}, nil
		}
		return entry{}, nil, nil
	}
	acct := st.account
	ref, err := b.entry(acct)
	if b == nil || !b.searched {
		ref, err = s.findEntry(ctx, acct)
	}
	e := entry{exists: err == nil, disabled: ref.Disabled, dn: ref.DN, id: ref.ID}
	if err != nil && !errors.Is(err, connectors.ErrNotFound) {
		return e, nil, err
	}
	var notOwn error // why nothing may be given to this entry
	if e.exists {
		notOwn = s.checkOwnEntry(st, acct, ref)
	}
	diff := func(kind, group string) Difference {
		return Difference{Kind: kind, PersonID: st.person.id, Username: acct.username, DN: e.dn, Group: group}
	}
	var diffs []Difference
	var missing []string
	if e.exists {
		removed, toAdd, err := s.takeUngrantedGroups(ctx, st, e.dn, want, dryRun, b)
		diffs, missing = removed, toAdd
		if err != nil {
			return e, diffs, err
		}
	}
	ownsState := acct.origin != "linked"
	if want.needsAccount && !e.exists || ownsState && e.exists && e.disabled && want.enabled {
		kind := DiffDisabledWithGrant
		if !e.exists {
			kind, missing = DiffMissingAccount, want.groups
		}
		diffs = append(diffs, diff(kind, ""))
		if !dryRun {
			if err := s.mayGive(ctx, st, e, notOwn); err != nil {
				return e, diffs, err
			}
			if e, err = s.makeEntry(ctx, st, e, b); err != nil {
				return e, diffs, err
			}
		}
	}
	if !e.exists {
		return e, diffs, nil
	}
	for _, g := range missing {
		diffs = append(diffs, diff(DiffMissingMember, g))
		if dryRun {
			continue
		}
		if err := s.mayGive(ctx, st, e, notOwn); err != nil {
			return e, diffs, err
		}
		if b != nil {
			b.add = append(b.add, memberChange{group: s.groupName(st, g), dn: e.dn})
			continue
		}
		if err := s.dir.EnsureMember(ctx, s.groupName(st, g), e.dn); err != nil {
			return e, diffs, fmt.Errorf("add %s to %s: %w", e.dn, g, err)
		}
	}
	if ownsState && !want.enabled && !e.disabled {
		diffs = append(diffs, diff(DiffEnabledWithoutGrant, ""))
		if !dryRun && b != nil {
			b.disable = true // with the batch's others
			e.disabled = true
		} else if !dryRun {
			if err := s.dir.DisableAccount(ctx, e.dn); err != nil {
				return e, diffs, fmt.Errorf("disable %s: %w", e.dn, err)
			}
			e.disabled = true
		}
	}
	return e, diffs, nil
}

// makeEntry creates the person's entry, or enables it. In a batch, a new entry is added
// without looking again (the batch's search has just found none), with the others'
// (createEntries), and its ID is read back with theirs; an entry that appeared in between is
// looked up and must be the person's.
func (s *Service) makeEntry(ctx context.Context, st personState, e entry, b *personBatch) (entry, error) {
	acct := st.account
	appeared := false
	if b != nil && !e.exists {
		made := b.made
		if made == nil { // the batch's adds did not get to it
			made = &s.dir.CreateAccounts(ctx, []connectors.Account{s.directoryAccount(st)})[0]
		}
		dn, err := made.DN, made.Err
		if err == nil {
			b.created = true
			return entry{exists: true, dn: dn}, nil
		}
		if !errors.Is(err, connectors.ErrExists) {
			return e, fmt.Errorf("create account %s: %w", acct.username, err)
		}
		appeared = true
	}
	ref, err := s.dir.EnsureAccount(ctx, s.directoryAccount(st))
	if err != nil {
		return e, fmt.Errorf("ensure account %s: %w", acct.username, err)
	}
	if appeared {
		if err := s.mayGive(ctx, st, e, s.checkOwnEntry(st, acct, ref)); err != nil {
			return e, err
		}
	}
	return entry{exists: true, disabled: ref.Disabled, dn: ref.DN, id: ref.ID}, nil
}

// findEntry finds the account's entry: by the entry's id once it is recorded, so that an
// account renamed in the directory still loses its access and a new entry someone made under
// the old username is never taken for it; by the username before.
func (s *Service) findEntry(ctx context.Context, acct accountRow) (connectors.AccountRef, error) {
	var ref connectors.AccountRef
	var err error
	if acct.entryID != "" {
		ref, err = s.dir.LookupAccountByID(ctx, acct.entryID)
	} else {
		ref, err = s.dir.LookupAccount(ctx, acct.username)
	}
	if err != nil && !errors.Is(err, connectors.ErrNotFound) {
		return ref, fmt.Errorf("look up account %s: %w", acct.username, err)
	}
	return ref, err
}

// mayGive refuses to give anything to an entry that is not the person's, and tells IT.
func (s *Service) mayGive(ctx context.Context, st personState, e entry, notOwn error) error {
	if notOwn == nil {
		return nil
	}
	if err := s.markLinkRequired(ctx, st.person.id, st.account.username); err != nil {
		return errors.Join(notOwn, err)
	}
	return notOwn
}

// takeUngrantedGroups removes the account from the groups behorig manages that no grant in
// effect maps to, and returns those removals and the desired groups it is missing from.
// Groups behorig does not manage are left alone.
func (s *Service) takeUngrantedGroups(ctx context.Context, st personState, dn string, want desired, dryRun bool,
	b *personBatch) ([]Difference, []string, error) {
	actual, managed := b.groupsOf(dn)
	if actual == nil {
		var err error
		if actual, err = s.dir.GroupsOf(ctx, dn); err != nil {
			return nil, nil, fmt.Errorf("read groups of %s: %w", dn, err)
		}
	}
	if managed == nil {
		var err error
		if managed, err = s.managedGroups(ctx, actual); err != nil {
			return nil, nil, err
		}
	}
	have := map[string]bool{}
	var diffs []Difference
	for _, g := range actual {
		lower := groupKey(g)
		have[lower] = true
		if !managed[lower] || slices.Contains(want.groups, lower) {
			continue
		}
		diffs = append(diffs, Difference{Kind: DiffUngrantedMember, PersonID: st.person.id, Username: st.account.username, DN: dn, Group: g})
		if !dryRun && b != nil {
			b.remove = append(b.remove, memberChange{group: g, dn: dn})
		} else if !dryRun {
			if err := s.dir.RemoveMember(ctx, g, dn); err != nil {
				return diffs, nil, fmt.Errorf("remove %s from %s: %w", dn, g, err)
			}
		}
	}
	var missing []string
	for _, g := range want.groups {
		if !have[g] {
			missing = append(missing, g)
		}
	}
	return diffs, missing, nil
}

// groupName is the group's name as the catalog spelled it, for a group that may not exist yet.
func (s *Service) groupName(st personState, lower string) string {
	for _, g := range st.grants {
		if groupKey(g.group) == lower {
			return g.group
		}
	}
	return lower
}

// managedGroups tells which of the groups behorig manages: those some grant maps to, by
// groupKey, through the index on it.
func (s *Service) managedGroups(ctx context.Context, groups []string) (map[string]bool, error) {
	keys := make([]string, len(groups))
	for i, g := range groups {
		keys[i] = groupKey(g)
	}
	slices.Sort(keys)
	// One index probe per group, not every grant of every group: a batch's persons share
	// their groups, and a group has as many grants as members.
	return s.groupKeys(ctx, `SELECT k FROM unnest($1::text[]) AS k
		WHERE EXISTS (SELECT 1 FROM grants WHERE NOT manual AND group_key = k)`, slices.Compact(keys))
}

// allManagedGroups returns the keys of every group a connected grant maps to.
func (s *Service) allManagedGroups(ctx context.Context) (map[string]bool, error) {
	return s.groupKeys(ctx, "SELECT DISTINCT group_key FROM grants WHERE NOT manual")
}

func (s *Service) groupKeys(ctx context.Context, query string, args ...any) (map[string]bool, error) {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find managed groups: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find managed groups: %w", err)
	}
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return set, nil
}

// checkOwnEntry refuses to give anything to an entry that may not be the person's: one whose
// identity attribute names someone else, or one found under a username behorig reserved but
// has not recorded as created, which someone else made unless the directory says behorig's
// own bind identity did (a crash between the add and its record).
func (s *Service) checkOwnEntry(st personState, acct accountRow, ref connectors.AccountRef) error {
	if acct.entryID != "" && ref.ID != "" && ref.ID != acct.entryID {
		return fmt.Errorf("account %s: the entry under the username is another than the one recorded: %w", ref.Username, ErrLinkRequired)
	}
	if ref.Identity != "" {
		if s.identityMatches(st.person, ref.Identity) {
			return nil
		}
		return fmt.Errorf("account %s: its identity attribute names another person: %w", ref.Username, ErrLinkRequired)
	}
	if acct.state == "reserved" && acct.origin == "created" && !ref.CreatedByUs {
		return fmt.Errorf("account %s: an entry someone else made has the username behorig reserved: %w", ref.Username, ErrLinkRequired)
	}
	return nil
}

// identityMatches tells whether a directory identity value is the person's personnummer.
func (s *Service) identityMatches(p personRow, identity string) bool {
	pnr, err := s.personnummerOf(p)
	if err != nil || identity == "" {
		return false
	}
	n, err := personnummer.Parse(strings.TrimSpace(identity), s.clock.Now())
	return err == nil && n.String() == pnr.String()
}

func (s *Service) personnummerOf(p personRow) (personnummer.Number, error) {
	plain, err := s.box.Open(p.pnrSealed, personnummerContext)
	if err != nil {
		return personnummer.Number{}, fmt.Errorf("open personnummer of person %s: %w", p.id, err)
	}
	return personnummer.Parse(string(plain), s.clock.Now())
}

// directoryAccount is what the directory is asked to hold for the person: the approved data.
func (s *Service) directoryAccount(st personState) connectors.Account {
	a := connectors.Account{Username: st.account.username, GivenName: st.person.givenName, Surname: st.person.surname,
		Email: st.person.email, Mobile: st.person.mobile, EmployeeType: st.person.employeeType}
	if pnr, err := s.personnummerOf(st.person); err == nil {
		a.Identity = pnr.String()
	}
	return a
}

// recordConverged records, in one short transaction, what step 2 made true for one person.
// It reports false when the grants changed since step 1, so that the caller starts again.
func (s *Service) recordConverged(ctx context.Context, personID string, applied desired, acct accountRow, e entry) (bool, error) {
	var done []bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		done, err = s.recordAll(ctx, tx, []recordItem{{personID: personID, applied: applied, acct: acct, e: e}})
		return err
	})
	return err == nil && done[0], err
}

// recordPerson is step 3 for one person whom the transaction has locked (st read with the
// lock): it checks that the desired state is still the one applied and, when it is (ok),
// writes it and returns the requests whose grants changed.
func (s *Service) recordPerson(ctx context.Context, w stepWriter, st personState, applied desired, acct accountRow, e entry) (
	requests []string, ok bool, err error) {
	// The desired state now, not when the run began: a valid-from or an end that passed
	// while the directory was updated makes the run start again.
	now := s.clock.Now()
	if !st.desiredAt(now).equal(applied) {
		return nil, false, nil // an approval, a termination or a date came in between: apply again
	}
	if st.hasAccount && (st.account.username != acct.username || st.account.origin != acct.origin) {
		return nil, false, nil // IT linked or replaced the account meanwhile: the entry worked on is not its
	}
	if err := s.recordAccount(ctx, w, st, e, causeOf(st, now)); err != nil {
		return nil, false, err
	}
	for _, g := range st.grants {
		changed, err := s.recordGrant(ctx, w, g, e.dn, now)
		if err != nil {
			return nil, false, err
		}
		if changed && !slices.Contains(requests, g.requestID) {
			requests = append(requests, g.requestID)
		}
		// A grant a change request ended may complete that request.
		if changed && g.endedBy != "" && !slices.Contains(requests, g.endedBy) {
			requests = append(requests, g.endedBy)
		}
	}
	return requests, true, nil
}

// causeOf names the request an account change belongs in the history of: the one whose
// grant starts now, or the termination (or the grant) that ends now.
func causeOf(st personState, now time.Time) string {
	var ending string
	for _, g := range st.grants {
		switch {
		case g.state == GrantScheduled && !g.manual && g.inEffect(now):
			return g.requestID
		case g.ended(now) && ending == "":
			ending = cmp.Or(g.endedBy, g.requestID)
		}
	}
	return ending
}

// recordAccount keeps the account row in step with the directory entry and audits each change.
func (s *Service) recordAccount(ctx context.Context, w stepWriter, st personState, e entry, requestID string) error {
	if !st.hasAccount || !e.exists {
		return nil
	}
	before, state := st.account.state, AccountActive
	if e.disabled {
		state = AccountDisabled
	}
	if before == state && st.account.dn == e.dn && st.account.entryID == e.id {
		return nil
	}
	if err := w.setAccounts(ctx, accountChange{personID: st.person.id, dn: e.dn, state: state, entryID: e.id, at: s.clock.Now()}); err != nil {
		return fmt.Errorf("record account %s: %w", st.account.username, err)
	}
	data := map[string]any{"directory": s.dirName, "dn": e.dn, "username": st.account.username}
	var action string
	switch {
	case before == AccountReserved:
		action = "account.created"
		data["disabled"] = e.disabled
		// The person hears of an account behorig made, once; not of one IT linked, which
		// they already sign in to.
		if st.account.origin == "created" && !e.disabled {
			if err := w.notify(ctx, s.loginNotice(st.person.id, st.account.username, requestID)); err != nil {
				return err
			}
		}
	case state == AccountActive && before != AccountActive:
		action = "account.enabled"
	case state == AccountDisabled && before != AccountDisabled:
		action, data["reason"] = "account.disabled", "no grant in effect"
	default:
		return nil // the directory moved the entry; the new DN is recorded
	}
	return w.record(ctx, systemActor, action, requestID, st.person.id, data)
}

// recordGrant moves one grant to the state the directory now reflects, and reports whether
// it changed.
func (s *Service) recordGrant(ctx context.Context, w stepWriter, g grantRow, dn string, now time.Time) (bool, error) {
	switch {
	case g.manual && g.state == GrantActive && g.ended(now):
		// Whatever IT still has to remove by hand, the grant has ended: its factors end now.
		return true, s.awaitManualRemoval(ctx, w, g)
	case g.ended(now) && (g.state == GrantScheduled || g.state == GrantActive):
		change := grantChange{id: g.id, state: GrantRevoked, at: s.clock.Now(), factors: g.remoteAccess}
		if err := w.setGrants(ctx, change); err != nil {
			return false, fmt.Errorf("record revocation of grant %s: %w", g.id, err)
		}
		return true, w.record(ctx, systemActor, "grant.revoked", g.requestID, g.personID,
			map[string]any{"grant": g.id, "group": g.group, "member": dn, "trigger": g.trigger()})
	case !g.manual && g.state == GrantScheduled && g.inEffect(now):
		if err := w.setGrants(ctx, grantChange{id: g.id, state: GrantActive, memberDN: dn, at: s.clock.Now()}); err != nil {
			return false, fmt.Errorf("record grant %s: %w", g.id, err)
		}
		return true, w.record(ctx, systemActor, "grant.provisioned", g.requestID, g.personID,
			map[string]any{"grant": g.id, "group": g.group, "member": dn})
	}
	return false, nil
}

// trigger says why a grant ended: its own valid-to, or the termination that ended it early.
func (g grantRow) trigger() string {
	if g.endedBy != "" {
		return "request:" + g.endedBy
	}
	return "valid_to"
}
