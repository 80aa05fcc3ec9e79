package audit

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// NextID is the SQL expression that takes an event's id, for a caller that takes it in a
// query it runs anyway (as TakeID does in a query of its own) and appends the event later
// with QueueAppendAll: a hot path saves the round trip.
const NextID = "nextval('audit_events_id_seq')"

// QueueAppendAll queues on b one INSERT of the events, each with its id from NextID or
// TakeID, for a caller that sends them in a pgx.Batch beside statements of its own: the
// batch's statements commit together (a batch sent outside a transaction is one implicit
// transaction), in one round trip, and once the batch's results are read without error the
// events are committed. Like Append it takes no lock: the sealer chains the events after.
// Many events cost one statement, so that callers that gather the events of concurrent
// work (a group commit) pay one insert for all.
func (l *Log) QueueAppendAll(b *pgx.Batch, ids []int64, events []Event) error {
	if len(ids) != len(events) {
		return fmt.Errorf("audit: %d ids for %d events", len(ids), len(events))
	}
	if len(events) == 0 {
		return nil
	}
	var (
		at                = make([]time.Time, len(events))
		actors, actions   = make([]string, len(events)), make([]string, len(events))
		requests, persons = make([]pgtype.UUID, len(events)), make([]pgtype.UUID, len(events))
		data              = make([]string, len(events))
		macs              = make([][]byte, len(events))
	)
	for i, e := range events {
		if e.Action == CheckpointAction {
			return fmt.Errorf("audit %s: only Checkpoint writes checkpoints", e.Action)
		}
		r, err := l.newEntry(ids[i], e)
		if err != nil {
			return err
		}
		at[i], actors[i], actions[i], requests[i], persons[i], data[i], macs[i] = r.At, r.Actor, r.Action, r.request, r.person, string(r.Data), r.MAC
	}
	// json keeps its text as given, which the entry MAC covers; text[] cast row by row.
	b.Queue(`INSERT INTO audit_events (id, at, actor, action, request_id, person_id, data, mac)
		SELECT id, at, actor, action, request_id, person_id, data::json, mac
		FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::uuid[], $6::uuid[], $7::text[], $8::bytea[])
			AS e(id, at, actor, action, request_id, person_id, data, mac)`,
		ids, at, actors, actions, requests, persons, data, macs)
	return nil
}
