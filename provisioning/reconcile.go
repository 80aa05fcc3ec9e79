package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReconcileReport is one comparison of the directory with the grants: what differed and,
// unless it was a dry run, what was repaired.
type ReconcileReport struct {
	ID          string       `json:"id"`
	StartedAt   time.Time    `json:"startedAt"`
	FinishedAt  *time.Time   `json:"finishedAt,omitempty"`
	DryRun      bool         `json:"dryRun"`
	Trigger     string       `json:"trigger"` // periodic or cli
	Persons     int          `json:"persons"` // persons compared
	Groups      int          `json:"groups"`  // managed groups whose members were compared
	Differences []Difference `json:"differences"`
	Repaired    int          `json:"repaired"`
	// Problems are persons that could not be compared or repaired, e.g. one waiting for IT to
	// confirm an account link, or a directory error; the next run tries again.
	Problems []string `json:"problems,omitempty"`
}

// Counts sums the differences by kind.
func (r ReconcileReport) Counts() map[string]int {
	counts := map[string]int{}
	for _, d := range r.Differences {
		counts[d.Kind]++
	}
	return counts
}

// Reconcile is the safety net under the jobs: it compares every account behorig holds and
// every group it manages with the grants, reports each difference (a member nobody granted, a
// granted membership missing, an account enabled without a grant in effect or disabled with
// one) and, unless dryRun, repairs it with an audit event per repair. Persons come first, so
// that an account whose creation a crash left unrecorded is known before its groups are read.
func (s *Service) Reconcile(ctx context.Context, dryRun bool, trigger string) (ReconcileReport, error) {
	r := ReconcileReport{StartedAt: s.clock.Now(), DryRun: dryRun, Trigger: trigger, Differences: []Difference{}}
	if err := s.db.QueryRow(ctx, `INSERT INTO reconcile_runs (started_at, dry_run, trigger) VALUES ($1, $2, $3) RETURNING id::text`,
		r.StartedAt, dryRun, trigger).Scan(&r.ID); err != nil {
		return r, fmt.Errorf("start reconciliation: %w", err)
	}
	err := s.reconcilePersons(ctx, &r)
	if err == nil {
		err = s.reconcileGroups(ctx, &r)
	}
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	if ferr := s.finishReconcile(ctx, &r); ferr != nil {
		return r, errors.Join(err, ferr)
	}
	return r, err
}

func (s *Service) reconcilePersons(ctx context.Context, r *ReconcileReport) error {
	rows, err := s.db.Query(ctx, `SELECT p.id::text FROM persons p
		WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.person_id = p.id AND a.directory = $1)
			OR EXISTS (SELECT 1 FROM grants g WHERE g.person_id = p.id AND g.state <> 'revoked' AND NOT g.manual)
		ORDER BY p.id`, s.dirName)
	if err != nil {
		return fmt.Errorf("list persons to reconcile: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list persons to reconcile: %w", err)
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.Persons++
		diffs, err := s.Converge(ctx, id, r.DryRun)
		r.Differences = append(r.Differences, diffs...)
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("person %s: %v", id, err))
			continue
		}
		if err := s.recordRepairs(ctx, r, diffs); err != nil {
			return err
		}
	}
	return nil
}

// reconcileGroups removes from every group behorig manages the members that are no account of
// behorig's: nobody granted them that membership. Members that are behorig's accounts were
// compared with their grants in the persons pass.
func (s *Service) reconcileGroups(ctx context.Context, r *ReconcileReport) error {
	managed, err := s.allManagedGroups(ctx)
	if err != nil {
		return err
	}
	groups := slices.Sorted(maps.Keys(managed))
	known, err := s.knownAccounts(ctx)
	if err != nil {
		return err
	}
	for _, group := range groups {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.Groups++
		members, err := s.dir.GroupMembers(ctx, group)
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("group %s: %v", group, err))
			continue
		}
		if slices.ContainsFunc(members, func(m string) bool { return !known.has(m) }) {
			// A provisioning may have recorded an account since: look again before removing.
			if known, err = s.knownAccounts(ctx); err != nil {
				return err
			}
		}
		for _, member := range members {
			if known.has(member) {
				continue
			}
			d := Difference{Kind: DiffUngrantedMember, DN: member, Group: group}
			r.Differences = append(r.Differences, d)
			if r.DryRun {
				continue
			}
			if err := s.dir.RemoveMember(ctx, group, member); err != nil {
				r.Problems = append(r.Problems, fmt.Sprintf("remove %s from %s: %v", member, group, err))
				continue
			}
			if err := s.recordRepairs(ctx, r, []Difference{d}); err != nil {
				return err
			}
		}
	}
	return nil
}

// heldAccounts are the entries behorig holds: by DN once recorded, and by the username of a
// reservation whose DN is not yet recorded (an account being created right now).
type heldAccounts struct{ dns, reserved map[string]bool }

