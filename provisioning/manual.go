package provisioning

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// awaitManualRemoval marks an active manual grant for IT to remove by hand. The access is
// not counted as gone until IT says it is.
func (s *Service) awaitManualRemoval(ctx context.Context, w stepWriter, g grantRow) error {
	change := grantChange{id: g.id, state: GrantRemovalPending, at: s.clock.Now(), factors: g.remoteAccess}
	if err := w.setGrants(ctx, change); err != nil {
		return fmt.Errorf("mark grant %s for manual removal: %w", g.id, err)
	}
	return w.record(ctx, systemActor, "grant.removal_pending", g.requestID, g.personID,
		map[string]any{"grant": g.id, "group": g.group, "trigger": g.trigger()})
}

// CompleteManualGrant records that IT has given the access of a manual grant by hand. The
// request completes when nothing else is left.
func (s *Service) CompleteManualGrant(ctx context.Context, actor Actor, grantID, note string) error {
	return s.manualStep(ctx, actor, grantID, note, GrantScheduled, func(tx pgx.Tx, g grantRow) error {
		if g.startsAt.After(s.clock.Now()) {
			return fmt.Errorf("grant %s starts %s: %w", g.id, g.startsAt.Format(time.DateOnly), ErrConflict)
		}
		if _, err := tx.Exec(ctx, "UPDATE grants SET state = $3, provisioned_at = $2 WHERE id = $1", g.id, s.clock.Now(), GrantActive); err != nil {
			return fmt.Errorf("complete manual grant %s: %w", g.id, err)
		}
		if err := s.record(ctx, tx, actor.Subject, "grant.completed_manually", g.requestID, g.personID,
			map[string]any{"grant": g.id, "group": g.group, "note": note}); err != nil {
			return err
		}
		return s.completeIfDone(ctx, tx, g.requestID)
	})
}

// CompleteManualRemoval records that IT has removed a manual grant's access by hand. What
// that means for the account (disabled when nothing is left) and for a termination
// (completed) is the converge job's to do, outside this transaction.
func (s *Service) CompleteManualRemoval(ctx context.Context, actor Actor, grantID, note string) error {
	return s.manualStep(ctx, actor, grantID, note, GrantRemovalPending, func(tx pgx.Tx, g grantRow) error {
		if _, err := tx.Exec(ctx, "UPDATE grants SET state = $3, revoked_at = $2 WHERE id = $1", g.id, s.clock.Now(), GrantRevoked); err != nil {
			return fmt.Errorf("complete manual removal of %s: %w", g.id, err)
		}
		if err := s.record(ctx, tx, actor.Subject, "grant.removed_manually", g.requestID, g.personID,
			map[string]any{"grant": g.id, "group": g.group, "note": note}); err != nil {
			return err
		}
		if err := s.jobs.ScheduleConverge(ctx, tx, g.personID); err != nil {
			return fmt.Errorf("schedule convergence of person %s: %w", g.personID, err)
		}
		// A change that ended this grant may have nothing else left; the converge job reads
		// only grants not yet revoked and so would not see it.
		if g.endedBy != "" {
			return s.completeIfDone(ctx, tx, g.endedBy)
		}
		return nil
	})
}

// manualStep runs one of IT's manual steps on a grant in the state the step expects.
func (s *Service) manualStep(ctx context.Context, actor Actor, grantID, note, from string, step func(pgx.Tx, grantRow) error) error {
	if !actor.IT() {
		return fmt.Errorf("grant %s: only IT handles manual systems: %w", grantID, ErrForbidden)
	}
	note = strings.TrimSpace(note)
	if len(note) > maxReasonLen {
		ve := &ValidationError{}
		ve.add("note", "is longer than %d characters", maxReasonLen)
		return ve
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		g, err := s.lockGrant(ctx, tx, grantID)
		if err != nil {
			return err
		}
		if !g.manual || g.state != from {
			return fmt.Errorf("grant %s is %s, not a manual grant that is %s: %w", g.id, g.state, from, ErrConflict)
		}
		return step(tx, g)
	})
}

// ManualRemoval is access of a system without a connector that IT must remove by hand.
type ManualRemoval struct {
	GrantID       string    `json:"grantId"`
	PersonID      string    `json:"personId"`
	PersonName    string    `json:"personName"`
	System        string    `json:"system"`
	Role          string    `json:"role,omitempty"`
	Unit          UnitRef   `json:"unit"`
	EndsAt        time.Time `json:"endsAt"`
	RequestID     string    `json:"requestId"`
	RequestNumber string    `json:"requestNumber"`
}

// ManualRemovals lists the manual grants waiting for IT to remove them, oldest first.
func (s *Service) ManualRemovals(ctx context.Context, actor Actor) ([]ManualRemoval, error) {
	if !actor.IT() {
		return nil, fmt.Errorf("manual removals: %w", ErrForbidden)
	}
	rows, err := s.db.Query(ctx, `SELECT g.id::text, p.id::text, p.given_name || ' ' || p.surname, sy.name, coalesce(ro.name, ''),
			u.id::text, u.name, u.ansvarskod, coalesce(g.ends_at, now()), r.id::text, r.number
		FROM grants g JOIN persons p ON p.id = g.person_id JOIN systems sy ON sy.id = g.system_id
			LEFT JOIN system_roles ro ON ro.system_id = g.system_id AND ro.id = g.role_id
			JOIN units u ON u.id = g.unit_id JOIN requests r ON r.id = g.request_id
		WHERE g.manual AND g.state = 'removal_pending' ORDER BY g.ends_at NULLS FIRST`)
	if err != nil {
		return nil, fmt.Errorf("read manual removals: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (ManualRemoval, error) {
		var m ManualRemoval
		return m, row.Scan(&m.GrantID, &m.PersonID, &m.PersonName, &m.System, &m.Role, &m.Unit.ID, &m.Unit.Name,
			&m.Unit.Ansvarskod, &m.EndsAt, &m.RequestID, &m.RequestNumber)
	})
}

// lockGrant locks the grant's person, then the grant: in that order everywhere, so that
// IT's steps and the converge jobs on one person cannot deadlock.
func (s *Service) lockGrant(ctx context.Context, tx pgx.Tx, grantID string) (grantRow, error) {
	var g grantRow
	err := tx.QueryRow(ctx, "SELECT person_id::text FROM grants WHERE id = $1", uuidOrNull(grantID)).Scan(&g.personID)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, fmt.Errorf("grant %s: %w", grantID, ErrNotFound)
	}
	if err != nil {
		return g, fmt.Errorf("load grant %s: %w", grantID, err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM persons WHERE id = $1 FOR NO KEY UPDATE", g.personID); err != nil {
		return g, fmt.Errorf("lock person %s: %w", g.personID, err)
	}
	err = tx.QueryRow(ctx, `SELECT id::text, request_id::text, group_name, state, member_dn, coalesce(ended_by_request::text, ''),
			starts_at, ends_at, manual, (SELECT remote_access FROM systems WHERE id = system_id)
		FROM grants WHERE id = $1 FOR NO KEY UPDATE`, grantID).Scan(&g.id, &g.requestID, &g.group, &g.state, &g.memberDN,
		&g.endedBy, &g.startsAt, &g.endsAt, &g.manual, &g.remoteAccess)
	if err != nil {
		return g, fmt.Errorf("lock grant %s: %w", grantID, err)
	}
	return g, nil
}
