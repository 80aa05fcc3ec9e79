package audit

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// AppendOld appends e as Append did before migration 018, chained at once at the head:
// hashed with plain SHA-256 (version 1, before migration 014) or HMAC'ed under the chain key
// (version 2), with no id of its own in the hash and no entry MAC.
func (l *Log) AppendOld(ctx context.Context, tx pgx.Tx, e Event, version int) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", sealLock); err != nil {
		return err
	}
	h, err := sealedHead(ctx, tx)
	if err != nil {
		return err
	}
	r, err := newRecord(e)
	if err != nil {
		return err
	}
	r.Seq, r.PrevHash, r.HashVersion = h.Seq+1, h.Hash, version
	r.Hash = r.hash(l.keys)
	_, err = tx.Exec(ctx, `INSERT INTO audit_events (seq, at, actor, action, request_id, person_id, data, prev_hash, hash, hash_version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		r.Seq, r.At, r.Actor, r.Action, r.request, r.person, string(r.Data), r.PrevHash, r.Hash, r.HashVersion)
	return err
}

// Clone is another Log with the same keys, as another instance has.
func (l *Log) Clone() *Log {
	c := *l
	return &c
}

// BeforeSealCommit makes the sealer run fn in its transaction before it commits: a test's
// way to make it fail or die there.
func (l *Log) BeforeSealCommit(fn func(context.Context, pgx.Tx) error) { l.beforeSealCommit = fn }

// Forger rewrites the log as an attacker with database access would: it edits one event and
// recomputes the hash of every event from there on.
type Forger struct {
	Label  int    // the hash_version it stores
	HashAs int    // how it makes the hash: HashSHA256, or HashHMAC or HashSealed under Key
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
	k := deriveKeys(f.Key)
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
		if f.HashAs == HashSealed {
			e, err := newRecord(Event{At: r.At, Actor: r.Actor, Action: r.Action, RequestID: r.RequestID, PersonID: r.PersonID})
			if err != nil {
				return err
			}
			e.Record = r
			r.MAC = k.entryMAC(e)
		}
		r.Hash = r.hash(k)
		prevHash = r.Hash
		if f.Label != HashSealed {
			r.MAC = nil // the schema allows an entry MAC on version 3 only
		}
		_, err := tx.Exec(ctx, `UPDATE audit_events SET at = $2, actor = $3, action = $4, data = $5, prev_hash = $6,
			hash = $7, hash_version = $8, mac = $9,
			sealed_at = CASE WHEN $8::smallint = 3 THEN coalesce(sealed_at, now()) END WHERE seq = $1`, r.Seq, r.At, r.Actor, r.Action, string(r.Data), r.PrevHash, r.Hash, f.Label, r.MAC)
		if err != nil {
			return fmt.Errorf("rewrite event %d: %w", r.Seq, err)
		}
	}
	return nil
}
