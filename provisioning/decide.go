package provisioning

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// handlingDays is how many working days IT has for a complete request.
const handlingDays = 2

// requestRow is a request as the state machine needs it.
type requestRow struct {
	id, number, kind, status      string
	requesterID, personID, unitID string
	validFrom, validTo, effective *time.Time
	termsRequired                 bool
}

func (s *Service) lockRequest(ctx context.Context, tx pgx.Tx, id string) (requestRow, error) {
	rs, err := s.lockRequests(ctx, tx, []string{id})
	if err != nil {
		return requestRow{}, err
	}
	if len(rs) == 0 {
		return requestRow{}, fmt.Errorf("request %s: %w", id, ErrNotFound)
	}
	return rs[0], nil
}

// lockRequests locks the requests in the order of their ids (so that two transactions never
// wait for each other in a circle) and returns those that exist, and with statuses, only
// those in one of them (checked again once locked).
func (s *Service) lockRequests(ctx context.Context, tx pgx.Tx, ids []string, statuses ...string) ([]requestRow, error) {
	rows, err := tx.Query(ctx, `SELECT id::text, number, kind, status, requester_id::text, person_id::text, unit_id::text,
			valid_from, valid_to, effective_date, terms_required
		FROM requests WHERE id = ANY($1) AND (cardinality($2::text[]) = 0 OR status = ANY($2))
		ORDER BY id FOR NO KEY UPDATE`, uuidsOnly(ids), append([]string{}, statuses...))
	if err != nil {
		return nil, fmt.Errorf("load %d requests: %w", len(ids), err)
	}
	rs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (requestRow, error) {
		var r requestRow
		return r, row.Scan(&r.id, &r.number, &r.kind, &r.status, &r.requesterID, &r.personID, &r.unitID,
			&r.validFrom, &r.validTo, &r.effective, &r.termsRequired)
	})
	if err != nil {
		return nil, fmt.Errorf("load %d requests: %w", len(ids), err)
	}
	return rs, nil
}

// setStatus moves a request and records the move.
func (s *Service) setStatus(ctx context.Context, tx pgx.Tx, actor string, r requestRow, status string, data map[string]any) error {
	return s.setStatusVia(ctx, direct{s, tx}, actor, r, status, data)
}

func (s *Service) setStatusVia(ctx context.Context, w stepWriter, actor string, r requestRow, status string, data map[string]any) error {
	if err := w.exec(ctx, "UPDATE requests SET status = $2, updated_at = $3 WHERE id = $1",
		r.id, status, s.clock.Now()); err != nil {
		return fmt.Errorf("set status of %s to %s: %w", r.number, status, err)
	}
	if data == nil {
		data = map[string]any{}
	}
	if n, ok := s.statusNotice(r, status, data); ok {
		if err := w.notify(ctx, n); err != nil {
			return err
		}
	}
	data["from"], data["to"] = r.status, status
	return w.record(ctx, actor, "request.status", r.id, r.personID, data)
}

// Approve attests a request. Only a manager with attestation rights for the request's unit may.
func (s *Service) Approve(ctx context.Context, actor Actor, requestID string) (string, error) {
	var status string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.decidable(ctx, tx, actor, requestID)
		if err != nil {
			return err
		}
		status, err = s.approve(ctx, tx, actor, r)
		return err
	})
	return status, err
}

// Reject turns a request down with a reason the requester will read.
func (s *Service) Reject(ctx context.Context, actor Actor, requestID, reason string) error {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return &ValidationError{Errors: []FieldError{{Field: "reason", Message: "is required: tell the requester why"}}}
	}
	if len(reason) > maxReasonLen {
		return &ValidationError{Errors: []FieldError{{Field: "reason", Message: fmt.Sprintf("is longer than %d characters", maxReasonLen)}}}
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.decidable(ctx, tx, actor, requestID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE requests SET decided_by = $2, decision_reason = $3 WHERE id = $1",
			r.id, actor.ID, reason); err != nil {
			return fmt.Errorf("reject %s: %w", r.number, err)
		}
		if err := s.record(ctx, tx, actor.Subject, "request.rejected", r.id, r.personID, map[string]any{"reason": reason}); err != nil {
			return err
		}
		return s.setStatus(ctx, tx, actor.Subject, r, StatusRejected, nil)
	})
}

