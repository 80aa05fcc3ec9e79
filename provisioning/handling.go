package provisioning

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// workingDaysBetween counts the working days after from up to and including to; negative
// when to is before from.
func (s *Service) workingDaysBetween(from, to time.Time) int {
	return s.workdayCount.between(from, to)
}

// Take makes the IT handler the request's assignee.
func (s *Service) Take(ctx context.Context, actor Actor, requestID string) error {
	if !actor.IT() {
		return fmt.Errorf("take %s: only IT handles requests: %w", requestID, ErrForbidden)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.lockRequest(ctx, tx, requestID)
		if err != nil {
			return err
		}
		if !slices.Contains(QueueStatuses, r.status) {
			return fmt.Errorf("%s is %s, not in the IT queue: %w", r.number, r.status, ErrConflict)
		}
		if _, err := tx.Exec(ctx, "UPDATE requests SET assignee_id = $2, updated_at = $3 WHERE id = $1",
			r.id, actor.ID, s.clock.Now()); err != nil {
			return fmt.Errorf("take %s: %w", r.number, err)
		}
		return s.record(ctx, tx, actor.Subject, "request.taken", r.id, r.personID, nil)
	})
}

// SetHandlingStatus lets IT say where the work stands: assigned, in progress or waiting for
// a third party, with an optional note. A request whose grants all take effect completes
// whatever IT set last.
func (s *Service) SetHandlingStatus(ctx context.Context, actor Actor, requestID, status, note string) error {
	if !actor.IT() {
		return fmt.Errorf("set status of %s: only IT handles requests: %w", requestID, ErrForbidden)
	}
	ve := &ValidationError{}
	if !slices.Contains(HandlingStatuses, status) {
		ve.add("status", "must be assigned, in_progress or waiting_third_party")
	}
	note = strings.TrimSpace(note)
	if len(note) > maxReasonLen {
		ve.add("note", "is longer than %d characters", maxReasonLen)
	}
	if err := ve.err(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.lockRequest(ctx, tx, requestID)
		if err != nil {
			return err
		}
		// Waiting for the person's terms or a certificate, the request goes on only by them;
		// waiting for the requester's answer to IT, IT may go on without it.
		asked, err := informationAsked(ctx, tx, r.id)
		if err != nil {
			return err
		}
		if !slices.Contains(QueueStatuses, r.status) || (r.status == StatusAwaitingUser && !asked) || r.status == StatusAwaitingCertificate {
			return fmt.Errorf("%s is %s; IT cannot set its status now: %w", r.number, r.status, ErrConflict)
		}
		if asked {
			if _, err := tx.Exec(ctx, "UPDATE requests SET information_asked_at = NULL WHERE id = $1", r.id); err != nil {
				return fmt.Errorf("set status of %s: %w", r.number, err)
			}
		}
		if r.status == status {
			return nil
		}
		data := map[string]any{}
		if note != "" {
			data["note"] = note
		}
		if err := s.setStatus(ctx, tx, actor.Subject, r, status, data); err != nil {
			return err
		}
		return s.completeIfDone(ctx, tx, r.id)
	})
}
