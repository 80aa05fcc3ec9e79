package remoteaccess

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// One call's input that PostgreSQL refuses (a data exception, as a username a LATIN1
// database cannot hold with client_encoding=UTF8: SQLSTATE 22P05) fails that call only, not the others that shared its run; a run that
// fails otherwise still fails every call in it.
func TestGroupIsolatesARefusedInput(t *testing.T) {
	start := make(chan struct{})
	var once sync.Once
	g := &group[string, string]{what: "read", maxRuns: 1, maxBatch: 256, timeout: 5 * time.Second,
		run: func(ctx context.Context, in []string) ([]string, error) {
			once.Do(func() { <-start }) // the first run waits, so that the rest share the next
			out := make([]string, len(in))
			for i, s := range in {
				switch s {
				case "€":
					return nil, &pgconn.PgError{Code: "22P05", Message: "character has no equivalent in encoding LATIN1"}
				case "down":
					return nil, &pgconn.PgError{Code: "57P01", Message: "terminating connection"}
				}
				out[i] = "row of " + s
			}
			return out, nil
		}}
	ctx := t.Context()
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := g.do(ctx, "first"); err != nil {
			t.Error(err)
		}
	})
	for g.running0() == 0 {
		time.Sleep(time.Millisecond)
	}
	names := []string{"€"}
	for i := range 200 {
		names = append(names, fmt.Sprintf("user%d", i))
	}
	errs := make([]error, len(names))
	outs := make([]string, len(names))
	for i, n := range names {
		wg.Go(func() { outs[i], errs[i] = g.do(ctx, n) })
	}
	for g.queued() < len(names) {
		time.Sleep(time.Millisecond)
	}
	runsBefore := g.runs.Load()
	close(start)
	wg.Wait()
	if errs[0] == nil {
		t.Errorf("the refused input got %q, no error", outs[0])
	}
	for i := 1; i < len(names); i++ {
		if errs[i] != nil || outs[i] != "row of "+names[i] {
			t.Fatalf("%s: %q, %v (failed by another call's input)", names[i], outs[i], errs[i])
		}
	}
	if runs := g.runs.Load() - runsBefore; runs > 20 {
		t.Errorf("%d runs for one refused input among %d", runs, len(names))
	}

	// Any other error fails the whole run, as before.
	once = sync.Once{}
	start = make(chan struct{})
	wg.Go(func() { _, _ = g.do(ctx, "first") })
	for g.running0() == 0 {
		time.Sleep(time.Millisecond)
	}
	var down, other error
	wg.Go(func() { _, down = g.do(ctx, "down") })
	wg.Go(func() { _, other = g.do(ctx, "other") })
	for g.queued() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(start)
	wg.Wait()
	if down == nil || other == nil {
		t.Errorf("a lost connection failed %v and %v: want both", down, other)
	}
}

func (g *group[In, Out]) running0() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}

func (g *group[In, Out]) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}
