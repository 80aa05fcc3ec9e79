package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// sealLock makes the sealer single: the chain is a line, not a tree. Only the sealer's short
// transaction takes it; appends never do.
const sealLock = 0x62656832 // "beh2"

// sealBatch is how many events one sealing transaction chains at most, so that a backlog
// (after an outage of every instance) is sealed in short transactions, not one long one.
const sealBatch = 5000

// Beginner starts transactions: a pool or a connection.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Seal chains the events that committed since the last run, in batches, and returns how
// many it sealed. Events appended meanwhile wait for the next run.
func (l *Log) Seal(ctx context.Context, db Beginner) (int, error) {
	total := 0
	for {
		var n int
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			var err error
			n, err = l.sealInTx(ctx, tx, sealBatch)
			if err == nil && n > 0 && l.beforeSealCommit != nil {
				err = l.beforeSealCommit(ctx, tx)
			}
			return err
		})
		if err != nil {
			return total, fmt.Errorf("seal audit events: %w", err)
		}
		total += n
		if n < sealBatch {
			return total, nil
		}
	}
}

// sealInTx takes the sealer's lock for the rest of tx and seals up to limit committed events.
func (l *Log) sealInTx(ctx context.Context, tx pgx.Tx, limit int) (int, error) {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", sealLock); err != nil {
		return 0, fmt.Errorf("take the sealer's lock: %w", err)
	}
	// Read after the lock, so that a sealer that waited sees the head the one before it left.
	h, err := sealedHead(ctx, tx)
	if err != nil {
		return 0, err
	}
	rows, err := tx.Query(ctx, "SELECT id, mac FROM audit_events WHERE seq IS NULL ORDER BY id LIMIT $1", limit)
	if err != nil {
		return 0, fmt.Errorf("read unsealed events: %w", err)
	}
	var ids, seqs []int64
	var prevs, hashes [][]byte
	m := hmac.New(sha256.New, l.keys.seal)
	var msg []byte
	for rows.Next() {
		var id int64
		var mac []byte
		if err := rows.Scan(&id, &mac); err != nil {
			return 0, fmt.Errorf("read unsealed events: %w", err)
		}
		seq := h.Seq + 1
		msg = appendSealMessage(msg[:0], h.Hash, seq, mac)
		sum := appendMAC(nil, m, msg)
		ids, seqs, prevs, hashes = append(ids, id), append(seqs, seq), append(prevs, h.Hash), append(hashes, sum)
		h.Seq, h.Hash = seq, sum
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read unsealed events: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := tx.Exec(ctx, `UPDATE audit_events AS e SET seq = s.seq, prev_hash = s.prev_hash, hash = s.hash,
			hash_version = 3, sealed_at = now()
		FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) AS s (id, seq, prev_hash, hash)
		WHERE e.id = s.id AND e.seq IS NULL`, ids, seqs, prevs, hashes)
	if err != nil {
		return 0, fmt.Errorf("seal events %d to %d: %w", seqs[0], h.Seq, err)
	}
	if tag.RowsAffected() != int64(len(ids)) {
		return 0, fmt.Errorf("seal events %d to %d: %d of %d rows updated", seqs[0], h.Seq, tag.RowsAffected(), len(ids))
	}
	return len(ids), nil
}

// head is the newest sealed event, which the next one chains to.
type head struct {
	Seq    int64 // 0 in an empty log
	Hash   []byte
	Action string
	// vouched tells that the head is a checkpoint of the event right before it.
	vouched bool
}

// sealedHead reads the newest sealed event.
func sealedHead(ctx context.Context, db Beginner) (head, error) {
	h := head{Hash: make([]byte, sha256.Size)}
	err := db.QueryRow(ctx, "SELECT seq, hash, action FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1").
		Scan(&h.Seq, &h.Hash, &h.Action)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return head{}, fmt.Errorf("read the chain's head: %w", err)
	}
	return h, nil
}

// Pending is what waits for the sealer.
type Pending struct {
	Events int64
	Oldest time.Time // the time of the oldest waiting event; zero when none waits
}

// Unsealed counts the committed events that wait for the sealer.
func Unsealed(ctx context.Context, db Beginner) (Pending, error) {
	var p Pending
	var oldest *time.Time
	if err := db.QueryRow(ctx, "SELECT count(*), min(at) FROM audit_events WHERE seq IS NULL").Scan(&p.Events, &oldest); err != nil {
		return p, fmt.Errorf("count unsealed audit events: %w", err)
	}
	if oldest != nil {
		p.Oldest = *oldest
	}
	return p, nil
}
