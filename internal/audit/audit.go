// Package audit keeps behorig's append-only audit log. Each event's hash is an HMAC of the
// event and the previous event's hash under a key that is not in the database, so an event
// cannot be changed, inserted or deleted without breaking the chain from there on, even by
// someone who can write to the database: they cannot recompute the MACs. Checkpoints of the
// chain's head, kept outside the database, reveal what the chain alone cannot: that the newest
// events were deleted. Verify names the first event that is wrong or missing.
package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/internal/secret"
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

// How an event's hash was made, stored with it.
const (
	// HashSHA256 is plain SHA-256, as events were hashed before migration 014. Anyone who can
	// write to the database can recompute it, so Verify accepts it only before the first
	// HashHMAC event.
	HashSHA256 = 1
	// HashHMAC is HMAC-SHA-256 under the chain key, which is not in the database.
	HashHMAC = 2
)

// Record is an event as stored.
type Record struct {
	Seq         int64
	At          time.Time
	Actor       string
	Action      string
	RequestID   string
	PersonID    string
	Data        json.RawMessage
	PrevHash    []byte
	Hash        []byte
	HashVersion int
}

// Log appends to and verifies the audit log with keys derived from the secret key.
type Log struct {
	keys secret.AuditKeys
}

// NewLog returns a Log keyed with keys, from secret.Box.AuditKeys.
func NewLog(keys secret.AuditKeys) (*Log, error) {
	if len(keys.Chain) < sha256.Size || len(keys.Checkpoint) < sha256.Size {
		return nil, fmt.Errorf("audit: keys must be at least %d bytes", sha256.Size)
	}
	return &Log{keys: keys}, nil
}

// appendLock serialises appends so that the chain is a line, not a tree.
const appendLock = 0x62656831 // "beh1"

// Append adds the event to the chain inside tx.
func (l *Log) Append(ctx context.Context, tx pgx.Tx, e Event) error {
	if e.Action == CheckpointAction {
		return fmt.Errorf("audit %s: only Checkpoint writes checkpoints", e.Action)
	}
	return appendEvent(ctx, tx, e, HashHMAC, l.keys.Chain)
}

func appendEvent(ctx context.Context, tx pgx.Tx, e Event, version int, key []byte) error {
	h, err := lockHead(ctx, tx)
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return insertAfter(ctx, tx, h, e, version, key)
}

// head is the newest event, which the next one chains to.
type head struct {
	Seq    int64 // 0 in an empty log
	Hash   []byte
	Action string
	// vouched tells that the head is a checkpoint of the event right before it (committedHead).
	vouched bool
}

// lockHead takes the append lock for the rest of tx and reads the head.
func lockHead(ctx context.Context, tx pgx.Tx) (head, error) {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", appendLock); err != nil {
		return head{}, fmt.Errorf("lock: %w", err)
	}
	h := head{Hash: make([]byte, sha256.Size)}
	err := tx.QueryRow(ctx, "SELECT seq, hash, action FROM audit_events ORDER BY seq DESC LIMIT 1").Scan(&h.Seq, &h.Hash, &h.Action)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return head{}, fmt.Errorf("read chain head: %w", err)
	}
	return h, nil
}

// insertAfter writes e as the event after h; the caller holds the append lock.
func insertAfter(ctx context.Context, tx pgx.Tx, h head, e Event, version int, key []byte) error {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return fmt.Errorf("audit %s: encode data: %w", e.Action, err)
	}
	if e.Data == nil {
		data = []byte("{}")
	}
	r := Record{Seq: h.Seq + 1, At: e.At.UTC().Truncate(time.Microsecond), Actor: e.Actor, Action: e.Action,
		RequestID: e.RequestID, PersonID: e.PersonID, Data: data, PrevHash: h.Hash, HashVersion: version}
	r.Hash = r.hash(key)
	_, err = tx.Exec(ctx, `INSERT INTO audit_events (seq, at, actor, action, request_id, person_id, data, prev_hash, hash, hash_version)
		VALUES ($1, $2, $3, $4, NULLIF($5, '')::uuid, NULLIF($6, '')::uuid, $7, $8, $9, $10)`,
		r.Seq, r.At, r.Actor, r.Action, r.RequestID, r.PersonID, string(r.Data), r.PrevHash, r.Hash, r.HashVersion)
	if err != nil {
		return fmt.Errorf("audit %s: insert: %w", e.Action, err)
	}
	return nil
}

// hash computes the record's hash as its HashVersion says, from the record (PrevHash
// included) and the chain key alone, so that whoever serialises appends can reuse it. It is
// nil for an unknown version.
func (r Record) hash(chainKey []byte) []byte {
	var h hash.Hash
	switch r.HashVersion {
	case HashSHA256:
		h = sha256.New()
	case HashHMAC:
		h = hmac.New(sha256.New, chainKey)
	default:
		return nil
	}
	h.Write(r.PrevHash)
	writeInt(h, r.Seq)
	for _, field := range []string{r.At.UTC().Format(time.RFC3339Nano), r.Actor, r.Action, r.RequestID, r.PersonID, string(r.Data)} {
		writeField(h, []byte(field))
	}
	return h.Sum(nil)
}

func writeInt(h hash.Hash, n int64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
}

// writeField writes a length-prefixed field, so that no two different records encode the same.
func writeField(h hash.Hash, field []byte) {
	writeInt(h, int64(len(field)))
	h.Write(field)
}

// Querier is what the log is read through: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const selectRecords = `SELECT seq, at, actor, action, coalesce(request_id::text, ''), coalesce(person_id::text, ''),
	data::text, prev_hash, hash, hash_version FROM audit_events`

func scanRecord(rows pgx.Rows) (Record, error) {
	var r Record
	var data string
	if err := rows.Scan(&r.Seq, &r.At, &r.Actor, &r.Action, &r.RequestID, &r.PersonID, &data, &r.PrevHash, &r.Hash, &r.HashVersion); err != nil {
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
