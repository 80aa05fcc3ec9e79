package provisioning

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/internal/audit"
)

// stepWriter is where a state change and its audit event go: straight into the transaction
// (direct), or queued so that a batch sends all of its changes in one round trip and all of
// its events in two (queued). The statements are the same either way.
type stepWriter interface {
	exec(ctx context.Context, sql string, args ...any) error
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

func (w direct) record(ctx context.Context, actor, action, requestID, personID string, data any) error {
	return w.s.record(ctx, w.tx, actor, action, requestID, personID, data)
}

func (w direct) notify(ctx context.Context, n notice) error { return w.s.notify(ctx, w.tx, n) }

// queued holds changes until flush. A read that must see them comes after flush.
type queued struct {
	s       *Service
	tx      pgx.Tx
	batch   pgx.Batch
	events  []audit.Event
	closed  []closedRequest
	notices []notice
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
