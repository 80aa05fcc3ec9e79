package provisioning

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/connectors"
)

// Batches. The provision and revoke jobs that fall due together (a day's starters, a
// reorganisation's leavers) converge their persons as one batch, with the same three steps
// as one person (converge.go) and the same guarantees:
//
//  1. the desired state of every person is read in three queries;
//  2. the directory is read per person (their entry and their groups) and changed with one
//     write per account that needs one, and one change per group for the whole batch: every
//     new member of a group is added in one modify, every leaver removed in one. No
//     transaction is open;
//  3. one transaction locks the persons in id order and records them all.
//
// A person whose step fails (an error, a panic, an entry that is not theirs) is left out of
// the rest of the batch and gets their own error, so that their job retries while the others
// are recorded. A group change that fails for the batch is tried again member by member, so
// that one bad member fails only its person. When the recording transaction fails, every
// person is recorded again in a transaction of their own, and only the ones that fail there
// fail. A crash anywhere leaves the database saying less than the directory, as for one person,
// and the retry starts again from what the directory says.

// personBatch is what the batch read for one person before step 2, and what step 2 leaves
// for the batch to do. A nil *personBatch is a person converged alone.
type personBatch struct {
	searched bool                   // the batch's search looked for the entry
	found    *connectors.AccountRef // what it found
	groups   []string               // the groups the entry is in, read by the batch (nil: not read)
	managed  map[string]bool        // which groups behorig manages, for the batch (nil: not read)
	made     *connectors.Created    // what the batch's adds did for the entry (nil: not tried)
	created  bool                   // step 2 added the entry; the batch reads back its ID
	disable  bool                   // step 2 found the entry to lock; the batch locks it with the others
	add      []memberChange
	remove   []memberChange
}

// entry is the entry the batch's search found for the account.
func (b *personBatch) entry(acct accountRow) (connectors.AccountRef, error) {
	if b == nil || b.found == nil {
		return connectors.AccountRef{}, fmt.Errorf("account %s: %w", acct.username, connectors.ErrNotFound)
	}
	return *b.found, nil
}

// groupsOf returns what the batch read about the entry's groups, nil for what it did not.
func (b *personBatch) groupsOf(dn string) ([]string, map[string]bool) {
	if b == nil || b.found == nil || b.found.DN != dn {
		return nil, nil
	}
	return b.groups, b.managed
}

type memberChange struct{ group, dn string }

// batchPerson is one person's part of a batch.
type batchPerson struct {
	id    string
	st    personState
	want  desired
	e     entry
	diffs []Difference
	b     personBatch
	err   error
	done  bool // recorded
}

// batchOutcome is what a batch reports for one person.
type batchOutcome struct {
	diffs []Difference
	err   error
}

// ConvergeGrants converges the persons the grants belong to as one batch, and returns for
// each grant the outcome of its person: nil when recorded, else why not (their job retries).
func (s *Service) ConvergeGrants(ctx context.Context, grantIDs []string) []error {
	errs := make([]error, len(grantIDs))
	personOf := map[string]string{}
	rows, err := s.db.Query(ctx, "SELECT id::text, person_id::text FROM grants WHERE id = ANY($1)", uuidsOnly(grantIDs))
	if err == nil {
		_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
			var grant, person string
			err := row.Scan(&grant, &person)
			personOf[grant] = person
			return struct{}{}, err
		})
	}
	if err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("read %d grants: %w", len(grantIDs), err)
		}
		return errs
	}
	outcomes := s.convergeBatch(ctx, slices.Collect(maps.Values(personOf)))
	for i, id := range grantIDs {
		person, ok := personOf[id]
		if !ok {
			errs[i] = fmt.Errorf("grant %s: %w", id, ErrNotFound)
			continue
		}
		errs[i] = outcomes[person].err
	}
	return errs
}

