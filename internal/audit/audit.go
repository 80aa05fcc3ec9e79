// Package audit keeps behorig's append-only audit log: a hash chain of events under a key that
// is not in the database, so that an event cannot be changed, inserted or deleted without
// Verify naming it, even by someone who can write to the database.
//
// # Append, then seal
//
// Every state change appends its event in its own transaction, and those transactions must
// commit side by side: a chain built at append time needs the head of the chain, so every
// transaction in the system would queue behind one lock until commit, and one that is slow
// (a big batch, a client that stalls) would stall everyone. So the log is built in two steps:
//
//   - Append inserts the event without a lock and without a place in the chain: it takes an
//     id from a sequence and stores an entry MAC of the id and the content (HMAC under a key
//     derived from the chain key). The MAC makes the unsealed event itself tamper-evident: a
//     row inserted, changed or copied by someone without the key does not verify.
//   - The sealer (Seal) takes a short transaction under a single-sealer lock, reads the
//     committed unsealed events in id order, gives them the next places in the chain (seq
//     1, 2, 3 ... without gaps) and seals each with an HMAC of the previous event's hash, its
//     seq and its entry MAC, and commits. It calls nothing outside the database. It runs every
//     second as a job (internal/jobs), before each checkpoint, and in `behorig audit verify`.
//
// The chain's order is the order of sealing, not of ids: an append that commits late (a
// long transaction) is sealed after events with higher ids that committed before it. Since a
// transaction sees only what committed before it, an event that follows from another (an
// approval of a submitted request) always gets a higher id and is never sealed before it.
// Ids rolled back leave gaps in the ids, never in seq: the sealer only sees committed rows.
// A crash between commit and seal loses nothing: the event waits, unsealed, for the next
// run, which continues the chain from the sealed head. A sealer that dies mid-way rolls back
// and releases its lock with its connection. Two sealers at once take turns on the lock, and
// the second continues from the head the first committed; the unique seq makes a fork
// impossible even without the lock.
//
// # What the window before sealing means
//
// The database refuses UPDATE, DELETE and TRUNCATE of events (migrations 014, 018), except
// the sealer's one-time setting of an unsealed event's seal fields. Someone who can switch
// the triggers off (a superuser) and deletes an event before it is sealed leaves no trace in
// the chain: that is the window, a second or so while the sealer runs. Changing or forging
// an unsealed event is caught by its entry MAC, and deleting a sealed one by the chain.
// Readers of history (ForRequest) show unsealed events too; Verify reports how many events
// wait for the sealer and how old the oldest is, and does not call them broken.
//
// # Checkpoints
//
// Deleting the newest sealed events leaves an intact, shorter chain. A checkpoint vouches for
// the sealed head (seq and hash, MAC'ed under the checkpoint key) and is written outside the
// database and into the log, so Verify can name the first deleted event. Checkpoint seals
// first, so it vouches for everything committed until then.
//
// # Old rows
//
// Events made before migration 018 were chained at append time: hash_version 1 (plain
// SHA-256, before migration 014) and 2 (HMAC over the content and the previous hash). They
// keep their seq and hashes, and the sealer continues their chain with version 3. Versions
// never go down along the chain: a version-1 or -2 row after a newer one was rewritten.
package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

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
	// event with a MAC.
	HashSHA256 = 1
	// HashHMAC is HMAC-SHA-256 under the chain key over the content and the previous hash, as
	// events were chained at append time before migration 018.
	HashHMAC = 2
	// HashSealed is the sealer's HMAC over the previous hash, the event's seq and its entry
	// MAC, which covers its id and content.
	HashSealed = 3
)

// Record is an event as stored. Seq is 0 and PrevHash, Hash and HashVersion are empty until
// the event is sealed.
type Record struct {
	Seq         int64
	ID          int64
	At          time.Time
	Actor       string
	Action      string
	RequestID   string
	PersonID    string
	Data        json.RawMessage
	PrevHash    []byte
	Hash        []byte
	HashVersion int
	MAC         []byte // the entry MAC, from version 3 on
}

// Sealed tells whether the record has its place in the chain.
func (r Record) Sealed() bool { return r.Seq != 0 }

// Log appends to, seals and verifies the audit log with keys derived from the secret key.
type Log struct {
	keys          keys
	checkpointKey []byte
	// beforeSealCommit, set only by tests, runs in the sealer's transaction before it commits.
	beforeSealCommit func(context.Context, pgx.Tx) error
}

// keys are the chain's keys: chain makes version-2 hashes, entry the entry MACs, seal the
// version-3 hashes. Entry and seal are derived from chain, each for one use only.
type keys struct {
	chain, entry, seal []byte
}

func deriveKeys(chain []byte) keys {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, chain)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	return keys{chain: chain, entry: derive("behorig audit entry v3"), seal: derive("behorig audit seal v3")}
}

