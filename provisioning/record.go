package provisioning

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/internal/audit"
)

// stepWriter is where a state change and its audit event go: straight into the transaction
// (direct), or queued so that a batch sends all of its changes in one round trip and all of
// its events in two (queued). The statements are the same either way.
type stepWriter interface {
	exec(ctx context.Context, sql string, args ...any) error
	// setGrants and setAccounts record grants' and accounts' new states: one statement for
	// all of them, whether one person's or a batch's.
	setGrants(ctx context.Context, cs ...grantChange) error
	setAccounts(ctx context.Context, cs ...accountChange) error
	record(ctx context.Context, actor, action, requestID, personID string, data any) error
	// notify records a notification and its job (notify.go).
	notify(ctx context.Context, n notice) error
}

type direct struct {
	s  *Service
	tx pgx.Tx
}

func (w direct) exec(ctx context.Context, sql string, args ...any) error {
	_, err := w.tx.Exec(ctx, sql, args...)
	return err
}

func (w direct) setGrants(ctx context.Context, cs ...grantChange) error {
	return grantChanges(cs, func(sql string, args ...any) error { return w.exec(ctx, sql, args...) })
}

func (w direct) setAccounts(ctx context.Context, cs ...accountChange) error {
	return w.s.accountChanges(cs, func(sql string, args ...any) error { return w.exec(ctx, sql, args...) })
}

func (w direct) record(ctx context.Context, actor, action, requestID, personID string, data any) error {
	return w.s.record(ctx, w.tx, actor, action, requestID, personID, data)
}

func (w direct) notify(ctx context.Context, n notice) error { return w.s.notify(ctx, w.tx, n) }

// queued holds changes until flush. A read that must see them comes after flush.
type queued struct {
	s        *Service
	tx       pgx.Tx
	batch    pgx.Batch
	events   []audit.Event
	closed   []closedRequest
	notices  []notice
	grants   []grantChange
	accounts []accountChange
}

func (w *queued) setGrants(_ context.Context, cs ...grantChange) error {
	w.grants = append(w.grants, cs...)
	return nil
}

func (w *queued) setAccounts(_ context.Context, cs ...accountChange) error {
	w.accounts = append(w.accounts, cs...)
	return nil
}

// queueChanges queues the grants' and accounts' statements, each once for all of them.
func (w *queued) queueChanges() {
	queue := func(sql string, args ...any) error { w.batch.Queue(sql, args...); return nil }
	_ = grantChanges(w.grants, queue) // queueing cannot fail: flush reports what the batch does
	_ = w.s.accountChanges(w.accounts, queue)
	w.grants, w.accounts = nil, nil
}

func (w *queued) exec(_ context.Context, sql string, args ...any) error {
	w.batch.Queue(sql, args...)
	return nil
}

// notify keeps the notice until flush, which records them all in two round trips.
func (w *queued) notify(_ context.Context, n notice) error {
	w.notices = append(w.notices, n)
	return nil
}

func (w *queued) record(_ context.Context, actor, action, requestID, personID string, data any) error {
	w.events = append(w.events, audit.Event{At: w.s.clock.Now(), Actor: actor, Action: action,
		RequestID: requestID, PersonID: personID, Data: data})
	return nil
}

// closing queues a completion statement; flush adds an audit event for each request it
// closes.
func (w *queued) closing(sql string, args []any) {
	w.queueChanges() // a completion must see the grants' new states
	w.batch.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		closed, err := scanClosed(rows)
		if err != nil {
			return fmt.Errorf("complete requests: %w", err)
		}
		w.closed = append(w.closed, closed...)
		return nil
	})
}

// flush sends the queued changes and appends the queued events.
func (w *queued) flush(ctx context.Context) error {
	w.queueChanges()
	if w.batch.Len() > 0 {
		n := w.batch.Len()
		if err := w.tx.SendBatch(ctx, &w.batch).Close(); err != nil {
			return fmt.Errorf("write %d changes: %w", n, err)
		}
		w.batch = pgx.Batch{}
	}
	if err := w.s.recordClosed(ctx, w, w.closed); err != nil {
		return err
	}
	w.closed = nil
	if len(w.notices) > 0 {
		if err := w.s.notify(ctx, w.tx, w.notices...); err != nil {
			return err
		}
		w.notices = nil
	}
	events := w.events
	w.events = nil
	return w.s.audit.AppendAll(ctx, w.tx, events)
}