// decidable loads a request awaiting approval and checks that the actor may attest it.
func (s *Service) decidable(ctx context.Context, tx pgx.Tx, actor Actor, requestID string) (requestRow, error) {
	r, err := s.lockRequest(ctx, tx, requestID)
	if err != nil {
		return r, err
	}
	// The attesting manager answers for every unit the request reaches: its items' units, and
	// for a termination, which ends all of the person's grants, the units of those.
	units := []string{r.unitID}
	// For a change, the units of the grants it ends.
	rows, err := tx.Query(ctx, `SELECT unit_id::text FROM request_items WHERE request_id = $1
		UNION SELECT unit_id::text FROM grants WHERE $3 AND person_id = $2 AND state <> 'revoked'
		UNION SELECT g.unit_id::text FROM request_endings e JOIN grants g ON g.id = e.grant_id WHERE e.request_id = $1`,
		r.id, r.personID, r.kind == KindTerminate)
	if err != nil {
		return r, fmt.Errorf("units of %s: %w", r.number, err)
	}
	itemUnits, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return r, fmt.Errorf("units of %s: %w", r.number, err)
	}
	ok, err := attestsAll(ctx, tx, actor.ID, append(units, itemUnits...))
	if err != nil {
		return r, err
	}
	if !ok {
		if visible, verr := s.canSee(ctx, tx, actor, r); verr == nil && !visible {
			return r, fmt.Errorf("request %s: %w", requestID, ErrNotFound)
		}
		return r, fmt.Errorf("%s has no attestation rights for the unit of %s: %w", actor.Subject, r.number, ErrForbidden)
	}
	if r.status != StatusAwaitingApproval {
		return r, fmt.Errorf("%s is %s, not awaiting approval: %w", r.number, r.status, ErrConflict)
	}
	return r, nil
}

// approve records the attestation and moves the request on; it returns the new status.
func (s *Service) approve(ctx context.Context, tx pgx.Tx, actor Actor, r requestRow) (string, error) {
	if _, err := tx.Exec(ctx, "UPDATE requests SET approved_by_manager = true, decided_by = $2 WHERE id = $1",
		r.id, actor.ID); err != nil {
		return "", fmt.Errorf("approve %s: %w", r.number, err)
	}
	oneStep := actor.ID == r.requesterID
	if err := s.record(ctx, tx, actor.Subject, "request.approved", r.id, r.personID,
		map[string]any{"bySubmitter": oneStep}); err != nil {
		return "", err
	}
	if r.kind == KindGrant || r.kind == KindRemoteAccess {
		if err := s.applyPersonData(ctx, tx, actor.Subject, r); err != nil {
			return "", err
		}
	}
	// Approved, the request reaches IT, and the due date is promised from now on, also while
	// it waits for the person's terms or certificate.
	if err := s.setDueDate(ctx, tx, r); err != nil {
		return "", err
	}
	switch {
	case r.kind == KindTerminate:
		return s.startTermination(ctx, tx, actor.Subject, r)
	case r.termsRequired:
		if err := s.setStatus(ctx, tx, actor.Subject, r, StatusAwaitingUser, nil); err != nil {
			return "", err
		}
		return StatusAwaitingUser, s.requestTerms(ctx, tx, actor.Subject, r)
	default:
		return s.startUnlessCertificateMissing(ctx, tx, actor.Subject, r)
	}
}

// RecordPaperTerms records that IT has verified a signed paper form of the terms, and lets
// the request go on as if the person had signed with BankID.
func (s *Service) RecordPaperTerms(ctx context.Context, actor Actor, requestID, note string) (string, error) {
	if !actor.IT() {
		return "", fmt.Errorf("only IT verifies paper terms: %w", ErrForbidden)
	}
	if len(note) > maxReasonLen {
		return "", &ValidationError{Errors: []FieldError{{Field: "note", Message: fmt.Sprintf("is longer than %d characters", maxReasonLen)}}}
	}
	var status string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.lockRequest(ctx, tx, requestID)
		if err != nil {
			return err
		}
		asked, err := informationAsked(ctx, tx, r.id)
		if err != nil {
			return err
		}
		if r.status != StatusAwaitingUser || asked {
			return fmt.Errorf("%s is %s, not waiting for the user's terms: %w", r.number, r.status, ErrConflict)
		}
		if err := s.record(ctx, tx, actor.Subject, "terms.paper_verified", r.id, r.personID,
			map[string]any{"verifiedBy": actor.Subject, "note": strings.TrimSpace(note)}); err != nil {
			return err
		}
		if err := s.setStatus(ctx, tx, actor.Subject, r, StatusAnsweredByUser, nil); err != nil {
			return err
		}
		r.status = StatusAnsweredByUser
		status, err = s.startUnlessCertificateMissing(ctx, tx, actor.Subject, r)
		return err
	})
	return status, err
}

