package provisioning

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Change requests (Norrköping's "ny/ändrad/raderas behörighet"). For a person who already has
// access, a change adds systems or roles (items, exactly as in a grant request) and ends some
// of their grants while the rest stays ("avslutar ej aktuell behörighet"); a changed role is
// the old grant ended and the new one added. Approval, terms (for what is added only) and the
// jobs are those of a grant request; ending a grant is the termination's way (endGrants), on
// the grants named instead of all of them. Nothing happens to a grant before a manager has
// approved: until then the endings are only rows of request_endings.

// EndInput names grants a change request ends: one grant by its id, or every open grant of
// the person that gives what System, Role and Unit name (at least one of them).
type EndInput struct {
	Grant  string
	System string
	Role   string
	Unit   string // unit id or ansvarskod
	// EffectiveDate is the day the access ends (YYYY-MM-DD); empty: the request's
	// EffectiveDate, else today, which means at approval.
	EffectiveDate string
}

// validEnding is a grant a change ends, resolved at submission.
type validEnding struct {
	grantID, unitID string
	effective       time.Time
}

// endableGrant is an open grant of the person that the requester may end: one they can see.
type endableGrant struct {
	id, system, role, unitID string
	endsAt                   *time.Time
}

// CheckSubmit validates a request as Submit would and stores nothing: the change form shows
// what a change will do before it is sent, and refuses there what Submit would refuse.
func (s *Service) CheckSubmit(ctx context.Context, actor Actor, in SubmitInput) error {
	_, err := s.validate(ctx, actor, in)
	return err
}

func (s *Service) validateChange(ctx context.Context, actor Actor, in SubmitInput, v *validated, ve *ValidationError) error {
	p := in.Person
	if p.GivenName != "" || p.Surname != "" || p.Email != "" || p.Mobile != "" || p.EmployeeType != "" ||
		p.Username != "" || p.JobTitle != "" {
		ve.add("person", "a change names the person by id or personnummer only; it does not change their details")
	}
	// Nothing the requester typed about the person is kept on the request.
	v.person = PersonInput{}
	if err := s.validateKnownPerson(ctx, actor, p, v, ve); err != nil {
		return err
	}
	if len(in.Items) == 0 && len(in.End) == 0 {
		ve.add("items", "a change adds systems (items) or ends grants (end); name at least one")
	}
	if len(in.Items) > 0 {
		withType := in
		if v.personID != "" {
			// A consultant's new access needs an end, as in a grant request.
			if err := s.db.QueryRow(ctx, "SELECT employee_type FROM persons WHERE id = $1", v.personID).
				Scan(&withType.Person.EmployeeType); err != nil {
				return fmt.Errorf("employee type of person %s: %w", v.personID, err)
			}
		}
		s.validateValidity(withType, v, ve)
		if err := s.validateItems(ctx, in, v, ve); err != nil {
			return err
		}
	} else if in.ValidFrom != "" || in.ValidTo != "" {
		ve.add("validFrom", "is for the systems a change adds, and this one adds none")
	}
	eff, err := s.effectiveDate("effectiveDate", in.EffectiveDate, ve)
	if err != nil || v.personID == "" {
		return err
	}
	if len(in.End) > maxItems {
		ve.add("end", "at most %d grants ended in one request", maxItems)
		return nil
	}
	endable, err := s.endableGrants(ctx, actor, v.personID)
	if err != nil {
		return err
	}
	for i, e := range in.End {
		if err := s.validateEnd(ctx, fmt.Sprintf("end[%d]", i), e, eff, endable, v, ve); err != nil {
			return err
		}
	}
	// Adding what the person has and keeps is a mistake: say so instead of granting it twice.
	for _, it := range v.items {
		for _, g := range endable {
			if g.system == it.systemID && g.role == it.roleID && g.unitID == it.unitID && !v.ends(g.id) {
				ve.add("items", "the person already has %s", describeGrant(g.system, g.role))
			}
		}
	}
	return nil
}

// effectiveDate reads an optional effective date: empty is today, the past is refused.
func (s *Service) effectiveDate(field, value string, ve *ValidationError) (time.Time, error) {
	eff, err := parseDate(value)
	switch {
	case err != nil:
		ve.add(field, "%v", err)
	case eff.IsZero():
		return s.today(), nil
	case eff.Before(s.today()):
		ve.add(field, "%s is in the past", value)
	}
	return eff, nil
}

func (v *validated) ends(grantID string) bool {
	return slices.ContainsFunc(v.endings, func(e validEnding) bool { return e.grantID == grantID })
}

// validateEnd resolves one entry of a change's end list to the grants it ends.
func (s *Service) validateEnd(ctx context.Context, at string, e EndInput, requestEff time.Time, endable []endableGrant,
	v *validated, ve *ValidationError) error {
	eff := requestEff
	if strings.TrimSpace(e.EffectiveDate) != "" {
		var err error
		if eff, err = s.effectiveDate(at+".effectiveDate", strings.TrimSpace(e.EffectiveDate), ve); err != nil {
			return err
		}
	}
	grant, system, role, unit := strings.TrimSpace(e.Grant), strings.TrimSpace(e.System), strings.TrimSpace(e.Role), strings.TrimSpace(e.Unit)
	var matches []endableGrant
	switch {
	case grant != "" && (system != "" || role != "" || unit != ""):
		ve.add(at, "name the grant by its id or by system, role and unit, not both")
		return nil
	case grant != "":
		for _, g := range endable {
			if g.id == grant {
				matches = append(matches, g)
			}
		}
		if len(matches) == 0 {
			// The same answer for a grant of someone else, an ended one and no grant, so that
			// grant ids cannot be probed.
			ve.add(at+".grant", "%q is not a grant the person has", grant)
			return nil
		}
	case system == "" && role == "" && unit == "":
		ve.add(at, "name the grant: its id, or its system, role or unit")
		return nil
	default:
		if role != "" && system == "" {
			ve.add(at+".role", "a role needs its system")
			return nil
		}
		var unitID string
		if system != "" {
			var exists bool
			if err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM systems WHERE id = $1)", system).Scan(&exists); err != nil {
				return fmt.Errorf("look up system %q: %w", system, err)
			}
			if !exists {
				ve.add(at+".system", "%q is not a system in the catalog", system)
				return nil
			}
		}
		if unit != "" {
			var code string
			id, err := s.findUnit(ctx, unit, v.scope, &code)
			if errors.Is(err, ErrNotFound) {
				ve.add(at+".unit", "no unit has the id or ansvarskod %q", unit)
				return nil
			} else if err != nil {
				return err
			}
			unitID = id
		}
		for _, g := range endable {
			if (system == "" || g.system == system) && (role == "" || g.role == role) && (unitID == "" || g.unitID == unitID) {
				matches = append(matches, g)
			}
		}
		if len(matches) == 0 {
			ve.add(at, "the person has no grant of %s", describeEnd(system, role, unit))
			return nil
		}
	}
	for _, g := range matches {
		if v.ends(g.id) {
			ve.add(at, "ends a grant that an earlier entry ends already")
			return nil
		}
		if g.endsAt != nil && !g.endsAt.After(s.startOf(eff)) {
			ve.add(at+".effectiveDate", "the grant ends on %s already, before the effective date", g.endsAt.In(s.loc).Format(dateLayout))
			return nil
		}
	}
	for _, g := range matches {
		v.endings = append(v.endings, validEnding{grantID: g.id, unitID: g.unitID, effective: eff})
	}
	return nil
}

