package jobs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/behorig/behorig/provisioning"
)

// convergeBatcher lets the provision and revoke jobs that run at the same moment converge
// their persons as one batch (provisioning.ConvergeGrants): a day's starters or a
// reorganisation's leavers cost the directory one change per group and the database one
// transaction, not one each. Every job stays a River job of its own: it waits for its
// person's outcome, so that a person who fails retries alone while the others complete.
//
// The first job to arrive leads: after a short gathering pause it takes what has queued (up
// to maxBatch) and runs it, and again while more has queued, so that one job alone waits only
// the pause and a burst goes through in batches as large as the workers that run it.
type convergeBatcher struct {
	converge func(ctx context.Context, grantIDs []string) []error
	maxBatch int
	gather   time.Duration // how long the leader waits for others before the first batch
	timeout  time.Duration // how long one batch may take

	mu      sync.Mutex
	queue   []*batchCall
	running bool
}

type batchCall struct {
	ctx     context.Context
	grantID string
	done    chan error
}

func newConvergeBatcher(service *provisioning.Service, timeout time.Duration) *convergeBatcher {
	return &convergeBatcher{converge: service.ConvergeGrants, maxBatch: 100, gather: 2 * time.Millisecond, timeout: timeout}
}

// Converge converges the grant's person in the next batch and returns its outcome.
func (b *convergeBatcher) Converge(ctx context.Context, grantID string) error {
	call := &batchCall{ctx: ctx, grantID: grantID, done: make(chan error, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, call)
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if lead {
		go b.run(context.WithoutCancel(ctx))
	}
	select {
	case err := <-call.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // the batch goes on; the job's retry finds the person converged or not
	}
}

// run works through the queue until it is empty. The batch runs under a context of its own:
// one job's timeout must not cut short the others' work.
func (b *convergeBatcher) run(base context.Context) {
	time.Sleep(b.gather)
	for {
		b.mu.Lock()
		n := min(len(b.queue), b.maxBatch)
		calls := b.queue[:n:n]
		b.queue = b.queue[n:]
		if n == 0 {
			b.running = false
		}
		b.mu.Unlock()
		if n == 0 {
			return
		}
		b.runBatch(base, calls)
	}
}

func (b *convergeBatcher) runBatch(base context.Context, calls []*batchCall) {
	ctx, cancel := context.WithTimeout(base, b.timeout)
	defer cancel()
	ids := make([]string, 0, len(calls))
	for _, c := range calls {
		if c.ctx.Err() == nil { // its job gave up waiting; its retry will come
			ids = append(ids, c.grantID)
		}
	}
	errs, err := b.safeConverge(ctx, ids)
	i := 0
	for _, c := range calls {
		if c.ctx.Err() != nil {
			c.done <- c.ctx.Err()
			continue
		}
		if err != nil {
			c.done <- err
		} else {
			c.done <- errs[i]
		}
		i++
	}
}

// safeConverge keeps a panic that escaped the batch from ending the process: the batch runs
// outside River's worker, which would otherwise have caught it.
func (b *convergeBatcher) safeConverge(ctx context.Context, ids []string) (errs []error, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("converge batch of %d: panic: %v", len(ids), r)
		}
	}()
	if len(ids) == 0 {
		return nil, nil
	}
	return b.converge(ctx, ids), nil
}
