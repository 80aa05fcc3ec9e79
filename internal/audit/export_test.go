package audit

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// AppendLegacy appends e hashed with plain SHA-256, as Append did before migration 014.
func AppendLegacy(ctx context.Context, tx pgx.Tx, e Event) error {
	return appendEvent(ctx, tx, e, HashSHA256, nil)
}

// Forger rewrites the log as an attacker with database access would: it edits one event and
// recomputes the hash of every event from there on.
type Forger struct {
	Label  int    // the hash_version it stores
	HashAs int    // how it makes the hash: HashSHA256, or HashHMAC under Key
	Key    []byte // its own key: it does not have behorig's
}

// Rewrite edits event from and rehashes the chain from it on, in tx, which must be allowed
// to update audit_events (its triggers disabled).
func (f Forger) Rewrite(ctx context.Context, tx pgx.Tx, from int64, edit func(*Record)) error {
	rows, err := tx.Query(ctx, selectRecords+" WHERE seq >= $1 ORDER BY seq", from-1)
	if err != nil {
		return err
	}
	var records []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return err
		}
		records = append(records, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	prevHash := make([]byte, 32)
	for _, r := range records {
		if r.Seq < from {
			prevHash = r.Hash
			continue
		}
		if r.Seq == from {
			edit(&r)
		}
		r.PrevHash, r.HashVersion = prevHash, f.HashAs
		r.Hash = r.hash(f.Key)
		prevHash = r.Hash
		_, err := tx.Exec(ctx, `UPDATE audit_events SET at = $2, actor = $3, action = $4, data = $5, prev_hash = $6,
			hash = $7, hash_version = $8 WHERE seq = $1`, r.Seq, r.At, r.Actor, r.Action, string(r.Data), r.PrevHash, r.Hash, f.Label)
		if err != nil {
			return fmt.Errorf("rewrite event %d: %w", r.Seq, err)
		}
	}
	return nil
}
