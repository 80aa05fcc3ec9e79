package remoteaccess

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// group runs the calls that concurrent logins make of one statement together: a gateway's
// rush of logins is hundreds in flight, and PostgreSQL's CPU, shared with everything else
// on the machine, was their limit, most of it spent per statement (a round trip, a wake-up,
// an executor start) rather than per row. So one statement serves every login that waits
// for it.
//
// There is no timer and no waiting for company: a call runs at once when fewer than
// maxRuns runs are under way, and the calls that come in meanwhile go together in the next
// run, at most maxBatch in one. A run's goroutine ends when the queue is empty: nothing runs
// while nobody logs in, and nothing outlives the last call.
type group[In, Out any] struct {
	// run does the work of a batch: one result per input, in order, or one error for all.
	run func(ctx context.Context, in []In) ([]Out, error)
	// again, when set, tells of a result that its call must run again, in the next batch.
	again func(Out) bool
	// what names the work in errors.
	what string
	// maxRuns bounds the runs at once, each on a connection of the pool, so that the
	// logins' other statements keep connections; maxBatch the calls in one run.
	maxRuns, maxBatch int
	// timeout bounds one run: a hung database fails the calls waiting for it instead of
	// holding them, and the run's connection, for ever.
	timeout time.Duration

	mu      sync.Mutex
	queue   []*groupCall[In, Out]
	running int
	// runs counts the runs, for the tests that see calls share them.
	runs atomic.Int64
}

type groupCall[In, Out any] struct {
	in   In
	out  Out
	err  error
	done chan struct{}
}

// do runs in with the calls queued beside it and returns its result. When ctx ends before
// the call's run began, the call is taken back and never runs; once its run began, do waits
// for the run's end (bounded by timeout), so that a write that returns an error was not
// made.
func (g *group[In, Out]) do(ctx context.Context, in In) (Out, error) {
	c := &groupCall[In, Out]{in: in, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	start := g.running < g.maxRuns
	if start {
		g.running++
	}
	g.mu.Unlock()
	if start {
		// The run works for every waiting call, not for this one alone: its context is not
		// this request's, which may end while the others wait.
		go g.drain(context.WithoutCancel(ctx))
	}
	select {
	case <-c.done:
		return c.out, c.err
	case <-ctx.Done():
	}
	g.mu.Lock()
	for i, q := range g.queue {
		if q == c {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			g.mu.Unlock()
			var zero Out
			return zero, fmt.Errorf("%s: %w", g.what, context.Cause(ctx))
		}
	}
	g.mu.Unlock()
	<-c.done
	return c.out, c.err
}

// drain runs batches from the queue until it is empty.
func (g *group[In, Out]) drain(ctx context.Context) {
	for {
		g.mu.Lock()
		n := min(len(g.queue), g.maxBatch)
		if n == 0 {
			g.running--
			g.mu.Unlock()
			return
		}
		batch := make([]*groupCall[In, Out], n)
		copy(batch, g.queue)
		g.queue = append(g.queue[:0], g.queue[n:]...)
		g.mu.Unlock()
		g.runBatch(ctx, batch)
		g.runs.Add(1)
	}
}

func (g *group[In, Out]) runBatch(parent context.Context, batch []*groupCall[In, Out]) {
	ctx, cancel := context.WithTimeout(parent, g.timeout)
	defer cancel()
	in := make([]In, len(batch))
	for i, c := range batch {
		in[i] = c.in
	}
	out, err := g.run(ctx, in)
	for attempt := 1; retryable(err) && attempt < 3; attempt++ {
		// A deadlock or serialization failure rolled the run back whole: it runs again
		// rather than failing every call in it.
		out, err = g.run(ctx, in)
	}
	var pe *pgconn.PgError
	if err != nil && len(batch) > 1 && errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22") {
		// A data exception is a call's input that PostgreSQL refuses (bytes that are no
		// UTF-8 if printable is ever bypassed; a username the database's encoding cannot
		// hold when the URL sets client_encoding=UTF8 on a LATIN1 database — pgx's default
		// client encoding is the database's, which stores anything): it must not fail the
		// calls that only shared its run. A failed run changed nothing (one statement, or
		// one transaction), so the batch runs again in halves, down to the refused call
		// alone: a few runs more, not one per call, for whoever sends such input on purpose.
		cancel()
		half := len(batch) / 2
		g.runBatch(parent, batch[:half])
		g.runBatch(parent, batch[half:])
		return
	}
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("%s for %d logins: %w (no answer from the database in %s)", g.what, len(batch), err, g.timeout)
	case err != nil:
		err = fmt.Errorf("%s for %d logins: %w", g.what, len(batch), err)
	case len(out) != len(batch):
		err = fmt.Errorf("%s for %d logins: %d results", g.what, len(batch), len(out))
	}
	var again []*groupCall[In, Out]
	for i, c := range batch {
		switch {
		case err != nil:
			c.err = err
		case g.again != nil && g.again(out[i]):
			again = append(again, c)
			continue
		default:
			c.out = out[i]
		}
		close(c.done)
	}
	if len(again) > 0 {
		// First in the queue: drain, which called this, takes them next.
		g.mu.Lock()
		g.queue = append(again, g.queue...)
		g.mu.Unlock()
	}
}

// retryable tells of an error after which a run that changed nothing may run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}
