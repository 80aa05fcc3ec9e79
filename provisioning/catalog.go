package provisioning

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// SystemView is a system of the catalog as a request form offers it.
type SystemView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	NeedsTerms bool       `json:"needsTerms"`
	Roles      []RoleView `json:"roles"` // empty for yes/no systems
	// NeedsCertificate: a request waits for a verified training certificate, from the
	// training at TrainingURL. Category groups the system on the form (empty: none).
	NeedsCertificate bool   `json:"needsCertificate"`
	TrainingURL      string `json:"trainingUrl,omitempty"`
	Category         string `json:"category,omitempty"`
	// RemoteAccess is a system of the remote-access order (RemoteAccessSystems), with the
	// price per month the orderer is shown ("130 kr/månad"); Catalog lists none of them.
	RemoteAccess    bool `json:"remoteAccess,omitempty"`
	MonthlyPriceSEK int  `json:"monthlyPriceSek,omitempty"`
}

// RoleView is one role of a system.
type RoleView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Catalog lists the systems one may apply for, with their roles, in name order. Remote
// access is not among them: it is ordered with its second factor (RemoteAccessSystems).
func (s *Service) Catalog(ctx context.Context) ([]SystemView, error) {
	rows, err := s.db.Query(ctx, `SELECT s.id, s.name, s.needs_terms,
			COALESCE(array_agg(r.id ORDER BY r.id) FILTER (WHERE r.id IS NOT NULL), '{}'),
			COALESCE(array_agg(r.name ORDER BY r.id) FILTER (WHERE r.id IS NOT NULL), '{}'),
			s.needs_certificate, s.training_url, coalesce(s.category_id, '')
		FROM systems s LEFT JOIN system_roles r ON r.system_id = s.id
		WHERE NOT s.remote_access
		GROUP BY s.id ORDER BY s.has_roles DESC, s.name`)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (SystemView, error) {
		var v SystemView
		var ids, names []string
		if err := row.Scan(&v.ID, &v.Name, &v.NeedsTerms, &ids, &names, &v.NeedsCertificate, &v.TrainingURL, &v.Category); err != nil {
			return v, err
		}
		v.Roles = make([]RoleView, len(ids))
		for i := range ids {
			v.Roles[i] = RoleView{ID: ids[i], Name: names[i]}
		}
		return v, nil
	})
}

// organisationUnits returns the ids of the units an actor of an external organisation may
// see and name: the external top-level unit above the actor's own unit, and every unit under
// it. For an actor outside any external organisation (internal staff, tokens without a unit)
// it returns nil: not confined.
func organisationUnits(ctx context.Context, q querier, actor Actor) ([]string, error) {
	rows, err := q.Query(ctx, `WITH RECURSIVE up AS (
			SELECT u.id, u.parent_id, u.external FROM principals p JOIN units u ON u.id = p.unit_id WHERE p.id = $1
			UNION ALL SELECT u.id, u.parent_id, u.external FROM units u JOIN up ON u.id = up.parent_id),
		down AS (
			SELECT id FROM up WHERE parent_id IS NULL AND external
			UNION ALL SELECT u.id FROM units u JOIN down ON u.parent_id = down.id)
		SELECT id::text FROM down`, uuidOrNull(actor.ID))
	if err != nil {
		return nil, fmt.Errorf("organisation of %s: %w", actor.Subject, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return ids, nil
}

// SearchUnits finds units by a part of the name or the start of the ansvarskod, best matches
// first (ansvarskod, then name start, then anywhere in the name), among the units the actor
// may name. limit 0 means all.
func (s *Service) SearchUnits(ctx context.Context, actor Actor, query string, limit int) ([]UnitRef, error) {
	q := strings.TrimSpace(query)
	if limit <= 0 {
		limit = 1000
	}
	scope, err := organisationUnits(ctx, s.db, actor)
	if err != nil {
		return nil, err
	}
	like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(q)) + "%"
	rows, err := s.db.Query(ctx, `SELECT id::text, name, ansvarskod FROM units
		WHERE ($1 = '' OR ansvarskod LIKE $2 || '%' OR lower(name) LIKE $3) AND ($5::uuid[] IS NULL OR id = ANY($5))
		ORDER BY (ansvarskod = $1) DESC, (ansvarskod LIKE $2 || '%') DESC, (lower(name) LIKE lower($1) || '%') DESC, name
		LIMIT $4`, q, strings.TrimSuffix(strings.TrimPrefix(like, "%"), "%"), like, limit, scope)
	if err != nil {
		return nil, fmt.Errorf("search units %q: %w", q, err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[UnitRef])
}

// Approver is someone who attests for at least one unit.
type Approver struct {
	Subject string `json:"subject"`
	Name    string `json:"name"`
	Email   string `json:"email"`
}

// Approvers lists the managers with attestation rights the actor may name in the approver
// field: for an actor of an external organisation, the managers of its units only. With a
// unit (id or ansvarskod), only those who can attest it: its managers and those of the
// units above it. An unknown unit leaves the list unfiltered, as the form cannot yet say
// which unit is meant.
func (s *Service) Approvers(ctx context.Context, actor Actor, unit string) ([]Approver, error) {
	scope, err := organisationUnits(ctx, s.db, actor)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `WITH RECURSIVE up AS (
			SELECT id, parent_id FROM units WHERE $2 <> '' AND (id = $3 OR ansvarskod = $2)
			UNION ALL SELECT u.id, u.parent_id FROM units u JOIN up ON u.id = up.parent_id)
		SELECT DISTINCT p.subject, p.display_name, p.email FROM principals p
		JOIN unit_managers m ON m.principal_id = p.id
		WHERE ($1::uuid[] IS NULL OR m.unit_id = ANY($1))
			AND (NOT EXISTS (SELECT 1 FROM up) OR m.unit_id IN (SELECT id FROM up))
		ORDER BY p.display_name`, scope, strings.TrimSpace(unit), uuidOrNull(strings.TrimSpace(unit)))
	if err != nil {
		return nil, fmt.Errorf("read approvers: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Approver])
}