func describeGrant(system, role string) string {
	if role == "" {
		return system
	}
	return system + " / " + role
}

func describeEnd(system, role, unit string) string {
	var parts []string
	for _, p := range []string{system, role, unit} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " / ")
}

// endableGrants are the person's open grants that the actor may end: IT all of them, others
// those of the requests they may see, as the person page shows them.
func (s *Service) endableGrants(ctx context.Context, actor Actor, personID string) ([]endableGrant, error) {
	rows, err := s.db.Query(ctx, `SELECT id::text, system_id, coalesce(role_id, ''), unit_id::text, request_id::text, ends_at
		FROM grants WHERE person_id = $1 AND state <> $2 ORDER BY starts_at, id`, personID, GrantRevoked)
	if err != nil {
		return nil, fmt.Errorf("read grants of person %s: %w", personID, err)
	}
	type row struct {
		g         endableGrant
		requestID string
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.g.id, &x.g.system, &x.g.role, &x.g.unitID, &x.requestID, &x.g.endsAt)
	})
	if err != nil {
		return nil, fmt.Errorf("read grants of person %s: %w", personID, err)
	}
	var visible map[string]bool
	if !actor.IT() {
		if visible, err = s.visibleRequestsOf(ctx, actor, personID, false); err != nil {
			return nil, err
		}
	}
	var out []endableGrant
	for _, x := range all {
		if visible == nil || visible[x.requestID] {
			out = append(out, x.g)
		}
	}
	return out, nil
}

// insertEndings keeps the grants a change ends with the request, to be ended at approval.
func insertEndings(ctx context.Context, tx pgx.Tx, requestID string, endings []validEnding) error {
	for i, e := range endings {
		if _, err := tx.Exec(ctx, `INSERT INTO request_endings (request_id, position, grant_id, effective_date)
			VALUES ($1, $2, $3, $4)`, requestID, i, e.grantID, e.effective); err != nil {
			return fmt.Errorf("insert ending %d of request %s: %w", i, requestID, err)
		}
	}
	return nil
}

// grantEnd is a grant to end and when.
type grantEnd struct {
	id string
	at time.Time
}