// convergeBatch converges the persons together; see the comment at the top of this file.
func (s *Service) convergeBatch(ctx context.Context, personIDs []string) map[string]batchOutcome {
	out := make(map[string]batchOutcome, len(personIDs))
	pending := slices.Compact(slices.Sorted(slices.Values(personIDs)))
	for range maxConvergeRounds {
		if len(pending) == 0 {
			return out
		}
		batch, err := s.readBatch(ctx, pending, out)
		if err != nil {
			for _, id := range pending {
				out[id] = batchOutcome{err: err}
			}
			return out
		}
		s.resolveAccounts(ctx, batch)
		s.applyBatch(ctx, batch)
		s.recordBatch(ctx, batch)
		pending = pending[:0]
		for _, p := range batch {
			if p.err != nil || p.done {
				out[p.id] = batchOutcome{diffs: p.diffs, err: p.err}
			} else {
				pending = append(pending, p.id) // the grants changed meanwhile: again
			}
		}
	}
	for _, id := range pending {
		out[id] = batchOutcome{err: fmt.Errorf("converge person %s: the grants changed %d times while the directory was updated; retried later",
			id, maxConvergeRounds)}
	}
	return out
}

// readBatch is step 1: the persons' states and what they should have now. A person who does
// not exist gets ErrNotFound in out.
func (s *Service) readBatch(ctx context.Context, ids []string, out map[string]batchOutcome) ([]*batchPerson, error) {
	states, err := s.readPersonStates(ctx, s.db, ids, false)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	batch := make([]*batchPerson, 0, len(states))
	for _, id := range ids {
		st, ok := states[id]
		if !ok {
			out[id] = batchOutcome{err: fmt.Errorf("person %s: %w", id, ErrNotFound)}
			continue
		}
		batch = append(batch, &batchPerson{id: id, st: *st, want: st.desiredAt(now)})
	}
	return batch, nil
}

// applyBatch is step 2: the batch's reads, each person's entry, then the group changes of
// the batch, removals first (taking away comes before giving).
func (s *Service) applyBatch(ctx context.Context, batch []*batchPerson) {
	s.readDirectory(ctx, batch)
	s.createEntries(ctx, batch)
	for _, p := range batch {
		if p.err != nil {
			continue
		}
		p.err = protect(func() error {
			var err error
			p.e, p.diffs, err = s.applyToDirectory(ctx, p.st, p.want, false, &p.b)
			return err
		})
	}
	s.readBack(ctx, batch)
	removals := groupChanges(batch, func(b personBatch) []memberChange { return b.remove })
	s.changeGroups(ctx, removals, "remove %s from %s: %w", s.dir.RemoveMember)
	s.disableAll(ctx, batch)
	additions := groupChanges(batch, func(b personBatch) []memberChange { return b.add })
	s.changeGroups(ctx, additions, "add %s to %s: %w", s.dir.EnsureMember)
}