// NewLog returns a Log keyed with keys, from secret.Box.AuditKeys.
func NewLog(k secret.AuditKeys) (*Log, error) {
	if len(k.Chain) < sha256.Size || len(k.Checkpoint) < sha256.Size {
		return nil, fmt.Errorf("audit: keys must be at least %d bytes", sha256.Size)
	}
	return &Log{keys: deriveKeys(k.Chain), checkpointKey: k.Checkpoint}, nil
}

// Append adds the event to the log inside tx. It takes no lock: the sealer chains the event
// once tx has committed.
func (l *Log) Append(ctx context.Context, tx pgx.Tx, e Event) error {
	if e.Action == CheckpointAction {
		return fmt.Errorf("audit %s: only Checkpoint writes checkpoints", e.Action)
	}
	return l.insert(ctx, tx, e)
}

// AppendAll adds the events to the log inside tx, in order, in two round trips whatever
// their number: one takes their ids, one copies them in. It is for work that records many
// events at once (a batch of provisioning); like Append it takes no lock.
func (l *Log) AppendAll(ctx context.Context, tx pgx.Tx, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		if e.Action == CheckpointAction {
			return fmt.Errorf("audit %s: only Checkpoint writes checkpoints", e.Action)
		}
	}
	rows, err := tx.Query(ctx, "SELECT nextval('audit_events_id_seq') FROM generate_series(1, $1)", len(events))
	if err != nil {
		return fmt.Errorf("audit: take %d ids: %w", len(events), err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(ids) != len(events) {
		return fmt.Errorf("audit: take %d ids: got %d: %w", len(events), len(ids), err)
	}
	slices.Sort(ids)
	records := make([]entry, len(events))
	for i, e := range events {
		if records[i], err = l.newEntry(ids[i], e); err != nil {
			return err
		}
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"audit_events"},
		[]string{"id", "at", "actor", "action", "request_id", "person_id", "data", "mac"},
		pgx.CopyFromSlice(len(records), func(i int) ([]any, error) {
			r := records[i]
			return []any{r.ID, r.At, r.Actor, r.Action, r.request, r.person, string(r.Data), r.MAC}, nil
		}))
	if err != nil {
		return fmt.Errorf("audit: insert %d events: %w", len(records), err)
	}
	return nil
}

// TakeID takes the id of an event that AppendWithID appends later in the same transaction.
// A transaction that must hold a lock others wait for (the request-number counter) takes the
// id before it, so that fewer statements run while the lock is held.
func (l *Log) TakeID(ctx context.Context, tx pgx.Tx) (int64, error) {
	var id int64
	if err := tx.QueryRow(ctx, "SELECT nextval('audit_events_id_seq')").Scan(&id); err != nil {
		return 0, fmt.Errorf("audit: take an id: %w", err)
	}
	return id, nil
}

// AppendWithID is Append with an id from TakeID.
func (l *Log) AppendWithID(ctx context.Context, tx pgx.Tx, id int64, e Event) error {
	if e.Action == CheckpointAction {
		return fmt.Errorf("audit %s: only Checkpoint writes checkpoints", e.Action)
	}
	return l.insertAs(ctx, tx, id, e)
}

func (l *Log) insert(ctx context.Context, tx pgx.Tx, e Event) error {
	// The id is taken first because the entry MAC covers it: a copy of the row under another
	// id does not verify.
	id, err := l.TakeID(ctx, tx)
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return l.insertAs(ctx, tx, id, e)
}

func (l *Log) insertAs(ctx context.Context, tx pgx.Tx, id int64, e Event) error {
	r, err := l.newEntry(id, e)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_events (id, at, actor, action, request_id, person_id, data, mac)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		r.ID, r.At, r.Actor, r.Action, r.request, r.person, string(r.Data), r.MAC)
	if err != nil {
		return fmt.Errorf("audit %s: insert: %w", e.Action, err)
	}
	return nil
}

// newEntry makes the event into the entry stored under id, with its entry MAC.
func (l *Log) newEntry(id int64, e Event) (entry, error) {
	r, err := newRecord(e)
	if err != nil {
		return entry{}, err
	}
	r.ID = id
	r.MAC = l.keys.entryMAC(r)
	return r, nil
}

// entry is a record about to be inserted, with its ids parsed as the database stores them.
type entry struct {
	Record
	request, person pgtype.UUID
}

func newRecord(e Event) (entry, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return entry{}, fmt.Errorf("audit %s: encode data: %w", e.Action, err)
	}
	if e.Data == nil {
		data = []byte("{}")
	}
	r := entry{Record: Record{At: e.At.UTC().Truncate(time.Microsecond), Actor: e.Actor, Action: e.Action,
		RequestID: e.RequestID, PersonID: e.PersonID, Data: data}}
	if r.request, err = parseUUID(e.RequestID); err != nil {
		return entry{}, fmt.Errorf("audit %s: request id: %w", e.Action, err)
	}
	if r.person, err = parseUUID(e.PersonID); err != nil {
		return entry{}, fmt.Errorf("audit %s: person id: %w", e.Action, err)
	}
	return r, nil
}