// endGrants sets when the grants end (their ends_at, unless they end earlier anyway) and which
// request ends them, schedules a revocation at that time and audits each. Grants revoked
// meanwhile are left alone. It returns the grants it ended. The revocation job converges the
// person (converge.go): what is taken away follows from the grants, never from this list.
func (s *Service) endGrants(ctx context.Context, tx pgx.Tx, actor string, r requestRow, ends []grantEnd) ([]grantEnd, error) {
	if len(ends) == 0 {
		return nil, nil
	}
	ids, ats := make([]string, len(ends)), make([]time.Time, len(ends))
	for i, e := range ends {
		ids[i], ats[i] = e.id, e.at
	}
	// The request that ends a grant first is the one it is ended by; an earlier end stays.
	rows, err := tx.Query(ctx, `UPDATE grants g SET ends_at = LEAST(coalesce(g.ends_at, e.at), e.at),
			ended_by_request = CASE WHEN g.ended_by_request IS NULL OR e.at < g.ends_at THEN $2::uuid ELSE g.ended_by_request END
		FROM unnest($3::uuid[], $4::timestamptz[]) AS e(id, at)
		WHERE g.id = e.id AND g.person_id = $1 AND g.state <> $5
		RETURNING g.id::text, g.group_name, e.at`, r.personID, r.id, ids, ats, GrantRevoked)
	if err != nil {
		return nil, fmt.Errorf("end grants for %s: %w", r.number, err)
	}
	type ending struct {
		id, group string
		at        time.Time
	}
	ended, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ending, error) {
		var g ending
		return g, row.Scan(&g.id, &g.group, &g.at)
	})
	if err != nil {
		return nil, fmt.Errorf("end grants for %s: %w", r.number, err)
	}
	out := make([]grantEnd, 0, len(ended))
	for _, g := range ended {
		if err := s.jobs.ScheduleRevoke(ctx, tx, g.id, "request:"+r.id, s.due(g.at)); err != nil {
			return nil, fmt.Errorf("schedule revocation of %s: %w", g.group, err)
		}
		if err := s.record(ctx, tx, actor, "grant.ending", r.id, r.personID,
			map[string]any{"grant": g.id, "group": g.group, "endsAt": g.at}); err != nil {
			return nil, err
		}
		out = append(out, grantEnd{g.id, g.at})
	}
	return out, s.revokeFactorsNow(ctx, tx, actor, r, out)
}

// startChange ends the grants an approved change names, once its new grants are made
// (startGrants), and moves the request on: to completed when there was nothing left to do,
// else to in_progress or scheduled by when its first piece of work is due.
func (s *Service) startChange(ctx context.Context, tx pgx.Tx, actor string, r requestRow, added bool, startsAt time.Time) (string, error) {
	now := s.clock.Now()
	rows, err := tx.Query(ctx, "SELECT grant_id::text, effective_date FROM request_endings WHERE request_id = $1 ORDER BY position", r.id)
	if err != nil {
		return "", fmt.Errorf("read the endings of %s: %w", r.number, err)
	}
	ends, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (grantEnd, error) {
		var e grantEnd
		var day time.Time
		err := row.Scan(&e.id, &day)
		e.at = now
		if s.startOf(day).After(now) {
			e.at = s.startOf(day)
		}
		return e, err
	})
	if err != nil {
		return "", fmt.Errorf("read the endings of %s: %w", r.number, err)
	}
	ended, err := s.endGrants(ctx, tx, actor, r, ends)
	if err != nil {
		return "", err
	}
	if !added && len(ended) == 0 {
		return StatusCompleted, s.setStatus(ctx, tx, actor, r, StatusCompleted, map[string]any{"note": "the grants to end have ended"})
	}
	first := startsAt
	for i, e := range ended {
		if (!added && i == 0) || e.at.Before(first) {
			first = e.at
		}
	}
	return s.moveOn(ctx, tx, actor, r, first)
}

// EndView is a grant that a change request ends.
type EndView struct {
	GrantID       string  `json:"grantId"`
	System        string  `json:"system"`
	SystemName    string  `json:"systemName"`
	Role          string  `json:"role,omitempty"`
	RoleName      string  `json:"roleName,omitempty"`
	Unit          UnitRef `json:"unit"`
	Group         string  `json:"group"`
	EffectiveDate string  `json:"effectiveDate"`
	GrantState    string  `json:"grantState"`
}

func (s *Service) endings(ctx context.Context, requestID string) ([]EndView, error) {
	rows, err := s.db.Query(ctx, `SELECT g.id::text, g.system_id, sy.name, coalesce(g.role_id, ''), coalesce(ro.name, ''),
			u.id::text, u.name, u.ansvarskod, g.group_name, e.effective_date, g.state
		FROM request_endings e JOIN grants g ON g.id = e.grant_id JOIN systems sy ON sy.id = g.system_id
			JOIN units u ON u.id = g.unit_id LEFT JOIN system_roles ro ON ro.system_id = g.system_id AND ro.id = g.role_id
		WHERE e.request_id = $1 ORDER BY e.position`, requestID)
	if err != nil {
		return nil, fmt.Errorf("read the endings of request %s: %w", requestID, err)
	}
	ends, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (EndView, error) {
		var e EndView
		var day time.Time
		err := row.Scan(&e.GrantID, &e.System, &e.SystemName, &e.Role, &e.RoleName, &e.Unit.ID, &e.Unit.Name,
			&e.Unit.Ansvarskod, &e.Group, &day, &e.GrantState)
		e.EffectiveDate = day.Format(dateLayout)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the endings of request %s: %w", requestID, err)
	}
	if ends == nil {
		ends = []EndView{}
	}
	return ends, nil
}
