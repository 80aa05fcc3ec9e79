package provisioning

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RequestSummary is a request as lists show it: number, person, status, the two thumbs, due
// date and last change.
type RequestSummary struct {
	ID                  string    `json:"id"`
	Number              string    `json:"number"`
	Kind                string    `json:"kind"`
	Status              string    `json:"status"`
	PersonName          string    `json:"personName"`
	UnitName            string    `json:"unitName"`
	Ansvarskod          string    `json:"ansvarskod"`
	RequesterName       string    `json:"requesterName"`
	ApprovedBySubmitter bool      `json:"approvedBySubmitter"`
	ApprovedByManager   bool      `json:"approvedByManager"`
	DueDate             *string   `json:"dueDate,omitempty"`
	CreatedAt           time.Time `json:"createdAt"`
	UpdatedAt           time.Time `json:"updatedAt"`
}

// IsOpen tells whether a status still needs someone to act.
func IsOpen(status string) bool {
	for _, c := range closedStatuses {
		if c == status {
			return false
		}
	}
	return true
}

const summaryColumns = `r.id::text, r.number, r.kind, r.status, r.person_given_name || ' ' || r.person_surname, u.name, u.ansvarskod,
	rq.display_name, r.approved_by_submitter, r.approved_by_manager, to_char(r.due_date, 'YYYY-MM-DD'), r.created_at, r.updated_at
	FROM requests r JOIN persons p ON p.id = r.person_id JOIN units u ON u.id = r.unit_id
	JOIN principals rq ON rq.id = r.requester_id`

func (s *Service) summaries(ctx context.Context, query string, args ...any) ([]RequestSummary, error) {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[RequestSummary])
}

// MyRequests lists the requests the actor submitted, open or closed, newest change first.
func (s *Service) MyRequests(ctx context.Context, actor Actor, open bool) ([]RequestSummary, error) {
	list, err := s.summaries(ctx, `SELECT `+summaryColumns+`
		WHERE r.requester_id = $1 AND (r.status = ANY($2)) <> $3
		ORDER BY r.updated_at DESC, r.number DESC LIMIT 500`, uuidOrNull(actor.ID), closedStatuses, open)
	if err != nil {
		return nil, fmt.Errorf("requests of %s: %w", actor.Subject, err)
	}
	return list, nil
}

// AwaitingMyApproval lists the requests waiting for the actor's attestation: those of the
// units (and their descendants) the actor manages, and those naming the actor as approver
// where the actor may attest. Oldest first: they have waited longest.
func (s *Service) AwaitingMyApproval(ctx context.Context, actor Actor) ([]RequestSummary, error) {
	list, err := s.summaries(ctx, `WITH RECURSIVE attested AS (
			SELECT unit_id AS id FROM unit_managers WHERE principal_id = $1
			UNION SELECT u.id FROM units u JOIN attested a ON u.parent_id = a.id)
		SELECT `+summaryColumns+`
		WHERE r.status = $2 AND r.unit_id IN (SELECT id FROM attested)
		ORDER BY r.created_at, r.number LIMIT 500`, uuidOrNull(actor.ID), StatusAwaitingApproval)
	if err != nil {
		return nil, fmt.Errorf("requests awaiting %s: %w", actor.Subject, err)
	}
	return list, nil
}
