package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"time"

	"github.com/jackc/pgx/v5"
)

// BrokenError names the first event that is wrong or missing: by its place in the chain
// (Seq), or by its id (ID, Seq 0) when it is not sealed yet.
type BrokenError struct {
	Seq    int64
	ID     int64
	Reason string
}

func (e *BrokenError) Error() string {
	if e.Seq == 0 {
		return fmt.Sprintf("audit log broken at unsealed event id %d: %s", e.ID, e.Reason)
	}
	return fmt.Sprintf("audit log broken at event %d: %s", e.Seq, e.Reason)
}

// ForgedCheckpointError is a checkpoint whose MAC does not verify: it was not made with this
// secret key.
type ForgedCheckpointError struct {
	Checkpoint Checkpoint
}

func (e *ForgedCheckpointError) Error() string {
	return fmt.Sprintf("checkpoint of event %d at %s is forged: its MAC does not verify under this secret key",
		e.Checkpoint.Seq, e.Checkpoint.At.Format(time.RFC3339))
}

// Verified is what Verify found intact.
type Verified struct {
	Events      int64 // every sealed event of the chain, checkpoint events included
	Checkpoints int   // checkpoints kept outside the database
	// Unsealed are the events that wait for the sealer, each checked against its entry MAC.
	// They are not broken; one that waits long means that no sealer runs.
	Unsealed Pending
}

// The columns Verify reads, in binary: it decodes them itself, without allocating per row.
const verifyColumns = `seq, id, at, actor, action, request_id, person_id, data, prev_hash, hash, hash_version, mac`

// Verify walks the whole chain in order, checking each event's link, MAC and place, each
// checkpoint event in it, and the checkpoints kept outside the database; then it checks the
// events that wait for the sealer. It returns what it checked, or a *ForgedCheckpointError,
// or a *BrokenError for the first event that is wrong or missing.
func (l *Log) Verify(ctx context.Context, db Querier, checkpoints []Checkpoint) (Verified, error) {
	bySeq := map[int64][]Checkpoint{}
	for _, c := range checkpoints {
		if !l.validCheckpoint(c) {
			return Verified{}, &ForgedCheckpointError{Checkpoint: c}
		}
		bySeq[c.Seq] = append(bySeq[c.Seq], c)
	}
	var done Verified
	w := newWalker(l)
	err := eachRow(ctx, db, "SELECT "+verifyColumns+" FROM audit_events WHERE seq IS NOT NULL ORDER BY seq", func(r *rawRow) error {
		if broken := w.check(r); broken != nil {
			return broken
		}
		if len(bySeq) > 0 {
			for _, c := range bySeq[r.seq] {
				if !bytes.Equal(c.Hash, r.hash) {
					return &BrokenError{Seq: r.seq, Reason: fmt.Sprintf(
						"its hash differs from the one the checkpoint of %s vouches for", c.At.Format(time.RFC3339))}
				}
				done.Checkpoints++
			}
			delete(bySeq, r.seq)
		}
		done.Events++
		return nil
	})
	if err != nil {
		return done, err
	}
	if beyond, ok := newest(bySeq); ok {
		return done, &BrokenError{Seq: w.prevSeq + 1, Reason: fmt.Sprintf(
			"missing: the log ends at event %d, but the checkpoint of %s vouches for event %d (deleted newest events)",
			w.prevSeq, beyond.At.Format(time.RFC3339), beyond.Seq)}
	}
	if err := checkLoggedCheckpoints(ctx, db, w.logged); err != nil {
		return done, err
	}
	err = eachRow(ctx, db, "SELECT "+verifyColumns+" FROM audit_events WHERE seq IS NULL ORDER BY id", func(r *rawRow) error {
		if !w.entryValid(r) {
			return &BrokenError{ID: r.id, Reason: "its content does not match its entry MAC " +
				"(the row was changed, or written without the secret key)"}
		}
		at := time.UnixMicro(r.atMicro)
		if done.Unsealed.Events == 0 || at.Before(done.Unsealed.Oldest) {
			done.Unsealed.Oldest = at
		}
		done.Unsealed.Events++
		return nil
	})
	return done, err
}

// rawRow is one event as the database sends it in binary; its slices are valid only until
// the next row.
type rawRow struct {
	seq, id, atMicro                                          int64
	version                                                   int
	actor, action, request, person, data, prevHash, hash, mac []byte
}