// startGrants makes a grant per item, schedules its provisioning at valid-from and its
// revocation at the end of valid-to, and moves the request to in_progress or scheduled; a
// change also ends the grants it names (startChange).
func (s *Service) startGrants(ctx context.Context, tx pgx.Tx, actor string, r requestRow) (string, error) {
	now := s.clock.Now()
	startsAt := now
	if r.validFrom != nil && s.startOf(*r.validFrom).After(now) {
		startsAt = s.startOf(*r.validFrom)
	}
	var endsAt *time.Time
	if r.validTo != nil {
		end := s.startOf(r.validTo.AddDate(0, 0, 1))
		endsAt = &end
	}
	rows, err := tx.Query(ctx, `SELECT i.id::text, i.system_id, coalesce(i.role_id, ''), i.unit_id::text, u.ansvarskod, sy.group_template,
			sy.manual
		FROM request_items i JOIN units u ON u.id = i.unit_id JOIN systems sy ON sy.id = i.system_id
		WHERE i.request_id = $1 ORDER BY i.position`, r.id)
	if err != nil {
		return "", fmt.Errorf("read items of %s: %w", r.number, err)
	}
	type item struct {
		id, system, role, unit, code, template string
		manual                                 bool
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (item, error) {
		var it item
		return it, row.Scan(&it.id, &it.system, &it.role, &it.unit, &it.code, &it.template, &it.manual)
	})
	if err != nil {
		return "", fmt.Errorf("read items of %s: %w", r.number, err)
	}
	for _, it := range items {
		group := renderGroup(it.template, it.code, it.role)
		var grantID string
		err := tx.QueryRow(ctx, `INSERT INTO grants (person_id, request_id, item_id, system_id, role_id, unit_id, group_name,
				valid_from, valid_to, starts_at, ends_at, state, manual, group_key)
			VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, $7, $8, $9, $10, $11, $14, $12, $13) RETURNING id::text`,
			r.personID, r.id, it.id, it.system, it.role, it.unit, group, r.validFrom, r.validTo, startsAt, endsAt, it.manual,
			groupKey(group), GrantScheduled).Scan(&grantID)
		if err != nil {
			return "", fmt.Errorf("grant %s to %s: %w", it.system, r.number, err)
		}
		// A manual system's access is IT's task on the request, but the grant counts for the
		// account from its valid-from (desiredAt) as a connected one does: a job converges the
		// person then too, or an account a termination disabled would stay disabled until
		// reconciliation. It is also what makes a converge that recorded the person while
		// this transaction inserted the grant (which the person's FOR NO KEY UPDATE lets pass)
		// run again.
		if err := s.jobs.ScheduleProvision(ctx, tx, grantID, s.due(startsAt)); err != nil {
			return "", fmt.Errorf("schedule provisioning of %s: %w", group, err)
		}
		if endsAt != nil {
			if err := s.jobs.ScheduleRevoke(ctx, tx, grantID, "valid_to", s.due(*endsAt)); err != nil {
				return "", fmt.Errorf("schedule revocation of %s: %w", group, err)
			}
		}
		if err := s.record(ctx, tx, actor, "grant.created", r.id, r.personID, map[string]any{"grant": grantID,
			"system": it.system, "role": it.role, "group": group, "startsAt": startsAt, "endsAt": endsAt, "manual": it.manual}); err != nil {
			return "", err
		}
	}
	if r.kind == KindChange {
		return s.startChange(ctx, tx, actor, r, len(items) > 0, startsAt)
	}
	if r.kind == KindRemoteAccess {
		if err := s.createRemoteFactors(ctx, tx, actor, r); err != nil {
			return "", err
		}
	}
	return s.moveOn(ctx, tx, actor, r, startsAt)
}

// moveOn sets the due date and moves a request whose work is now scheduled to in_progress,
// or to scheduled when the work starts later.
func (s *Service) moveOn(ctx context.Context, tx pgx.Tx, actor string, r requestRow, startsAt time.Time) (string, error) {
	status := StatusInProgress
	if startsAt.After(s.clock.Now()) {
		status = StatusScheduled
	}
	if err := s.setDueDate(ctx, tx, r); err != nil {
		return "", err
	}
	return status, s.setStatus(ctx, tx, actor, r, status, nil)
}

// setDueDate sets when IT will have handled the request: handlingDays working days from
// today, or, for a request scheduled for later, from the day its work starts (valid-from,
// or a termination's effective date), not from its approval. It is set again when a request
// that waited for the person goes on, counting from then.
func (s *Service) setDueDate(ctx context.Context, tx pgx.Tx, r requestRow) error {
	if _, err := tx.Exec(ctx, "UPDATE requests SET due_date = $2 WHERE id = $1", r.id, s.dueDate(r)); err != nil {
		return fmt.Errorf("set due date of %s: %w", r.number, err)
	}
	return nil
}

func (s *Service) dueDate(r requestRow) time.Time {
	from, start := s.today(), r.validFrom
	if r.kind == KindTerminate {
		start = r.effective
	}
	if start != nil && start.After(from) {
		from = *start
	}
	return s.addWorkingDays(from, handlingDays)
}

// groupKey is how group names are compared: lower-cased in Go, so that the database's
// collation never decides whether a group the directory names is one behorig manages.
func groupKey(group string) string { return strings.ToLower(group) }

