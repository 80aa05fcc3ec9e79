package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Jobs that arrive together are converged together, each job gets its own grant's outcome,
// and a batch that panics fails its jobs without ending the process.
func TestBatcherGathersJobsAndKeepsTheirOutcomes(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	b := &convergeBatcher{maxBatch: 8, gather: 20 * time.Millisecond, timeout: time.Minute,
		converge: func(ctx context.Context, ids []string) []error {
			mu.Lock()
			sizes = append(sizes, len(ids))
			mu.Unlock()
			errs := make([]error, len(ids))
			for i, id := range ids {
				if strings.HasSuffix(id, "-bad") {
					errs[i] = errors.New(id + " failed")
				}
				if id == "panic" {
					panic("injected")
				}
			}
			return errs
		}}
	const jobs = 20
	errs := make([]error, jobs)
	var wg sync.WaitGroup
	for i := range jobs {
		id := fmt.Sprintf("g%d", i)
		if i%5 == 0 {
			id += "-bad"
		}
		wg.Go(func() { errs[i] = b.Converge(context.Background(), id) })
	}
	wg.Wait()
	for i, err := range errs {
		if (i%5 == 0) != (err != nil) {
			t.Errorf("job %d: %v", i, err)
		}
	}
	total := 0
	for _, n := range sizes {
		if n > 8 {
			t.Errorf("a batch of %d, more than the most of 8", n)
		}
		total += n
	}
	if total != jobs || len(sizes) >= jobs {
		t.Errorf("batches %v for %d jobs", sizes, jobs)
	}
	t.Logf("%d jobs in batches of %v", jobs, sizes)

	if err := b.Converge(context.Background(), "panic"); err == nil || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("a panicking batch: %v", err)
	}
	if err := b.Converge(context.Background(), "g-after"); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
}
