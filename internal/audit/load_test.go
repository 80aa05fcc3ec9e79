package audit_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/audit"
)

// Events loaded in bulk continue the chain after the events before them, seal those that
// waited, and are continued by the sealer: one chain that verifies.
func TestLoadSynthetic(t *testing.T) {
	pool, log := emptyLog(t), newLog(t)
	appendEvents(t, pool, log, 2)
	appendUnsealed(t, pool, log, 1)
	const request = "0b5c2e1e-6f4a-4f0e-9a53-0d3c1c6b7f11"
	err := audit.LoadSynthetic(ctx, pool, log, 60_000, func(i int) audit.Event {
		return audit.Event{At: at.Add(time.Duration(i) * time.Millisecond), Actor: "loader", Action: "request.approved",
			RequestID: request, Data: map[string]int{"n": i}}
	})
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, pool, log, 1)
	done, err := log.Verify(ctx, pool, nil)
	if err != nil || done.Events != 60_004 || done.Unsealed.Events != 0 {
		t.Fatalf("Verify = %+v, %v; want 60,004 events in one chain", done, err)
	}
	history, err := audit.ForRequest(ctx, pool, request)
	if err != nil || len(history) != 60_000 || history[0].Seq != 4 || history[len(history)-1].Seq != 60_003 {
		t.Fatalf("history of the loaded request: %d events, %v; want 60,000, events 4 to 60,003", len(history), err)
	}
	execAsSuperuser(t, pool, `UPDATE audit_events SET data = '{"n": 7}' WHERE seq = 50005`)
	_, err = log.Verify(ctx, pool, nil)
	wantBroken(t, err, 50005)
}

// BenchmarkAuditVerify verifies a log of 1,000,000 events, loaded in bulk, as
// `behorig audit verify` does; issue 16 asks for less than 10 s.
func BenchmarkAuditVerify(b *testing.B) {
	const events = 1_000_000
	pool, log := emptyLog(b), newLog(b)
	started := time.Now()
	if err := audit.LoadSynthetic(ctx, pool, log, events, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE audit_events"); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d events in %s (GOMAXPROCS %d)", events, time.Since(started).Round(time.Millisecond), runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	for b.Loop() {
		done, err := log.Verify(ctx, pool, nil)
		if err != nil || done.Events != events {
			b.Fatalf("Verify = %+v, %v", done, err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "verify_s")
}
