package remoteaccess

import (
	"context"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/internal/audit"
)

// An accepted login's record is its audit event and its factor's failure count set back to
// zero, and the answer may leave only once both are committed. Recorded one by one that was
// a transaction of five round trips per login. Now the records of logins accepted at the
// same time are a group commit (group.go): one transaction whatever their number; each
// login's answer leaves when the transaction that holds its record has committed.
//
// The factor is read again in that transaction, held against a revocation until it
// commits: a factor revoked while the login was checked (the grant ended, IT took the key
// back during the password's bind) makes the login a Reject, recorded as one. Without it,
// the gateway got an Accept, with a session as long as the grant read at the start.
//
// Only accepted logins come here: their record is the same for all (no count to read back),
// and they are what a rush is made of. Refusals and challenges keep their own transaction
// (finish), whose failure count goes into the event.

// acceptRecord is one accepted login to record: its factor, and its audit event with the
// id taken beforehand (audit.NextID, in the login's first query). The event's data is the
// login's, with "result": "accept".
type acceptRecord struct {
	factorID string
	eventID  int64
	event    audit.Event
}

// newAcceptRecorder returns the group that records accepted logins on db; each login's
// result tells whether it stayed accepted (its factor was still live).
func newAcceptRecorder(db *pgxpool.Pool, log *audit.Log) *group[acceptRecord, bool] {
	return &group[acceptRecord, bool]{what: "record accepted logins", maxRuns: 2, maxBatch: 256, timeout: 10 * time.Second,
		run: func(ctx context.Context, recs []acceptRecord) ([]bool, error) {
			return recordAccepts(ctx, db, log, recs)
		}}
}

// recordAccepts records the logins in one transaction of two statements: the factors still
// live, held and their counts set back to zero; then the events, a Reject's for a login
// whose factor was revoked meanwhile.
func recordAccepts(ctx context.Context, db *pgxpool.Pool, log *audit.Log, recs []acceptRecord) ([]bool, error) {
	factors := make([]string, len(recs))
	ids := make([]int64, len(recs))
	for i, rec := range recs {
		factors[i], ids[i] = rec.factorID, rec.eventID
	}
	kept := make([]bool, len(recs))
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// Held in the order of their ids, as the subjects' read claims them (subjectsSQL);
		// setting zero twice is zero, so a factor twice in a batch needs nothing more.
		rows, err := tx.Query(ctx, `WITH held AS MATERIALIZED (
				SELECT id FROM authenticators WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL ORDER BY id FOR NO KEY UPDATE
			), reset AS (
				UPDATE authenticators a SET failures = 0 FROM held WHERE a.id = held.id AND a.failures <> 0
			)
			SELECT id::text FROM held`, factors)
		if err != nil {
			return err
		}
		held, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		live := map[string]bool{}
		for _, id := range held {
			live[id] = true
		}
		events := make([]audit.Event, len(recs))
		for i, rec := range recs {
			events[i], kept[i] = rec.event, live[rec.factorID]
			if !kept[i] {
				events[i].Data = rejected(rec.event.Data, ReasonNoFactor)
			}
		}
		b := &pgx.Batch{}
		if err := log.QueueAppendAll(b, ids, events); err != nil {
			return err
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, err
	}
	return kept, nil
}

// rejected is an accepted login's event data made a Reject's for reason.
func rejected(data any, reason string) map[string]any {
	out := map[string]any{}
	if m, ok := data.(map[string]any); ok {
		maps.Copy(out, m)
	}
	out["result"], out["reason"] = LoginRejected, reason
	return out
}