// readDirectory finds the batch's entries in one search, their groups in another, and asks
// the database once which of all those groups behorig manages. What it cannot read (the
// database fails, a username is ambiguous) each person's step 2 reads itself; when the search
// fails, every person in it fails and retries.
func (s *Service) readDirectory(ctx context.Context, batch []*batchPerson) {
	var usernames, ids []string
	for _, p := range batch {
		switch {
		case p.err != nil || !p.st.hasAccount:
		case p.st.account.entryID != "":
			ids = append(ids, p.st.account.entryID)
		default:
			usernames = append(usernames, p.st.account.username)
		}
	}
	if len(usernames)+len(ids) == 0 {
		return
	}
	var refs []connectors.AccountRef
	err := protect(func() error {
		var err error
		refs, err = s.dir.FindAccounts(ctx, usernames, ids)
		return err
	})
	if err != nil {
		for _, p := range batch {
			if p.st.hasAccount {
				p.fail(fmt.Errorf("look up %d accounts: %w", len(usernames)+len(ids), err))
			}
		}
		return
	}
	byID, byName := map[string][]connectors.AccountRef{}, map[string][]connectors.AccountRef{}
	for _, r := range refs {
		byID[r.ID] = append(byID[r.ID], r)
		byName[strings.ToLower(r.Username)] = append(byName[strings.ToLower(r.Username)], r)
	}
	var dns []string
	for _, p := range batch {
		if p.err != nil || !p.st.hasAccount {
			continue
		}
		found := byName[strings.ToLower(p.st.account.username)]
		if p.st.account.entryID != "" {
			found = byID[p.st.account.entryID]
		}
		if len(found) > 1 {
			continue // more than one entry: the lookup alone says why not
		}
		p.b.searched = true
		if len(found) == 1 {
			p.b.found = &found[0]
			dns = append(dns, found[0].DN)
		}
	}
	if len(dns) == 0 {
		return
	}
	var groups map[string][]string
	err = protect(func() error {
		var err error
		groups, err = s.dir.GroupsOfMembers(ctx, dns)
		return err
	})
	var all []string
	for _, p := range batch {
		if p.err != nil || p.b.found == nil {
			continue
		}
		if err != nil {
			p.fail(fmt.Errorf("read groups of %d accounts: %w", len(dns), err))
			continue
		}
		p.b.groups = append([]string{}, groups[p.b.found.DN]...)
		all = append(all, p.b.groups...)
	}
	if len(all) == 0 {
		for _, p := range batch {
			if p.b.groups != nil {
				p.b.managed = map[string]bool{}
			}
		}
		return
	}
	managed, err := s.managedGroups(ctx, all)
	if err != nil {
		return // each person asks alone
	}
	for _, p := range batch {
		if p.b.found != nil && p.b.groups != nil {
			p.b.managed = managed
		}
	}
}

// createEntries adds the entries of the persons who need one and whom the batch's search
// found none for, all at once; each person's step 2 then takes its own result (makeEntry).
// When the adds fail as a whole (a panic), each person adds their own.
func (s *Service) createEntries(ctx context.Context, batch []*batchPerson) {
	var accounts []connectors.Account
	var persons []*batchPerson
	for _, p := range batch {
		if p.err == nil && p.st.hasAccount && p.want.needsAccount && p.b.searched && p.b.found == nil {
			accounts, persons = append(accounts, s.directoryAccount(p.st)), append(persons, p)
		}
	}
	if len(accounts) == 0 {
		return
	}
	var made []connectors.Created
	if err := protect(func() error { made = s.dir.CreateAccounts(ctx, accounts); return nil }); err != nil || len(made) != len(persons) {
		return
	}
	for i, p := range persons {
		p.b.made = &made[i]
	}
}

// readBack reads the IDs of the entries the batch added, in one search.
func (s *Service) readBack(ctx context.Context, batch []*batchPerson) {
	var names []string
	for _, p := range batch {
		if p.err == nil && p.b.created {
			names = append(names, p.st.account.username)
		}
	}
	if len(names) == 0 {
		return
	}
	var refs []connectors.AccountRef
	err := protect(func() error {
		var err error
		refs, err = s.dir.FindAccounts(ctx, names, nil)
		return err
	})
	byName := map[string]connectors.AccountRef{}
	for _, r := range refs {
		byName[strings.ToLower(r.Username)] = r
	}
	for _, p := range batch {
		if p.err != nil || !p.b.created {
			continue
		}
		r, ok := byName[strings.ToLower(p.st.account.username)]
		switch {
		case err != nil:
			p.fail(fmt.Errorf("read back account %s: %w", p.st.account.username, err))
		case !ok:
			p.fail(fmt.Errorf("read back account %s: %w", p.st.account.username, connectors.ErrNotFound))
		default:
			p.e = entry{exists: true, disabled: r.Disabled, dn: r.DN, id: r.ID}
		}
	}
}

