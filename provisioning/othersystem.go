package provisioning

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// CompleteOtherSystem records that IT has handled a request's "Annat system" by hand. Until
// then the request does not complete, as with a manual system's grant.
func (s *Service) CompleteOtherSystem(ctx context.Context, actor Actor, requestID string) error {
	if !actor.IT() {
		return fmt.Errorf("complete the other system of %s: only IT handles requests: %w", requestID, ErrForbidden)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.lockRequest(ctx, tx, requestID)
		if err != nil {
			return err
		}
		var other string
		var done bool
		if err := tx.QueryRow(ctx, "SELECT other_system, other_system_done_at IS NOT NULL FROM requests WHERE id = $1", r.id).
			Scan(&other, &done); err != nil {
			return fmt.Errorf("read %s: %w", r.number, err)
		}
		// Only once the request is IT's: approved, terms and certificate done.
		if other == "" || done || !slices.Contains(underwayStatuses, r.status) && r.status != StatusAnsweredByUser {
			return fmt.Errorf("%s has no other system to complete now: %w", r.number, ErrConflict)
		}
		if _, err := tx.Exec(ctx, "UPDATE requests SET other_system_done_at = $2, updated_at = $2 WHERE id = $1", r.id, s.clock.Now()); err != nil {
			return fmt.Errorf("complete the other system of %s: %w", r.number, err)
		}
		if err := s.record(ctx, tx, actor.Subject, "request.other_system_done", r.id, r.personID, nil); err != nil {
			return err
		}
		return s.completeIfDone(ctx, tx, r.id)
	})
}