// postgresEpoch is 2000-01-01 in Unix microseconds: binary timestamps count from it.
const postgresEpoch = 946684800 * 1000000

// eachRow streams the rows of query, which selects verifyColumns, to fn in binary format.
func eachRow(ctx context.Context, db Querier, query string, fn func(*rawRow) error) error {
	rows, err := db.Query(ctx, query, pgx.QueryResultFormats{pgx.BinaryFormatCode})
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	for _, f := range rows.FieldDescriptions() {
		if f.Format != pgx.BinaryFormatCode {
			return fmt.Errorf("read audit log: column %s came as text; the connection must use the extended protocol", f.Name)
		}
	}
	var r rawRow
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 12 || len(v[1]) != 8 || len(v[2]) != 8 || (v[0] != nil && len(v[0]) != 8) || (v[10] != nil && len(v[10]) != 2) {
			return fmt.Errorf("read audit log: unexpected row layout")
		}
		r = rawRow{id: int64(binary.BigEndian.Uint64(v[1])), atMicro: int64(binary.BigEndian.Uint64(v[2])) + postgresEpoch,
			actor: v[3], action: v[4], request: v[5], person: v[6], data: v[7], prevHash: v[8], hash: v[9], mac: v[11]}
		if v[0] != nil {
			r.seq = int64(binary.BigEndian.Uint64(v[0]))
		}
		if v[10] != nil {
			r.version = int(int16(binary.BigEndian.Uint16(v[10])))
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	return nil
}

// walker checks the chain one event after another, reusing its hashes and buffers.
type walker struct {
	sha, chain, entry, seal hash.Hash
	validCheckpoint         func(Checkpoint) bool
	msg, want, at, req, per []byte // scratch
	prevSeq                 int64
	prevHash                [sha256.Size]byte
	newestVersion           int
	logged                  []loggedCheckpoint
}

func newWalker(l *Log) *walker {
	return &walker{sha: sha256.New(), chain: hmac.New(sha256.New, l.keys.chain), entry: hmac.New(sha256.New, l.keys.entry),
		seal: hmac.New(sha256.New, l.keys.seal), validCheckpoint: l.validCheckpoint,
		msg: make([]byte, 0, 1024), want: make([]byte, 0, sha256.Size),
		at: make([]byte, 0, 64), req: make([]byte, 0, 36), per: make([]byte, 0, 36)}
}

// check returns why r does not follow the event before it, or nil, and moves on to r.
func (w *walker) check(r *rawRow) *BrokenError {
	broken := func(format string, args ...any) *BrokenError {
		return &BrokenError{Seq: r.seq, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case r.seq != w.prevSeq+1:
		return &BrokenError{Seq: w.prevSeq + 1, Reason: fmt.Sprintf("missing: event %d follows event %d", r.seq, w.prevSeq)}
	case r.version < HashSHA256 || r.version > HashSealed:
		return broken("unknown hash version %d", r.version)
	case r.version == HashSHA256 && w.newestVersion > HashSHA256:
		return broken("hashed with plain SHA-256 after events with a MAC (the row was rewritten)")
	case r.version < w.newestVersion:
		return broken("hashed as version %d after events of version %d (the row was rewritten)", r.version, w.newestVersion)
	case !bytes.Equal(r.prevHash, w.prevHash[:]):
		return broken("its previous-hash does not match the event before it")
	}
	switch r.version {
	case HashSHA256, HashHMAC:
		if !hmac.Equal(r.hash, w.chainedHash(r)) {
			if r.version == HashSHA256 {
				return broken("its content does not match its hash (the row was changed)")
			}
			return broken("its content does not match its MAC (the row was changed, or hashed without the secret key)")
		}
	case HashSealed:
		if !w.entryValid(r) {
			return broken("its content does not match its entry MAC (the row was changed, or written without the secret key)")
		}
		w.msg = appendSealMessage(w.msg[:0], r.prevHash, r.seq, r.mac)
		w.want = appendMAC(w.want[:0], w.seal, w.msg)
		if !hmac.Equal(r.hash, w.want) {
			return broken("its seal does not match its place in the chain (the row was changed, or sealed without the secret key)")
		}
	}
	if string(r.action) == CheckpointAction {
		if broken := w.checkCheckpointEvent(r); broken != nil {
			return broken
		}
	}
	w.prevSeq = r.seq
	copy(w.prevHash[:], r.hash)
	w.newestVersion = max(w.newestVersion, r.version)
	return nil
}

func (w *walker) entryValid(r *rawRow) bool {
	w.msg = appendEntryMessage(w.msg[:0], r.id, r.atMicro, r.actor, r.action, r.request, r.person, r.data)
	w.want = appendMAC(w.want[:0], w.entry, w.msg)
	return hmac.Equal(r.mac, w.want)
}

// chainedHash is the hash of a version 1 or 2 event, made over the text forms of its columns.
func (w *walker) chainedHash(r *rawRow) []byte {
	h := w.sha
	if r.version == HashHMAC {
		h = w.chain
	}
	w.at = time.UnixMicro(r.atMicro).UTC().AppendFormat(w.at[:0], time.RFC3339Nano)
	w.req = appendUUID(w.req[:0], r.request)
	w.per = appendUUID(w.per[:0], r.person)
	w.msg = appendChainedMessage(w.msg[:0], r.prevHash, r.seq, w.at, r.actor, r.action, w.req, w.per, r.data)
	w.want = appendMAC(w.want[:0], h, w.msg)
	return w.want
}

// appendUUID appends the text form PostgreSQL gives a uuid, or nothing for NULL.
func appendUUID(out, u []byte) []byte {
	if len(u) != 16 {
		return out
	}
	for i, part := range [][]byte{u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]} {
		if i > 0 {
			out = append(out, '-')
		}
		out = hex.AppendEncode(out, part)
	}
	return out
}

// loggedCheckpoint is a checkpoint kept in the log itself, as event number event.
type loggedCheckpoint struct {
	event int64
	Checkpoint
}

// checkCheckpointEvent checks that a checkpoint in the log is signed and vouches for an
// earlier event; Verify checks that event's hash when the walk is done.
func (w *walker) checkCheckpointEvent(r *rawRow) *BrokenError {
	var c Checkpoint
	switch {
	case json.Unmarshal(r.data, &c) != nil:
		return &BrokenError{Seq: r.seq, Reason: "its checkpoint cannot be read"}
	case !w.validCheckpoint(c):
		return &BrokenError{Seq: r.seq, Reason: "its checkpoint is forged: the MAC does not verify"}
	case c.Seq < 1 || c.Seq >= r.seq:
		return &BrokenError{Seq: r.seq, Reason: fmt.Sprintf("its checkpoint vouches for event %d, which does not come before it", c.Seq)}
	}
	w.logged = append(w.logged, loggedCheckpoint{event: r.seq, Checkpoint: c})
	return nil
}

// checkLoggedCheckpoints checks that each checkpoint in the log vouches for the event it
// names. That event came before it, but not always just before: the checkpoint is appended
// after the sink was written, holding no lock meanwhile.
func checkLoggedCheckpoints(ctx context.Context, db Querier, logged []loggedCheckpoint) error {
	if len(logged) == 0 {
		return nil
	}
	seqs := make([]int64, len(logged))
	for i, c := range logged {
		seqs[i] = c.Seq
	}
	rows, err := db.Query(ctx, "SELECT seq, hash FROM audit_events WHERE seq = ANY($1)", seqs)
	if err != nil {
		return fmt.Errorf("read events vouched for: %w", err)
	}
	hashes := map[int64][]byte{}
	for rows.Next() {
		var seq int64
		var hash []byte
		if err := rows.Scan(&seq, &hash); err != nil {
			return fmt.Errorf("read events vouched for: %w", err)
		}
		hashes[seq] = hash
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events vouched for: %w", err)
	}
	for _, c := range logged {
		if !bytes.Equal(hashes[c.Seq], c.Hash) {
			return &BrokenError{Seq: c.Seq, Reason: fmt.Sprintf("its hash differs from the one the checkpoint in event %d vouches for", c.event)}
		}
	}
	return nil
}

// newest returns the checkpoint with the highest seq, if any.
func newest(bySeq map[int64][]Checkpoint) (Checkpoint, bool) {
	var out Checkpoint
	found := false
	for seq, cs := range bySeq {
		if !found || seq > out.Seq {
			out, found = cs[0], true
		}
	}
	return out, found
}