// renderGroup fills a catalog group template. The result is a group name, escaped by the
// directory connector where it becomes part of a DN.
func renderGroup(template, unitCode, role string) string {
	return strings.NewReplacer("{unit}", unitCode, "{role}", role).Replace(template)
}

// startTermination schedules the revocation of every open grant of the person at the
// effective date (now when that is today).
func (s *Service) startTermination(ctx context.Context, tx pgx.Tx, actor string, r requestRow) (string, error) {
	now := s.clock.Now()
	at := now
	if r.effective != nil && s.startOf(*r.effective).After(now) {
		at = s.startOf(*r.effective)
	}
	rows, err := tx.Query(ctx, "SELECT id::text FROM grants WHERE person_id = $1 AND state <> $2 ORDER BY starts_at, id", r.personID, GrantRevoked)
	if err != nil {
		return "", fmt.Errorf("open grants for %s: %w", r.number, err)
	}
	open, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (grantEnd, error) {
		e := grantEnd{at: at}
		return e, row.Scan(&e.id)
	})
	if err != nil {
		return "", fmt.Errorf("open grants for %s: %w", r.number, err)
	}
	grants, err := s.endGrants(ctx, tx, actor, r, open)
	if err != nil {
		return "", err
	}
	if len(grants) == 0 {
		return StatusCompleted, s.setStatus(ctx, tx, actor, r, StatusCompleted, map[string]any{"note": "no open grants"})
	}
	return s.moveOn(ctx, tx, actor, r, at)
}

// applyPersonData applies what the approved request says about its person. The first
// approval decides everything the requester typed (the name, employment, e-mail, mobile, job
// title, username): until then the person has only the name of whoever first typed their
// personnummer, and a rejected request must decide nothing. Later approvals fill gaps without
// changing what is there: a manager may attest a request of their own for anyone's
// personnummer, and that must not redirect someone's e-mail or mobile (used for codes); the
// approver sees what is kept (RequestPerson.Kept). Changing a known person's details is IT's.
func (s *Service) applyPersonData(ctx context.Context, tx pgx.Tx, actor string, r requestRow) error {
	var changed []string
	err := tx.QueryRow(ctx, `WITH req AS (SELECT * FROM requests WHERE id = $1),
			before AS (SELECT p.* FROM persons p JOIN req ON p.id = req.person_id),
			hasAccount AS (SELECT EXISTS (SELECT 1 FROM accounts a JOIN req ON a.person_id = req.person_id
				WHERE a.directory = $2) AS yes),
			after AS (
				UPDATE persons p SET
					given_name = CASE WHEN p.details_approved THEN p.given_name ELSE req.person_given_name END,
					surname = CASE WHEN p.details_approved THEN p.surname ELSE req.person_surname END,
					employee_type = CASE WHEN p.details_approved THEN p.employee_type ELSE req.person_employee_type END,
					email = CASE WHEN p.email = '' OR NOT p.details_approved THEN req.person_email ELSE p.email END,
					mobile = CASE WHEN p.mobile = '' OR NOT p.details_approved THEN req.person_mobile ELSE p.mobile END,
					job_title = CASE WHEN p.job_title = '' OR NOT p.details_approved THEN req.person_job_title ELSE p.job_title END,
					requested_username = CASE WHEN (p.requested_username = '' OR NOT p.details_approved)
						AND NOT (SELECT yes FROM hasAccount) THEN req.person_username ELSE p.requested_username END,
					details_approved = true
				FROM req WHERE p.id = req.person_id
				RETURNING p.*)
		SELECT array_remove(ARRAY[
			CASE WHEN a.given_name <> b.given_name OR a.surname <> b.surname THEN 'name' END,
			CASE WHEN a.employee_type <> b.employee_type THEN 'employeeType' END,
			CASE WHEN a.email <> b.email THEN 'email' END,
			CASE WHEN a.mobile <> b.mobile THEN 'mobile' END,
			CASE WHEN a.job_title <> b.job_title THEN 'jobTitle' END,
			CASE WHEN a.requested_username <> b.requested_username THEN 'username' END], NULL)
		FROM after a JOIN before b ON a.id = b.id`, r.id, s.dirName).Scan(&changed)
	if err != nil {
		return fmt.Errorf("apply the person data of %s: %w", r.number, err)
	}
	if len(changed) == 0 {
		return nil
	}
	if slices.Contains(changed, "username") {
		if _, err := tx.Exec(ctx, "UPDATE persons SET link_required = '' WHERE id = $1", r.personID); err != nil {
			return fmt.Errorf("apply the username of %s: %w", r.number, err)
		}
	}
	return s.record(ctx, tx, actor, "person.updated", r.id, r.personID, map[string]any{"fields": changed})
}