// recordItem is one person's step 3: what step 2 applied and made true.
type recordItem struct {
	personID string
	applied  desired
	acct     accountRow
	e        entry
}

// recordAll is step 3 for several persons in tx: it locks them in id order, checks for each
// that the desired state is still the one applied, and records those for which it is (done).
// Their changes and the closing of the requests they complete go in one round trip, their
// audit events in two.
func (s *Service) recordAll(ctx context.Context, tx pgx.Tx, items []recordItem) ([]bool, error) {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.personID
	}
	states, err := s.readPersonStates(ctx, tx, ids, true)
	if err != nil {
		return nil, err
	}
	w := &queued{s: s, tx: tx}
	done := make([]bool, len(items))
	var requests, persons []string
	for i, it := range items {
		st, ok := states[it.personID]
		if !ok {
			return nil, fmt.Errorf("person %s: %w", it.personID, ErrNotFound)
		}
		changed, ok, err := s.recordPerson(ctx, w, *st, it.applied, it.acct, it.e)
		if err != nil {
			return nil, err
		}
		if ok {
			done[i] = true
			requests = append(requests, changed...)
			persons = append(persons, it.personID)
		}
	}
	// Queued behind the grant changes, the completions see them: one round trip for all.
	if len(requests) > 0 {
		w.closing(s.completeRequests(requests))
	}
	if len(persons) > 0 {
		w.closing(s.completeTerminations(persons))
	}
	return done, w.flush(ctx)
}

// grantChange is a grant's move to state at a time: to active, with the member it gave
// access to; to removal_pending; or to revoked, when its remote-access factors end too.
type grantChange struct {
	id, state, memberDN string
	at                  time.Time
	factors             bool // a remote-access grant: its factors are revoked with it
}

// recordGrantsSQL moves grants to their new states, and sets the time that state records.
const recordGrantsSQL = `UPDATE grants g SET state = c.state,
		member_dn = CASE WHEN c.state = 'active' THEN c.dn ELSE g.member_dn END,
		provisioned_at = CASE WHEN c.state = 'active' THEN c.at ELSE g.provisioned_at END,
		revoked_at = CASE WHEN c.state = 'revoked' THEN c.at ELSE g.revoked_at END
	FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS c(id, state, dn, at)
	WHERE g.id = c.id`

// grantChanges sends the statement that records cs, then the revocation of the factors of
// the remote-access grants among them, to send (the transaction, or a batch).
func grantChanges(cs []grantChange, send func(sql string, args ...any) error) error {
	if len(cs) == 0 {
		return nil
	}
	ids, states, dns, ats := make([]string, len(cs)), make([]string, len(cs)), make([]string, len(cs)), make([]time.Time, len(cs))
	var remote []string
	var at time.Time
	for i, c := range cs {
		ids[i], states[i], dns[i], ats[i] = c.id, c.state, c.memberDN, c.at
		if c.factors {
			remote, at = append(remote, c.id), c.at
		}
	}
	if err := send(recordGrantsSQL, ids, states, dns, ats); err != nil {
		return fmt.Errorf("record %d grants: %w", len(cs), err)
	}
	if len(remote) == 0 {
		return nil
	}
	if err := send(revokeFactorsSQL, remote, at); err != nil {
		return fmt.Errorf("revoke the factors of %d grants: %w", len(remote), err)
	}
	return nil
}

// accountChange is what step 3 records of a person's account in this directory: the entry's
// DN, ID and whether it is locked.
type accountChange struct {
	personID, dn, state, entryID string
	at                           time.Time
}

const recordAccountsSQL = `UPDATE accounts a SET dn = c.dn, state = c.state, entry_id = c.entry_id, updated_at = c.at
	FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) AS c(person_id, dn, state, entry_id, at)
	WHERE a.directory = $1 AND a.person_id = c.person_id`

// accountChanges sends the statement that records cs to send.
func (s *Service) accountChanges(cs []accountChange, send func(sql string, args ...any) error) error {
	if len(cs) == 0 {
		return nil
	}
	persons, dns, states, entries, ats := make([]string, len(cs)), make([]string, len(cs)), make([]string, len(cs)),
		make([]string, len(cs)), make([]time.Time, len(cs))
	for i, c := range cs {
		persons[i], dns[i], states[i], entries[i], ats[i] = c.personID, c.dn, c.state, c.entryID, c.at
	}
	if err := send(recordAccountsSQL, s.dirName, persons, dns, states, entries, ats); err != nil {
		return fmt.Errorf("record %d accounts: %w", len(cs), err)
	}
	return nil
}