// has tells whether a member DN is one of behorig's accounts. DNs and names are compared
// lower-cased in Go, not in SQL: the database's collation must not decide.
func (a heldAccounts) has(dn string) bool {
	if a.dns[strings.ToLower(dn)] {
		return true
	}
	rdn, _, _ := strings.Cut(dn, ",")
	_, value, _ := strings.Cut(rdn, "=")
	return a.reserved[strings.ToLower(strings.TrimSpace(value))]
}

func (s *Service) knownAccounts(ctx context.Context) (heldAccounts, error) {
	a := heldAccounts{dns: map[string]bool{}, reserved: map[string]bool{}}
	rows, err := s.db.Query(ctx, "SELECT dn, username, state FROM accounts WHERE directory = $1", s.dirName)
	if err != nil {
		return a, fmt.Errorf("list accounts: %w", err)
	}
	var dn, username, state string
	_, err = pgx.ForEachRow(rows, []any{&dn, &username, &state}, func() error {
		if dn != "" {
			a.dns[strings.ToLower(dn)] = true
		}
		if state == "reserved" {
			a.reserved[strings.ToLower(username)] = true
		}
		return nil
	})
	if err != nil {
		return a, fmt.Errorf("list accounts: %w", err)
	}
	return a, nil
}

// recordRepairs audits each repaired difference.
func (s *Service) recordRepairs(ctx context.Context, r *ReconcileReport, diffs []Difference) error {
	if r.DryRun || len(diffs) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		for _, d := range diffs {
			if err := s.record(ctx, tx, systemActor, "reconcile.repaired", "", d.PersonID,
				map[string]any{"run": r.ID, "kind": d.Kind, "username": d.Username, "dn": d.DN, "group": d.Group}); err != nil {
				return err
			}
			r.Repaired++
		}
		return nil
	})
}

func (s *Service) finishReconcile(ctx context.Context, r *ReconcileReport) error {
	now := s.clock.Now()
	r.FinishedAt = &now
	diffs, err := json.Marshal(r.Differences)
	if err != nil {
		return fmt.Errorf("encode differences: %w", err)
	}
	// The run is recorded even when ctx ended (a timeout): IT must see that it stopped.
	ctx = context.WithoutCancel(ctx)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE reconcile_runs SET finished_at = $2, persons = $3, groups = $4, differences = $5,
				repaired = $6, error = $7 WHERE id = $1`, r.ID, now, r.Persons, r.Groups, diffs, r.Repaired,
			strings.Join(r.Problems, "\n")); err != nil {
			return fmt.Errorf("record reconciliation: %w", err)
		}
		return s.record(ctx, tx, systemActor, "reconcile.run", "", "", map[string]any{"run": r.ID, "dryRun": r.DryRun,
			"trigger": r.Trigger, "persons": r.Persons, "groups": r.Groups, "differences": len(r.Differences),
			"repaired": r.Repaired, "problems": len(r.Problems)})
	})
}

// LastReconcile returns the newest finished reconciliation, for IT; found is false before the
// first.
func (s *Service) LastReconcile(ctx context.Context, actor Actor) (r ReconcileReport, found bool, err error) {
	if !actor.IT() {
		return r, false, fmt.Errorf("reconciliation: %w", ErrForbidden)
	}
	var diffs []byte
	var problems string
	err = s.db.QueryRow(ctx, `SELECT id::text, started_at, finished_at, dry_run, trigger, persons, groups, differences, repaired, error
		FROM reconcile_runs WHERE finished_at IS NOT NULL ORDER BY started_at DESC LIMIT 1`).Scan(&r.ID, &r.StartedAt,
		&r.FinishedAt, &r.DryRun, &r.Trigger, &r.Persons, &r.Groups, &diffs, &r.Repaired, &problems)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("read last reconciliation: %w", err)
	}
	if err := json.Unmarshal(diffs, &r.Differences); err != nil {
		return r, false, fmt.Errorf("read last reconciliation: %w", err)
	}
	if problems != "" {
		r.Problems = strings.Split(problems, "\n")
	}
	return r, true, nil
}

// NormalizeGroupKeys makes every grant's group_key what groupKey says of its group name.
// Migration 017 filled the keys with SQL's lower(), which leaves letters such as Å and Ö as
// they are under some collations; the service runs this at start so Go decides.
func (s *Service) NormalizeGroupKeys(ctx context.Context) error {
	rows, err := s.db.Query(ctx, "SELECT DISTINCT group_name, group_key FROM grants")
	if err != nil {
		return fmt.Errorf("read group keys: %w", err)
	}
	type pair struct{ name, key string }
	pairs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (pair, error) {
		var p pair
		return p, row.Scan(&p.name, &p.key)
	})
	if err != nil {
		return fmt.Errorf("read group keys: %w", err)
	}
	for _, p := range pairs {
		if p.key == groupKey(p.name) {
			continue
		}
		if _, err := s.db.Exec(ctx, "UPDATE grants SET group_key = $2 WHERE group_name = $1", p.name, groupKey(p.name)); err != nil {
			return fmt.Errorf("fix the group key of %s: %w", p.name, err)
		}
	}
	return nil
}
