package provisioning

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"
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

// memberChanges are the group memberships one person's convergence leaves for the batch to
// write.
type memberChanges struct {
	add, remove []memberChange
}

type memberChange struct{ group, dn string }

// batchPerson is one person's part of a batch.
type batchPerson struct {
	id      string
	st      personState
	want    desired
	e       entry
	diffs   []Difference
	changes memberChanges
	err     error
	done    bool // recorded
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
		for _, p := range batch {
			p.err = protect(func() error { return s.resolveAccount(ctx, &p.st, p.want) })
		}
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

// applyBatch is step 2: each person's entry, then the group changes of the batch, removals
// first (taking away comes before giving).
func (s *Service) applyBatch(ctx context.Context, batch []*batchPerson) {
	for _, p := range batch {
		if p.err != nil {
			continue
		}
		p.err = protect(func() error {
			var err error
			p.e, p.diffs, err = s.applyToDirectory(ctx, p.st, p.want, false, &p.changes)
			return err
		})
	}
	removals := groupChanges(batch, func(c memberChanges) []memberChange { return c.remove })
	s.changeGroups(ctx, removals, "remove %s from %s: %w", s.dir.RemoveMember)
	additions := groupChanges(batch, func(c memberChanges) []memberChange { return c.add })
	s.changeGroups(ctx, additions, "add %s to %s: %w", s.dir.EnsureMember)
}

// groupMembers are the members a batch changes in one group, with the persons they belong to.
type groupMembers struct {
	group   string
	dns     []string
	persons []*batchPerson
}

// groupChanges gathers the changes of the persons still going, per group, in a fixed order.
func groupChanges(batch []*batchPerson, pick func(memberChanges) []memberChange) []*groupMembers {
	byGroup := map[string]*groupMembers{}
	for _, p := range batch {
		if p.err != nil {
			continue
		}
		for _, c := range pick(p.changes) {
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
