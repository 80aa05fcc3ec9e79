package remoteaccess

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/provisioning"
)

// Factor is one of a person's second factors as the person page shows it to IT: never the
// whole mobile number (masked, as in the audit log) and never a key's secrets.
type Factor struct {
	ID   string `json:"id"`
	Kind string `json:"kind"` // sms or yubikey
	// Mobile is the masked number the codes go to (sms).
	Mobile string `json:"mobile,omitempty"`
	// YubiKeySerial and YubiKeyState name the key (yubikey): its serial as printed on it, and
	// handed_out, to_be_returned, in_stock or lost.
	YubiKeySerial int64  `json:"yubikeySerial,omitempty"`
	YubiKeyState  string `json:"yubikeyState,omitempty"`
	// Failures counts consecutive failed logins with the factor; at the limit it is locked
	// (LockedAt) until IT unlocks it.
	Failures  int        `json:"failures"`
	Locked    bool       `json:"locked"`
	LockedAt  *time.Time `json:"lockedAt,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	// RevokedAt is when the grant's end revoked the factor; nil while it is live.
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	// GrantEndsAt is when the remote-access grant the factor belongs to ends; nil for never.
	GrantEndsAt *time.Time `json:"grantEndsAt,omitempty"`
}

// Factors lists a person's factors, live ones first, then the revoked ones newest first.
// Only IT sees them: they say how the person signs in from outside.
func (s *Service) Factors(ctx context.Context, actor provisioning.Actor, personID string) ([]Factor, error) {
	if !actor.IT() {
		return nil, fmt.Errorf("only IT sees a person's second factors: %w", ErrForbidden)
	}
	pid, ok := parseID(personID)
	if !ok {
		return nil, fmt.Errorf("person %q: %w", personID, ErrNotFound)
	}
	rows, err := s.db.Query(ctx, `SELECT a.id::text, a.kind, a.mobile, coalesce(y.serial, 0), coalesce(y.state, ''), a.failures,
			a.locked_at, a.created_at, a.revoked_at, g.ends_at
		FROM authenticators a JOIN grants g ON g.id = a.grant_id LEFT JOIN yubikeys y ON y.id = a.yubikey_id
		WHERE a.person_id = $1
		ORDER BY a.revoked_at IS NOT NULL, a.revoked_at DESC, a.kind`, pid)
	if err != nil {
		return nil, fmt.Errorf("read the factors of person %s: %w", personID, err)
	}
	factors, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Factor, error) {
		var f Factor
		var mobile string
		err := row.Scan(&f.ID, &f.Kind, &mobile, &f.YubiKeySerial, &f.YubiKeyState, &f.Failures, &f.LockedAt, &f.CreatedAt,
			&f.RevokedAt, &f.GrantEndsAt)
		f.Locked = f.LockedAt != nil
		if mobile != "" {
			f.Mobile = provisioning.MaskMobile(mobile)
		}
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the factors of person %s: %w", personID, err)
	}
	return factors, nil
}

// Unlock is IT clearing the lock of a factor that too many failed logins locked: the
// failures start again from zero. It is audited with who unlocked and how many failures
// the factor had. A factor that is not locked, or was revoked, is a conflict: there is
// nothing to unlock, and a revoked factor stays revoked. It returns the factor's person.
func (s *Service) Unlock(ctx context.Context, actor provisioning.Actor, factorID string) (string, error) {
	if !actor.IT() {
		return "", fmt.Errorf("only IT unlocks a second factor: %w", ErrForbidden)
	}
	id, ok := parseID(factorID)
	if !ok {
		return "", fmt.Errorf("factor %q: %w", factorID, ErrNotFound)
	}
	var personID string
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var kind string
		var failures int
		var locked, revoked bool
		err := tx.QueryRow(ctx, `SELECT person_id::text, kind, failures, locked_at IS NOT NULL, revoked_at IS NOT NULL
			FROM authenticators WHERE id = $1 FOR UPDATE`, id).Scan(&personID, &kind, &failures, &locked, &revoked)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("factor %s: %w", factorID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read factor %s: %w", factorID, err)
		}
		switch {
		case revoked:
			return fmt.Errorf("factor %s is revoked: %w", factorID, ErrConflict)
		case !locked:
			return fmt.Errorf("factor %s is not locked: %w", factorID, ErrConflict)
		}
		if _, err := tx.Exec(ctx, "UPDATE authenticators SET locked_at = NULL, failures = 0 WHERE id = $1", id); err != nil {
			return fmt.Errorf("unlock factor %s: %w", factorID, err)
		}
		return s.audit.Append(ctx, tx, audit.Event{At: s.clock.Now(), Actor: actor.Subject, Action: "remote_access.factor_unlocked",
			PersonID: personID, Data: map[string]any{"factor": factorID, "kind": kind, "failures": failures}})
	})
	return personID, err
}

// parseID reads an id from a URL; anything that is not a uuid names no row.
func parseID(id string) (pgtype.UUID, bool) {
	var u pgtype.UUID
	return u, u.Scan(id) == nil
}
