package audit_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/internal/audit"
)

// Events queued on a batch with ids taken beforehand (a group commit's) are the log's like
// any other: they commit with the batch, the sealer chains them and they verify, with a
// person's id and without, their data as it was given. A batch whose other statement fails
// leaves none of them behind.
func TestQueueAppendAll(t *testing.T) {
	pool, log := emptyLog(t), newLog(t)
	rows, err := pool.Query(ctx, "SELECT "+audit.NextID+" FROM generate_series(1, 3)")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	events := []audit.Event{approval(0), approval(1), approval(2)}
	events[1].PersonID = "7f9c24e5-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
	b := &pgx.Batch{}
	b.Queue("SELECT 1")
	if err := log.QueueAppendAll(b, ids, events); err != nil {
		t.Fatal(err)
	}
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	var person string
	if err := pool.QueryRow(ctx, "SELECT person_id::text FROM audit_events WHERE id = $1", ids[1]).Scan(&person); err != nil || person != events[1].PersonID {
		t.Fatalf("person of the second event = %q, %v", person, err)
	}
	if n := seal(t, pool, log); n != 3 {
		t.Fatalf("sealed %d events; want 3", n)
	}
	done, err := log.Verify(ctx, pool, nil)
	if err != nil || done.Events != 3 {
		t.Fatalf("Verify = %+v, %v; want 3 events, intact", done, err)
	}

	// The batch is one transaction: a statement that fails takes the events with it.
	b = &pgx.Batch{}
	if err := log.QueueAppendAll(b, []int64{ids[2] + 1}, []audit.Event{approval(3)}); err != nil {
		t.Fatal(err)
	}
	b.Queue("SELECT 1/0")
	if err := pool.SendBatch(ctx, b).Close(); err == nil {
		t.Fatal("a batch dividing by zero went through")
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM audit_events").Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d events after the failed batch (%v); want 3", n, err)
	}

	if err := log.QueueAppendAll(&pgx.Batch{}, ids[:1], events); err == nil {
		t.Fatal("QueueAppendAll took 1 id for 3 events")
	}
	if err := log.QueueAppendAll(&pgx.Batch{}, ids[:1], []audit.Event{{Action: audit.CheckpointAction}}); err == nil {
		t.Fatal("QueueAppendAll wrote a checkpoint")
	}
}
