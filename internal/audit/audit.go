// Package audit keeps behorig's append-only, hash-chained audit log. Each event's hash covers
// the previous event's hash, so changing, inserting or deleting a row breaks the chain from
// that row on, and Verify names the first broken event.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is one state change. It is written in the same transaction as the change.
type Event struct {
	At        time.Time
	Actor     string // principal subject, or "system" for jobs
	Action    string // e.g. "request.submitted"
	RequestID string // optional
	PersonID  string // optional
	Data      any    // marshalled to JSON; never a secret
}

// Record is an event as stored.
type Record struct {
	Seq       int64
	At        time.Time
	Actor     string
	Action    string
	RequestID string
	PersonID  string
	Data      json.RawMessage
	PrevHash  []byte
	Hash      []byte
}

// appendLock serialises appends so that the chain is a line, not a tree.
const appendLock = 0x62656831 // "beh1"

// Append adds the event to the chain inside tx.
func Append(ctx context.Context, tx pgx.Tx, e Event) error {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return fmt.Errorf("audit %s: encode data: %w", e.Action, err)
	}
	if e.Data == nil {
		data = []byte("{}")
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", appendLock); err != nil {
		return fmt.Errorf("audit %s: lock: %w", e.Action, err)
	}
	r := Record{At: e.At.UTC().Truncate(time.Microsecond), Actor: e.Actor, Action: e.Action,
		RequestID: e.RequestID, PersonID: e.PersonID, Data: data, PrevHash: make([]byte, sha256.Size)}
	err = tx.QueryRow(ctx, "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").Scan(&r.Seq, &r.PrevHash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("audit %s: read chain head: %w", e.Action, err)
	}
	r.Seq++
	r.Hash = r.computeHash()
	_, err = tx.Exec(ctx, `INSERT INTO audit_events (seq, at, actor, action, request_id, person_id, data, prev_hash, hash)
		VALUES ($1, $2, $3, $4, NULLIF($5, '')::uuid, NULLIF($6, '')::uuid, $7, $8, $9)`,
		r.Seq, r.At, r.Actor, r.Action, r.RequestID, r.PersonID, string(r.Data), r.PrevHash, r.Hash)
	if err != nil {
		return fmt.Errorf("audit %s: insert: %w", e.Action, err)
	}
	return nil
}

// computeHash hashes the previous hash and every field, each length-prefixed so that no two
// different rows encode the same.
func (r Record) computeHash() []byte {
	h := sha256.New()
	h.Write(r.PrevHash)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(r.Seq))
	h.Write(n[:])
	for _, field := range []string{r.At.UTC().Format(time.RFC3339Nano), r.Actor, r.Action, r.RequestID, r.PersonID, string(r.Data)} {
		binary.BigEndian.PutUint64(n[:], uint64(len(field)))
		h.Write(n[:])
		h.Write([]byte(field))
	}
	return h.Sum(nil)
}

// BrokenError names the first event whose place in the chain does not hold.
type BrokenError struct {
	Seq    int64
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit log broken at event %d: %s", e.Seq, e.Reason)
}

// Querier is what Verify reads through: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const selectRecords = `SELECT seq, at, actor, action, coalesce(request_id::text, ''), coalesce(person_id::text, ''),
	data::text, prev_hash, hash FROM audit_events`

// Verify walks the whole chain in order and returns the number of events checked, or a
// *BrokenError for the first event that does not fit.
func Verify(ctx context.Context, db Querier) (int64, error) {
	rows, err := db.Query(ctx, selectRecords+" ORDER BY seq")
	if err != nil {
		return 0, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	prev := Record{Hash: make([]byte, sha256.Size)}
	var count int64
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return count, err
		}
		if reason := r.check(prev); reason != "" {
			return count, &BrokenError{Seq: r.Seq, Reason: reason}
		}
		prev = r
		count++
	}
	if err := rows.Err(); err != nil {
		return count, fmt.Errorf("read audit log: %w", err)
	}
	return count, nil
}

func (r Record) check(prev Record) string {
	switch {
	case r.Seq != prev.Seq+1:
		return fmt.Sprintf("follows event %d: events are missing", prev.Seq)
	case string(r.PrevHash) != string(prev.Hash):
		return "its previous-hash does not match the event before it"
	case string(r.Hash) != string(r.computeHash()):
		return "its content does not match its hash (the row was changed)"
	}
	return ""
}

func scanRecord(rows pgx.Rows) (Record, error) {
	var r Record
	var data string
	if err := rows.Scan(&r.Seq, &r.At, &r.Actor, &r.Action, &r.RequestID, &r.PersonID, &data, &r.PrevHash, &r.Hash); err != nil {
		return r, fmt.Errorf("read audit event: %w", err)
	}
	r.Data = json.RawMessage(data)
	return r, nil
}

// ForRequest returns the events of one request in order: the request's history.
func ForRequest(ctx context.Context, db Querier, requestID string) ([]Record, error) {
	rows, err := db.Query(ctx, selectRecords+" WHERE request_id = $1 ORDER BY seq", requestID)
	if err != nil {
		return nil, fmt.Errorf("read history of request %s: %w", requestID, err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
