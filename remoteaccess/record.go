package remoteaccess

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/internal/audit"
)

// An accepted login's record is its audit event and its factor's failure count set back to
// zero, and the answer may leave only once both are committed. Recorded one by one that was
// a transaction of five round trips per login. Now the records of logins accepted at the
// same time are a group commit (group.go): one pipelined batch, one round trip, one
// implicit transaction, whatever their number; each login's answer leaves when the batch
// that holds its record has committed.
//
// Only accepted logins come here: their record is the same for all (no count to read back),
// and they are what a rush is made of. Refusals and challenges keep their own transaction
// (finish), whose failure count goes into the event.

// acceptRecord is one accepted login to record: its factor, and its audit event with the
// id taken beforehand (audit.NextID, in the login's first query).
type acceptRecord struct {
	factorID string
	eventID  int64
	event    audit.Event
}

// newAcceptRecorder returns the group that records accepted logins on db.
func newAcceptRecorder(db *pgxpool.Pool, log *audit.Log) *group[acceptRecord, struct{}] {
	return &group[acceptRecord, struct{}]{what: "record accepted logins", maxRuns: 2, maxBatch: 256, timeout: 10 * time.Second,
		run: func(ctx context.Context, recs []acceptRecord) ([]struct{}, error) {
			factors := make([]string, len(recs))
			ids := make([]int64, len(recs))
			events := make([]audit.Event, len(recs))
			for i, rec := range recs {
				factors[i], ids[i], events[i] = rec.factorID, rec.eventID, rec.event
			}
			// The factors' rows are locked in no set order, so a batch can deadlock with
			// other work that updates several of them (a mass termination's revocation):
			// the batch is one transaction, rolled back whole, and runs again rather than
			// failing every login in it.
			for attempt := 1; ; attempt++ {
				b := &pgx.Batch{}
				// Setting zero twice is zero: a factor twice in a batch needs nothing more.
				b.Queue("UPDATE authenticators SET failures = 0 WHERE id = ANY($1::uuid[]) AND failures <> 0", factors)
				if err := log.QueueAppendAll(b, ids, events); err != nil {
					return nil, err
				}
				err := db.SendBatch(ctx, b).Close()
				var pe *pgconn.PgError
				if err != nil && errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") && attempt < 3 {
					continue
				}
				if err != nil {
					return nil, err
				}
				return make([]struct{}, len(recs)), nil
			}
		}}
}