// parseUUID parses an optional uuid: "" is NULL.
func parseUUID(s string) (pgtype.UUID, error) {
	var u pgtype.UUID
	if s == "" {
		return u, nil
	}
	if err := u.Scan(s); err != nil {
		return u, fmt.Errorf("%q is not a uuid", s)
	}
	return u, nil
}

func uuidBytes(u pgtype.UUID) []byte {
	if !u.Valid {
		return nil
	}
	return u.Bytes[:]
}

// entryMAC is the MAC of an entry's id and content.
func (k keys) entryMAC(r entry) []byte {
	msg := appendEntryMessage(nil, r.ID, r.At.UnixMicro(), []byte(r.Actor), []byte(r.Action),
		uuidBytes(r.request), uuidBytes(r.person), r.Data)
	return appendMAC(nil, hmac.New(sha256.New, k.entry), msg)
}

// appendEntryMessage appends what the entry MAC is made over. It takes the columns as the
// database sends them in binary, so that Verify can check a row without decoding it.
func appendEntryMessage(b []byte, id, atMicro int64, actor, action, request, person, data []byte) []byte {
	b = appendInt(b, id)
	b = appendInt(b, atMicro)
	for _, field := range [...][]byte{actor, action, request, person, data} {
		b = appendField(b, field)
	}
	return b
}

// appendSealMessage appends what a version-3 hash is made over: the previous hash, the
// event's place and its entry MAC, which covers the rest.
func appendSealMessage(b, prevHash []byte, seq int64, mac []byte) []byte {
	b = append(b, prevHash...)
	b = appendInt(b, seq)
	return appendField(b, mac)
}

// appendChainedMessage appends what a version 1 or 2 hash is made over: the text forms of
// the columns, as Append made them before migration 018.
func appendChainedMessage(b, prevHash []byte, seq int64, at, actor, action, request, person, data []byte) []byte {
	b = append(b, prevHash...)
	b = appendInt(b, seq)
	for _, field := range [...][]byte{at, actor, action, request, person, data} {
		b = appendField(b, field)
	}
	return b
}

// appendMAC appends the hash (or MAC) h of msg to out.
func appendMAC(out []byte, h hash.Hash, msg []byte) []byte {
	h.Reset()
	h.Write(msg)
	return h.Sum(out)
}

// hash computes the record's hash as its HashVersion says, from the record (PrevHash, and
// for version 3 the entry MAC, included) and the keys. It is nil for an unknown version.
func (r Record) hash(k keys) []byte {
	switch r.HashVersion {
	case HashSHA256, HashHMAC:
		msg := appendChainedMessage(nil, r.PrevHash, r.Seq, []byte(r.At.UTC().Format(time.RFC3339Nano)),
			[]byte(r.Actor), []byte(r.Action), []byte(r.RequestID), []byte(r.PersonID), r.Data)
		if r.HashVersion == HashSHA256 {
			return appendMAC(nil, sha256.New(), msg)
		}
		return appendMAC(nil, hmac.New(sha256.New, k.chain), msg)
	case HashSealed:
		return appendMAC(nil, hmac.New(sha256.New, k.seal), appendSealMessage(nil, r.PrevHash, r.Seq, r.MAC))
	}
	return nil
}

func appendInt(b []byte, n int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

// appendField appends a length-prefixed field, so that no two different records encode the
// same.
func appendField(b, field []byte) []byte {
	return append(appendInt(b, int64(len(field))), field...)
}

// Querier is what the log is read through: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const selectRecords = `SELECT coalesce(seq, 0), id, at, actor, action, coalesce(request_id::text, ''), coalesce(person_id::text, ''),
	data::text, coalesce(prev_hash, ''), coalesce(hash, ''), coalesce(hash_version, 0), coalesce(mac, '') FROM audit_events`

func scanRecord(rows pgx.Rows) (Record, error) {
	var r Record
	var data string
	if err := rows.Scan(&r.Seq, &r.ID, &r.At, &r.Actor, &r.Action, &r.RequestID, &r.PersonID, &data, &r.PrevHash,
		&r.Hash, &r.HashVersion, &r.MAC); err != nil {
		return r, fmt.Errorf("read audit event: %w", err)
	}
	r.Data = json.RawMessage(data)
	return r, nil
}

// ForRequest returns the events of one request in order, the unsealed ones too: the
// request's history. Sealed events come in the chain's order, then those that wait for the
// sealer in the order of their ids, which is the order the sealer will give them.
func ForRequest(ctx context.Context, db Querier, requestID string) ([]Record, error) {
	rows, err := db.Query(ctx, selectRecords+" WHERE request_id = $1 ORDER BY seq NULLS LAST, id", requestID)
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
