package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"
)

// BrokenError names the first event that is wrong or missing.
type BrokenError struct {
	Seq    int64
	Reason string
}

func (e *BrokenError) Error() string {
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
	Events      int64 // every event of the chain, checkpoint events included
	Checkpoints int   // checkpoints kept outside the database
}

// Verify walks the whole chain in order, checking each event's link, MAC and place, each
// checkpoint event in it, and the checkpoints kept outside the database. It returns what it
// checked, or a *ForgedCheckpointError, or a *BrokenError for the first event that is wrong
// or missing.
func (l *Log) Verify(ctx context.Context, db Querier, checkpoints []Checkpoint) (Verified, error) {
	bySeq := map[int64][]Checkpoint{}
	for _, c := range checkpoints {
		if !l.validCheckpoint(c) {
			return Verified{}, &ForgedCheckpointError{Checkpoint: c}
		}
		bySeq[c.Seq] = append(bySeq[c.Seq], c)
	}
	rows, err := db.Query(ctx, selectRecords+" ORDER BY seq")
	if err != nil {
		return Verified{}, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var done Verified
	var logged []loggedCheckpoint
	prev := Record{Hash: make([]byte, sha256.Size)}
	sawHMAC := false
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return done, err
		}
		if broken := l.check(r, prev, sawHMAC); broken != nil {
			return done, broken
		}
		if r.Action == CheckpointAction {
			var c Checkpoint
			json.Unmarshal(r.Data, &c) // check has read it
			logged = append(logged, loggedCheckpoint{event: r.Seq, Checkpoint: c})
		}
		for _, c := range bySeq[r.Seq] {
			if !bytes.Equal(c.Hash, r.Hash) {
				return done, &BrokenError{Seq: r.Seq, Reason: fmt.Sprintf(
					"its hash differs from the one the checkpoint of %s vouches for", c.At.Format(time.RFC3339))}
			}
			done.Checkpoints++
		}
		delete(bySeq, r.Seq)
		sawHMAC = sawHMAC || r.HashVersion == HashHMAC
		prev = r
		done.Events++
	}
	if err := rows.Err(); err != nil {
		return done, fmt.Errorf("read audit log: %w", err)
	}
	if beyond, ok := newest(bySeq); ok {
		return done, &BrokenError{Seq: prev.Seq + 1, Reason: fmt.Sprintf(
			"missing: the log ends at event %d, but the checkpoint of %s vouches for event %d (deleted newest events)",
			prev.Seq, beyond.At.Format(time.RFC3339), beyond.Seq)}
	}
	rows.Close()
	return done, checkLoggedCheckpoints(ctx, db, logged)
}

// loggedCheckpoint is a checkpoint kept in the log itself, as event number event.
type loggedCheckpoint struct {
	event int64
	Checkpoint
}

// checkLoggedCheckpoints checks that each checkpoint in the log vouches for the event it
// names. That event came before it, but not always just before: the checkpoint is appended
// after the sink was written, without holding the append lock meanwhile.
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

// check returns why r does not follow prev, or nil.
func (l *Log) check(r, prev Record, sawHMAC bool) *BrokenError {
	broken := func(format string, args ...any) *BrokenError {
		return &BrokenError{Seq: r.Seq, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case r.Seq != prev.Seq+1:
		return &BrokenError{Seq: prev.Seq + 1, Reason: fmt.Sprintf("missing: event %d follows event %d", r.Seq, prev.Seq)}
	case r.HashVersion == HashSHA256 && sawHMAC:
		return broken("hashed with plain SHA-256 after events with a MAC (the row was rewritten)")
	case r.HashVersion != HashSHA256 && r.HashVersion != HashHMAC:
		return broken("unknown hash version %d", r.HashVersion)
	case !bytes.Equal(r.PrevHash, prev.Hash):
		return broken("its previous-hash does not match the event before it")
	case !hmac.Equal(r.Hash, r.hash(l.keys.Chain)):
		if r.HashVersion == HashSHA256 {
			return broken("its content does not match its hash (the row was changed)")
		}
		return broken("its content does not match its MAC (the row was changed, or hashed without the secret key)")
	case r.Action == CheckpointAction:
		return l.checkCheckpointEvent(r)
	}
	return nil
}

// checkCheckpointEvent checks that a checkpoint in the log is signed and vouches for an
// earlier event; Verify checks that event's hash when the walk is done.
func (l *Log) checkCheckpointEvent(r Record) *BrokenError {
	var c Checkpoint
	switch {
	case json.Unmarshal(r.Data, &c) != nil:
		return &BrokenError{Seq: r.Seq, Reason: "its checkpoint cannot be read"}
	case !l.validCheckpoint(c):
		return &BrokenError{Seq: r.Seq, Reason: "its checkpoint is forged: the MAC does not verify"}
	case c.Seq < 1 || c.Seq >= r.Seq:
		return &BrokenError{Seq: r.Seq, Reason: fmt.Sprintf("its checkpoint vouches for event %d, which does not come before it", c.Seq)}
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
