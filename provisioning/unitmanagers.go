package provisioning

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// UnitManagers is a unit with the managers who can attest requests for it: its own managers
// and those of the units above it, nearest first.
type UnitManagers struct {
	UnitRef
	Managers []Approver `json:"managers"`
}

// UnitsWithManagers finds units as SearchUnits does and names, for each, the managers who
// can attest for it. For an actor of an external organisation both are confined to the
// organisation: a manager who manages none of its units is not named, as the approver field
// would refuse them.
func (s *Service) UnitsWithManagers(ctx context.Context, actor Actor, query string, limit int) ([]UnitManagers, error) {
	units, err := s.SearchUnits(ctx, actor, query, limit)
	if err != nil {
		return nil, err
	}
	scope, err := organisationUnits(ctx, s.db, actor)
	if err != nil {
		return nil, err
	}
	out := make([]UnitManagers, len(units))
	byID := map[string]*UnitManagers{}
	ids := make([]string, len(units))
	for i, u := range units {
		out[i] = UnitManagers{UnitRef: u, Managers: []Approver{}}
		byID[u.ID] = &out[i]
		ids[i] = u.ID
	}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Query(ctx, `WITH RECURSIVE up AS (
			SELECT id AS unit_id, id, parent_id, 0 AS depth FROM units WHERE id = ANY($1::uuid[])
			UNION ALL SELECT up.unit_id, u.id, u.parent_id, up.depth + 1 FROM units u JOIN up ON u.id = up.parent_id)
		SELECT up.unit_id::text, min(up.depth), p.subject, p.display_name, p.email
		FROM up JOIN unit_managers m ON m.unit_id = up.id JOIN principals p ON p.id = m.principal_id
		WHERE $2::uuid[] IS NULL OR EXISTS (SELECT 1 FROM unit_managers o WHERE o.principal_id = p.id AND o.unit_id = ANY($2))
		GROUP BY up.unit_id, p.id`, ids, scope)
	if err != nil {
		return nil, fmt.Errorf("read the managers of %d units: %w", len(ids), err)
	}
	type manager struct {
		unitID string
		depth  int
		Approver
	}
	managers, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (manager, error) {
		var m manager
		err := row.Scan(&m.unitID, &m.depth, &m.Subject, &m.Name, &m.Email)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the managers of %d units: %w", len(ids), err)
	}
	slices.SortFunc(managers, func(a, b manager) int {
		return cmp.Or(cmp.Compare(a.depth, b.depth), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Subject, b.Subject))
	})
	for _, m := range managers {
		u := byID[m.unitID]
		u.Managers = append(u.Managers, m.Approver)
	}
	return out, nil
}
