package remoteaccess

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/internal/audit"
)

// acceptRecorder records accepted logins with a group commit. An accepted login's record is
// its audit event and its factor's failure count set back to zero; the answer may leave only
// once both are committed. Recorded one by one that was a transaction of five round trips
// per login, and under a gateway's morning rush PostgreSQL's CPU (not the directory, not
// behorig) was the limit. So the records of logins that finish at the same time are written
// together: one batch, one round trip, one implicit transaction, whatever their number.
//
// There is no timer and no wait for company: a record is written at once when no write is
// under way, and the records that come in while one is under way go together in the next.
// At most maxWrites writes run at once, each on a connection of the pool, so that the
// logins' other statements keep connections. The writes are goroutines that end when the
// queue is empty: nothing runs while nobody logs in, and nothing outlives the Service's
// last login.
//
// Only accepted logins come here: their record is the same for all (no count to read back),
// and they are what a rush is made of. Refusals and challenges keep their own transaction
// (finish), whose failure count goes into the event.
type acceptRecorder struct {
	db    *pgxpool.Pool
	audit *audit.Log
	// maxWrites bounds the writes at once; maxBatch the records in one.
	maxWrites, maxBatch int
	// timeout bounds one write: a hung database fails the logins waiting for it instead of
	// holding them (and the write's connection) for ever.
	timeout time.Duration

	mu      sync.Mutex
	queue   []*acceptRecord
	writing int
	// batches counts the writes, for the test that sees records share them.
	batches atomic.Int64
}

// acceptRecord is one accepted login to record: its factor, and its audit event with the
// id taken beforehand (audit.NextID, in the login's first query).
type acceptRecord struct {
	factorID string
	eventID  int64
	event    audit.Event
	done     chan error
}

func newAcceptRecorder(db *pgxpool.Pool, log *audit.Log) *acceptRecorder {
	return &acceptRecorder{db: db, audit: log, maxWrites: 2, maxBatch: 256, timeout: 10 * time.Second}
}

// record writes the record and returns once it is committed, or with the error that kept it
// out. When ctx ends before the record's write began, the record is taken back and never
// written; once its write began, record waits for its end (bounded by timeout), so that an
// error means that nothing was recorded.
func (r *acceptRecorder) record(ctx context.Context, rec *acceptRecord) error {
	rec.done = make(chan error, 1)
	r.mu.Lock()
	r.queue = append(r.queue, rec)
	start := r.writing < r.maxWrites
	if start {
		r.writing++
	}
	r.mu.Unlock()
	if start {
		// The writer works for every waiting login, not for this one alone: its context
		// is not this request's, which may end while the others wait.
		go r.write(context.WithoutCancel(ctx))
	}
	select {
	case err := <-rec.done:
		return err
	case <-ctx.Done():
	}
	r.mu.Lock()
	for i, q := range r.queue {
		if q == rec {
			r.queue = append(r.queue[:i], r.queue[i+1:]...)
			r.mu.Unlock()
			return fmt.Errorf("record an accepted login: %w", context.Cause(ctx))
		}
	}
	r.mu.Unlock()
	return <-rec.done
}

// write writes batches from the queue until it is empty.
func (r *acceptRecorder) write(ctx context.Context) {
	for {
		r.mu.Lock()
		n := min(len(r.queue), r.maxBatch)
		if n == 0 {
			r.writing--
			r.mu.Unlock()
			return
		}
		batch := make([]*acceptRecord, n)
		copy(batch, r.queue)
		r.queue = append(r.queue[:0], r.queue[n:]...)
		r.mu.Unlock()
		err := r.writeBatch(ctx, batch)
		r.batches.Add(1)
		for _, rec := range batch {
			rec.done <- err
		}
	}
}

// writeBatch commits the records in one round trip: the factors' counts back to zero and
// the events, one statement each, in the batch's implicit transaction.
func (r *acceptRecorder) writeBatch(ctx context.Context, batch []*acceptRecord) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	factors := make([]string, len(batch))
	ids := make([]int64, len(batch))
	events := make([]audit.Event, len(batch))
	for i, rec := range batch {
		factors[i], ids[i], events[i] = rec.factorID, rec.eventID, rec.event
	}
	b := &pgx.Batch{}
	// Setting zero twice is zero: a factor twice in a batch needs nothing more.
	b.Queue("UPDATE authenticators SET failures = 0 WHERE id = ANY($1::uuid[]) AND failures <> 0", factors)
	if err := r.audit.QueueAppendAll(b, ids, events); err != nil {
		return fmt.Errorf("record %d accepted logins: %w", len(batch), err)
	}
	if err := r.db.SendBatch(ctx, b).Close(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (no answer from the database in %s)", err, r.timeout)
		}
		return fmt.Errorf("record %d accepted logins: %w", len(batch), err)
	}
	return nil
}
