package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"time"

	"github.com/jackc/pgx/v5"
)

// loadChunk is how many events LoadSynthetic copies in one transaction.
const loadChunk = 50000

// LoadSynthetic adds n events to the log in bulk, already sealed, for scale fixtures and
// benchmarks: event(i) makes the i-th (0 ≤ i < n); nil makes a plain mix of approvals,
// provisionings and revocations by a few hundred actors, one a second up to now. The events
// are appended and sealed exactly as Append and Seal would (same entry MACs and seals,
// following the sealed head), only copied with COPY in chunks of 50,000, each in a
// transaction that holds the sealer's lock. Events waiting for the sealer are sealed first.
func LoadSynthetic(ctx context.Context, db Beginner, log *Log, n int, event func(i int) Event) error {
	if event == nil {
		event = syntheticEvents(time.Now(), n)
	}
	for start := 0; start < n; start += loadChunk {
		size := min(loadChunk, n-start)
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			return log.loadChunk(ctx, tx, start, size, event)
		})
		if err != nil {
			return fmt.Errorf("load synthetic audit events %d to %d: %w", start, start+size, err)
		}
	}
	return nil
}

func (l *Log) loadChunk(ctx context.Context, tx pgx.Tx, start, size int, event func(int) Event) error {
	for {
		n, err := l.sealInTx(ctx, tx, sealBatch) // takes the sealer's lock first
		if err != nil {
			return err
		}
		if n < sealBatch {
			break
		}
	}
	h, err := sealedHead(ctx, tx)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, "SELECT nextval('audit_events_id_seq') FROM generate_series(1, $1)", size)
	if err != nil {
		return fmt.Errorf("take ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("take ids: %w", err)
	}
	src := &syntheticRows{log: l, event: event, start: start, ids: ids, seq: h.Seq, prevHash: h.Hash, sealedAt: time.Now(),
		entry: hmac.New(sha256.New, l.keys.entry), seal: hmac.New(sha256.New, l.keys.seal), values: make([]any, 13), i: -1}
	copied, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, []string{"id", "seq", "at", "actor", "action", "request_id",
		"person_id", "data", "prev_hash", "hash", "hash_version", "mac", "sealed_at"}, src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if copied != int64(size) {
		return fmt.Errorf("copied %d of %d events", copied, size)
	}
	return nil
}

// syntheticRows makes the rows of one chunk as Append and Seal would, chaining each to the
// one before.
type syntheticRows struct {
	log         *Log
	event       func(int) Event
	start       int
	ids         []int64
	i           int
	seq         int64
	prevHash    []byte
	sealedAt    time.Time
	entry, seal hash.Hash
	msg         []byte
	values      []any
	err         error
}

func (s *syntheticRows) Next() bool {
	s.i++
	return s.err == nil && s.i < len(s.ids)
}

func (s *syntheticRows) Values() ([]any, error) {
	r, err := newRecord(s.event(s.start + s.i))
	if err != nil {
		s.err = err
		return nil, err
	}
	r.ID = s.ids[s.i]
	s.msg = appendEntryMessage(s.msg[:0], r.ID, r.At.UnixMicro(), []byte(r.Actor), []byte(r.Action),
		uuidBytes(r.request), uuidBytes(r.person), r.Data)
	mac := appendMAC(nil, s.entry, s.msg)
	s.seq++
	s.msg = appendSealMessage(s.msg[:0], s.prevHash, s.seq, mac)
	sum := appendMAC(nil, s.seal, s.msg)
	s.values[0], s.values[1], s.values[2], s.values[3], s.values[4] = r.ID, s.seq, r.At, r.Actor, r.Action
	s.values[5], s.values[6], s.values[7], s.values[8], s.values[9] = r.request, r.person, string(r.Data), s.prevHash, sum
	s.values[10], s.values[11], s.values[12] = int16(HashSealed), mac, s.sealedAt
	s.prevHash = sum
	return s.values, nil
}

func (s *syntheticRows) Err() error { return s.err }

// syntheticEvents makes n plain events, one a second, the last at end.
func syntheticEvents(end time.Time, n int) func(int) Event {
	actions := [...]string{"request.submitted", "request.approved", "terms.signed", "grant.provisioned", "grant.revoked"}
	first := end.Add(-time.Duration(n) * time.Second)
	return func(i int) Event {
		return Event{At: first.Add(time.Duration(i) * time.Second), Actor: fmt.Sprintf("user-%d", i%500),
			Action: actions[i%len(actions)], Data: map[string]any{"n": i, "unit": fmt.Sprintf("%d", 5000+i%300)}}
	}
}
