package provisioning

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// QueueEntry is a request in IT's queue.
type QueueEntry struct {
	RequestSummary
	AssigneeName string `json:"assigneeName,omitempty"`
	// WorkingDaysLeft counts Swedish working days from today to the due date; negative when
	// overdue. It means nothing without a due date.
	WorkingDaysLeft int `json:"workingDaysLeft"`
}

// ITQueue lists the requests IT handles, due first, optionally of one status.
func (s *Service) ITQueue(ctx context.Context, actor Actor, status string) ([]QueueEntry, error) {
	if !actor.IT() {
		return nil, fmt.Errorf("the IT queue: %w", ErrForbidden)
	}
	statuses := QueueStatuses
	if status != "" {
		if !slices.Contains(QueueStatuses, status) {
			ve := &ValidationError{}
			ve.add("status", "%q is not a status of the queue", status)
			return nil, ve
		}
		statuses = []string{status}
	}
	rows, err := s.db.Query(ctx, `SELECT `+summaryColumns+`
		WHERE r.status = ANY($1)
		ORDER BY r.due_date NULLS LAST, r.created_at LIMIT 1000`, statuses)
	if err != nil {
		return nil, fmt.Errorf("read the IT queue: %w", err)
	}
	summaries, err := pgx.CollectRows(rows, pgx.RowToStructByPos[RequestSummary])
	if err != nil {
		return nil, fmt.Errorf("read the IT queue: %w", err)
	}
	names, err := s.assignees(ctx, summaries)
	if err != nil {
		return nil, err
	}
	out := make([]QueueEntry, len(summaries))
	for i, r := range summaries {
		out[i] = QueueEntry{RequestSummary: r, AssigneeName: names[r.ID]}
		if r.DueDate != nil {
			if due, err := time.Parse(dateLayout, *r.DueDate); err == nil {
				out[i].WorkingDaysLeft = s.workingDaysBetween(s.today(), due)
			}
		}
	}
	return out, nil
}

func (s *Service) assignees(ctx context.Context, list []RequestSummary) (map[string]string, error) {
	ids := make([]string, len(list))
	for i, r := range list {
		ids[i] = r.ID
	}
	rows, err := s.db.Query(ctx, `SELECT r.id::text, p.display_name FROM requests r JOIN principals p ON p.id = r.assignee_id
		WHERE r.id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("read assignees: %w", err)
	}
	names := map[string]string{}
	var id, name string
	_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error { names[id] = name; return nil })
	return names, err
}

// workingDaysBetween counts the working days after from up to and including to; negative
// when to is before from.
func (s *Service) workingDaysBetween(from, to time.Time) int {
	sign := 1
	if to.Before(from) {
		from, to, sign = to, from, -1
	}
	n := 0
	for d := from.AddDate(0, 0, 1); !d.After(to); d = d.AddDate(0, 0, 1) {
		if s.workdays.IsWorkday(d) {
			n++
		}
	}
	return sign * n
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
		if !slices.Contains(QueueStatuses, r.status) || r.status == StatusAwaitingUser {
			return fmt.Errorf("%s is %s; IT cannot set its status now: %w", r.number, r.status, ErrConflict)
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