// disableAll locks the accounts step 2 found to lock, all at once.
func (s *Service) disableAll(ctx context.Context, batch []*batchPerson) {
	var dns []string
	var persons []*batchPerson
	for _, p := range batch {
		if p.err == nil && p.b.disable {
			dns, persons = append(dns, p.e.dn), append(persons, p)
		}
	}
	if len(dns) == 0 {
		return
	}
	var errs []error
	err := protect(func() error { errs = s.dir.DisableAccounts(ctx, dns); return nil })
	if err != nil || len(errs) != len(dns) {
		err = cmp.Or(err, fmt.Errorf("lock %d accounts: the directory answered for %d", len(dns), len(errs)))
		errs = make([]error, len(dns))
		for i := range errs {
			errs[i] = err
		}
	}
	for i, p := range persons {
		if errs[i] != nil {
			p.fail(fmt.Errorf("disable %s: %w", dns[i], errs[i]))
		}
	}
}

// groupMembers are the members a batch changes in one group, with the persons they belong to.
type groupMembers struct {
	group   string
	dns     []string
	persons []*batchPerson
}

// groupChanges gathers the changes of the persons still going, per group, in a fixed order.
func groupChanges(batch []*batchPerson, pick func(personBatch) []memberChange) []*groupMembers {
	byGroup := map[string]*groupMembers{}
	for _, p := range batch {
		if p.err != nil {
			continue
		}
		for _, c := range pick(p.b) {
			g := byGroup[c.group]
			if g == nil {
				g = &groupMembers{group: c.group}
				byGroup[c.group] = g
			}
			g.dns, g.persons = append(g.dns, c.dn), append(g.persons, p)
		}
	}
	return slices.SortedFunc(maps.Values(byGroup), func(a, b *groupMembers) int { return cmp.Compare(a.group, b.group) })
}

// changeGroups writes each group's change at once, and when that fails, member by member, so
// that only the persons whose change fails fail.
func (s *Service) changeGroups(ctx context.Context, groups []*groupMembers, what string,
	change func(ctx context.Context, group string, dns ...string) error) {
	for _, g := range groups {
		err := protect(func() error { return change(ctx, g.group, g.dns...) })
		if err == nil {
			continue
		}
		if len(g.dns) == 1 {
			g.persons[0].fail(fmt.Errorf(what, g.dns[0], g.group, err))
			continue
		}
		for i, dn := range g.dns {
			if err := protect(func() error { return change(ctx, g.group, dn) }); err != nil {
				g.persons[i].fail(fmt.Errorf(what, dn, g.group, err))
			}
		}
	}
}

func (p *batchPerson) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// recordBatch is step 3: one transaction for the batch. When it fails, each person is
// recorded alone, so that one person's failure is theirs only.
func (s *Service) recordBatch(ctx context.Context, batch []*batchPerson) {
	var going []*batchPerson
	for _, p := range batch {
		if p.err == nil {
			going = append(going, p)
		}
	}
	if len(going) == 0 {
		return
	}
	items := make([]recordItem, len(going))
	for i, p := range going {
		items[i] = recordItem{personID: p.id, applied: p.want, acct: p.st.account, e: p.e}
	}
	var done []bool
	err := protect(func() error {
		return s.inTx(ctx, func(tx pgx.Tx) error {
			var err error
			done, err = s.recordAll(ctx, tx, items)
			return err
		})
	})
	if err == nil {
		for i, p := range going {
			p.done = done[i]
		}
		return
	}
	if len(going) == 1 || ctx.Err() != nil {
		for _, p := range going {
			p.err = err
		}
		return
	}
	for _, p := range going {
		p.err = protect(func() error {
			var err error
			p.done, err = s.recordConverged(ctx, p.id, p.want, p.st.account, p.e)
			return err
		})
	}
}

// protect runs one person's step and turns a panic into that person's error, so that it
// does not take the batch with it.
func protect(step func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			if e, ok := r.(error); ok {
				err = fmt.Errorf("panic: %w", e)
			}
		}
	}()
	return step()
}
