package provisioning

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/behorig/behorig/internal/textcheck"
)

// isUniqueViolation tells a unique constraint's refusal (SQLSTATE 23505) from other errors.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// UnitAdmin is a unit as the admin page shows and edits it.
type UnitAdmin struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Ansvarskod string   `json:"ansvarskod"`
	ParentID   string   `json:"parentId,omitempty"`
	ParentName string   `json:"parentName,omitempty"`
	Managers   []string `json:"managers"` // subjects, or e-mail where the principal has one
	// External marks a top-level unit as an external provider's organisation, whose people
	// see only its units and managers.
	External bool `json:"external"`
}

// UnitInput is a new or changed unit. Managers name principals by subject or e-mail.
type UnitInput struct {
	ID, Name, Ansvarskod, Parent string
	Managers                     []string
	External                     bool // only for a top-level unit
}

var ansvarskodPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z-]{0,15}$`)

func requireAdmin(actor Actor, what string) error {
	if !actor.Admin() {
		return fmt.Errorf("%s: only an IT administrator may: %w", what, ErrForbidden)
	}
	return nil
}

// Units lists every unit with its parent and managers, for the admin page.
func (s *Service) Units(ctx context.Context, actor Actor) ([]UnitAdmin, error) {
	if err := requireAdmin(actor, "list units"); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT u.id::text, u.name, u.ansvarskod, COALESCE(p.id::text, ''), COALESCE(p.name, ''),
			COALESCE(array_agg(CASE WHEN m.email <> '' THEN m.email ELSE m.subject END ORDER BY m.display_name)
				FILTER (WHERE m.id IS NOT NULL), '{}'), u.external
		FROM units u LEFT JOIN units p ON p.id = u.parent_id
			LEFT JOIN unit_managers um ON um.unit_id = u.id LEFT JOIN principals m ON m.id = um.principal_id
		GROUP BY u.id, p.id ORDER BY u.ansvarskod`)
	if err != nil {
		return nil, fmt.Errorf("read units: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[UnitAdmin])
}

// SaveUnit creates a unit (no ID) or changes one, with its managers, in one transaction.
func (s *Service) SaveUnit(ctx context.Context, actor Actor, in UnitInput) (string, error) {
	if err := requireAdmin(actor, "save unit"); err != nil {
		return "", err
	}
	in.Name, in.Ansvarskod, in.Parent = strings.TrimSpace(in.Name), strings.TrimSpace(in.Ansvarskod), strings.TrimSpace(in.Parent)
	ve := &ValidationError{}
	if in.Name == "" {
		ve.add("name", "is required")
	} else if len(in.Name) > 120 || textcheck.Line(in.Name) != nil {
		ve.add("name", "must be at most 120 characters without control characters")
	}
	if !ansvarskodPattern.MatchString(in.Ansvarskod) {
		ve.add("ansvarskod", "must be 1–16 letters, digits or '-'")
	}
	if in.External && in.Parent != "" {
		ve.add("external", "only a unit without a parent can be an external organisation")
	}
	id := in.ID
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var parentID *string
		if in.Parent != "" {
			var pid string
			err := tx.QueryRow(ctx, "SELECT id::text FROM units WHERE ansvarskod = $1 OR id = $2", in.Parent, uuidOrNull(in.Parent)).Scan(&pid)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				ve.add("parent", "no unit has the id or ansvarskod %q", in.Parent)
			case err != nil:
				return err
			default:
				parentID = &pid
			}
		}
		if parentID != nil && id != "" {
			var cycle bool
			if err := tx.QueryRow(ctx, `WITH RECURSIVE up AS (SELECT id, parent_id FROM units WHERE id = $1
					UNION ALL SELECT u.id, u.parent_id FROM units u JOIN up ON u.id = up.parent_id)
				SELECT EXISTS (SELECT 1 FROM up WHERE id = $2)`, *parentID, uuidOrNull(id)).Scan(&cycle); err != nil {
				return err
			}
			if cycle {
				ve.add("parent", "would make the unit its own ancestor")
			}
		}
		managerIDs, err := s.principalIDs(ctx, tx, in.Managers, ve)
		if err != nil {
			return err
		}
		if err := ve.err(); err != nil {
			return err
		}
		if id == "" {
			err = tx.QueryRow(ctx, `INSERT INTO units (name, ansvarskod, parent_id, external) VALUES ($1, $2, $3, $4) RETURNING id::text`,
				in.Name, in.Ansvarskod, parentID, in.External).Scan(&id)
		} else {
			var tag pgconn.CommandTag
			tag, err = tx.Exec(ctx, `UPDATE units SET name = $2, ansvarskod = $3, parent_id = $4, external = $5 WHERE id = $1`,
				uuidOrNull(id), in.Name, in.Ansvarskod, parentID, in.External)
			if err == nil && tag.RowsAffected() == 0 {
				return fmt.Errorf("unit %s: %w", id, ErrNotFound)
			}
		}
		if isUniqueViolation(err) {
			ve.add("ansvarskod", "%q is already the ansvarskod of another unit", in.Ansvarskod)
			return ve
		}
		if err != nil {
			return fmt.Errorf("save unit %s: %w", in.Ansvarskod, err)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM unit_managers WHERE unit_id = $1", id); err != nil {
			return err
		}
		for _, m := range managerIDs {
			if _, err := tx.Exec(ctx, "INSERT INTO unit_managers (unit_id, principal_id) VALUES ($1, $2)", id, m); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, actor.Subject, "unit.saved", "", "", map[string]any{"unit": id, "ansvarskod": in.Ansvarskod,
			"name": in.Name, "parent": in.Parent, "managers": in.Managers, "external": in.External})
	})
	return id, err
}

// principalIDs resolves principals named by subject or e-mail.
func (s *Service) principalIDs(ctx context.Context, tx pgx.Tx, refs []string, ve *ValidationError) ([]string, error) {
	var ids []string
	for _, ref := range refs {
		ref = strings.TrimSpace(ref)
		if ref == "" {
			continue
		}
		var id string
		err := tx.QueryRow(ctx, `SELECT id::text FROM principals WHERE subject = $1 OR (email <> '' AND lower(email) = lower($1))
			ORDER BY (subject = $1) DESC LIMIT 1`, ref).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			ve.add("managers", "no user %q is known", ref)
			continue
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// SystemAdmin is a catalog system with everything the admin page edits.
type SystemAdmin struct {
	ID               string     `json:"id"`
	Name             string     `json:"name"`
	GroupTemplate    string     `json:"groupTemplate"`
	NeedsTerms       bool       `json:"needsTerms"`
	NeedsCertificate bool       `json:"needsCertificate"`
	Manual           bool       `json:"manual"`
	MonthlyPriceSEK  int        `json:"monthlyPriceSek"`
	Roles            []RoleView `json:"roles"`
	// ExampleGroups shows what the template makes for the first unit and each role.
	ExampleGroups []string `json:"exampleGroups"`
	// Terms is the newest text of the terms of access, TermsVersion its version (0: none).
	// Saving another text makes a new version; signatures keep the version they signed.
	Terms        string `json:"terms"`
	TermsVersion int    `json:"termsVersion"`
	// TrainingURL is the training a certificate shows (needsCertificate); Category the id
	// of the system's category, empty for none.
	TrainingURL string `json:"trainingUrl"`
	Category    string `json:"category"`
	// RemoteAccess marks the system a remote-access order grants (remoteaccess.go): it is
	// left out of the request form and ordered with its second factor.
	RemoteAccess bool `json:"remoteAccess"`
}

var systemIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// Systems lists the catalog with its group templates and flags.
func (s *Service) Systems(ctx context.Context, actor Actor) ([]SystemAdmin, error) {
	if err := requireAdmin(actor, "list the catalog"); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT s.id, s.name, s.group_template, s.needs_terms, s.needs_certificate, s.manual, s.monthly_price_sek,
			COALESCE(array_agg(r.id ORDER BY r.id) FILTER (WHERE r.id IS NOT NULL), '{}'),
			COALESCE(array_agg(r.name ORDER BY r.id) FILTER (WHERE r.id IS NOT NULL), '{}'),
			coalesce(t.text, ''), coalesce(t.version, 0), s.training_url, coalesce(s.category_id, ''), s.remote_access
		FROM systems s LEFT JOIN system_roles r ON r.system_id = s.id
			LEFT JOIN LATERAL (SELECT version, text FROM system_terms WHERE system_id = s.id ORDER BY version DESC LIMIT 1) t ON true
		GROUP BY s.id, t.text, t.version ORDER BY s.name`)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	var example string
	s.db.QueryRow(ctx, "SELECT ansvarskod FROM units ORDER BY ansvarskod LIMIT 1").Scan(&example)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (SystemAdmin, error) {
		var v SystemAdmin
		var ids, names []string
		if err := row.Scan(&v.ID, &v.Name, &v.GroupTemplate, &v.NeedsTerms, &v.NeedsCertificate, &v.Manual, &v.MonthlyPriceSEK, &ids, &names,
			&v.Terms, &v.TermsVersion, &v.TrainingURL, &v.Category, &v.RemoteAccess); err != nil {
			return v, err
		}
		for i := range ids {
			v.Roles = append(v.Roles, RoleView{ID: ids[i], Name: names[i]})
			v.ExampleGroups = append(v.ExampleGroups, renderGroup(v.GroupTemplate, example, ids[i]))
		}
		if len(ids) == 0 {
			v.ExampleGroups = []string{renderGroup(v.GroupTemplate, example, "")}
		}
		return v, nil
	})
}

// SaveSystem creates (create) or changes a catalog system and replaces its roles, checking
// everything before it writes anything, in one transaction. Creating refuses an id that is
// taken, so a new system never overwrites one. The group template must make a valid group
// for every unit and role: it is rendered with the longest ansvarskod and each role and
// checked by the directory.
func (s *Service) SaveSystem(ctx context.Context, actor Actor, in SystemAdmin, create bool) error {
	if err := requireAdmin(actor, "save system"); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		// Held until the save commits: a submission not yet committed holds the system by
		// its item's foreign key, so this waits for it and the check's count of open
		// requests sees it; one that comes after waits for the save and checks the flag
		// again (lockItemSystems).
		if _, err := tx.Exec(ctx, "SELECT 1 FROM systems WHERE id = $1 FOR UPDATE", strings.TrimSpace(in.ID)); err != nil {
			return fmt.Errorf("lock system %s: %w", in.ID, err)
		}
		if err := s.checkSystem(ctx, tx, &in, create); err != nil {
			return err
		}
		return s.writeSystem(ctx, tx, actor, in)
	})
}

// CheckSystem tells what SaveSystem would refuse, saving nothing: an adapter that refuses
// a field itself (a price that is not a number) reports it with the domain's errors, at
// once, without anything being saved.
func (s *Service) CheckSystem(ctx context.Context, actor Actor, in SystemAdmin, create bool) error {
	if err := requireAdmin(actor, "check system"); err != nil {
		return err
	}
	return s.checkSystem(ctx, s.db, &in, create)
}

// checkSystem validates and trims a system; every problem comes back in one *ValidationError.
func (s *Service) checkSystem(ctx context.Context, q querier, in *SystemAdmin, create bool) error {
	in.ID, in.Name, in.GroupTemplate = strings.TrimSpace(in.ID), strings.TrimSpace(in.Name), strings.TrimSpace(in.GroupTemplate)
	ve := &ValidationError{}
	if !systemIDPattern.MatchString(in.ID) {
		ve.add("id", "must be 1–40 of a–z, 0–9 and '-', starting with a letter or digit")
	}
	if in.Name == "" || len(in.Name) > 120 {
		ve.add("name", "is required, at most 120 characters")
	}
	if in.MonthlyPriceSEK < 0 || in.MonthlyPriceSEK > 100000 {
		ve.add("monthlyPriceSek", "must be between 0 and 100000")
	}
	seen := map[string]bool{}
	for i, r := range in.Roles {
		if !systemIDPattern.MatchString(r.ID) || strings.TrimSpace(r.Name) == "" {
			ve.add(fmt.Sprintf("roles[%d]", i), "needs an id of a–z, 0–9 and '-' and a name")
		} else if seen[r.ID] {
			ve.add(fmt.Sprintf("roles[%d]", i), "%q is listed twice", r.ID)
		}
		seen[r.ID] = true
	}
	if in.RemoteAccess && len(in.Roles) > 0 {
		ve.add("remoteAccess", "a remote-access system has no roles: the order grants it as a whole")
	}
	s.validateTemplate(ctx, q, *in, ve)
	if err := checkTrainingAndCategory(ctx, q, in, ve); err != nil {
		return err
	}
	in.Terms = strings.TrimSpace(in.Terms)
	switch {
	case in.NeedsTerms && in.Terms == "":
		ve.add("terms", "is required when the terms are signed: write the terms of access")
	case len(in.Terms) > 20000:
		ve.add("terms", "is longer than %d characters", 20000)
	}
	var exists bool
	var open int
	// The open grants and requests of the system, counted only when its remote-access flag
	// would change.
	err := q.QueryRow(ctx, `SELECT true, CASE WHEN s.remote_access = $2 THEN 0 ELSE
			(SELECT count(*) FROM grants g WHERE g.system_id = s.id AND g.state <> $3) +
			(SELECT count(*) FROM request_items i JOIN requests r ON r.id = i.request_id
				WHERE i.system_id = s.id AND NOT (r.status = ANY($4))) END
		FROM systems s WHERE s.id = $1`, in.ID, in.RemoteAccess, GrantRevoked, closedStatuses).Scan(&exists, &open)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("look up system %s: %w", in.ID, err)
	}
	switch {
	case create && exists:
		ve.add("id", "%q is already the id of a system", in.ID)
	case !create && !exists:
		return fmt.Errorf("system %s: %w", in.ID, ErrNotFound)
	case open > 0:
		// A remote-access grant has second factors and a login checks it; an ordinary one
		// has neither. Changing what open grants are would leave factors nobody can use or
		// remote access nobody ordered.
		ve.add("remoteAccess", "cannot change while %d grants or requests of the system are open: end them first", open)
	}
	return ve.err()
}

// writeSystem stores a checked system, its roles and a new version of its terms.
func (s *Service) writeSystem(ctx context.Context, tx pgx.Tx, actor Actor, in SystemAdmin) error {
	if _, err := tx.Exec(ctx, `INSERT INTO systems (id, name, has_roles, needs_terms, needs_certificate, manual, group_template, monthly_price_sek,
			training_url, category_id, remote_access)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULLIF($10, ''), $11)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, has_roles = EXCLUDED.has_roles, needs_terms = EXCLUDED.needs_terms,
			needs_certificate = EXCLUDED.needs_certificate, manual = EXCLUDED.manual, group_template = EXCLUDED.group_template,
			monthly_price_sek = EXCLUDED.monthly_price_sek, training_url = EXCLUDED.training_url, category_id = EXCLUDED.category_id,
			remote_access = EXCLUDED.remote_access`,
		in.ID, in.Name, len(in.Roles) > 0, in.NeedsTerms, in.NeedsCertificate, in.Manual, in.GroupTemplate, in.MonthlyPriceSEK,
		in.TrainingURL, in.Category, in.RemoteAccess); err != nil {
		return fmt.Errorf("save system %s: %w", in.ID, err)
	}
	keep := make([]string, len(in.Roles))
	for i, r := range in.Roles {
		keep[i] = r.ID
		if _, err := tx.Exec(ctx, `INSERT INTO system_roles (system_id, id, name) VALUES ($1, $2, $3)
			ON CONFLICT (system_id, id) DO UPDATE SET name = EXCLUDED.name`, in.ID, r.ID, strings.TrimSpace(r.Name)); err != nil {
			return fmt.Errorf("save role %s of %s: %w", r.ID, in.ID, err)
		}
	}
	// Roles no longer listed go, unless a request names them: those stay, so that the
	// history keeps its names.
	if _, err := tx.Exec(ctx, `DELETE FROM system_roles r WHERE r.system_id = $1 AND NOT (r.id = ANY($2))
		AND NOT EXISTS (SELECT 1 FROM request_items i WHERE i.system_id = r.system_id AND i.role_id = r.id)`, in.ID, keep); err != nil {
		return fmt.Errorf("remove roles of %s: %w", in.ID, err)
	}
	version, err := s.saveTerms(ctx, tx, in.ID, in.Terms)
	if err != nil {
		return err
	}
	return s.record(ctx, tx, actor.Subject, "catalog.saved", "", "", map[string]any{"system": in.ID, "template": in.GroupTemplate,
		"termsVersion": version,
		"roles":        keep, "needsTerms": in.NeedsTerms, "needsCertificate": in.NeedsCertificate, "manual": in.Manual,
		"trainingUrl": in.TrainingURL, "category": in.Category, "remoteAccess": in.RemoteAccess})
}

var placeholder = regexp.MustCompile(`\{[^}]*\}`)

func (s *Service) validateTemplate(ctx context.Context, q querier, in SystemAdmin, ve *ValidationError) {
	t := in.GroupTemplate
	if t == "" {
		ve.add("groupTemplate", "is required")
		return
	}
	for _, p := range placeholder.FindAllString(t, -1) {
		if p != "{unit}" && p != "{role}" {
			ve.add("groupTemplate", "%s is not a placeholder; use {unit} and {role}", p)
			return
		}
	}
	if len(in.Roles) > 0 && !strings.Contains(t, "{role}") {
		ve.add("groupTemplate", "must contain {role}, so that each role gets its own group")
		return
	}
	if len(in.Roles) == 0 && strings.Contains(t, "{role}") {
		ve.add("groupTemplate", "contains {role}, but the system has no roles")
		return
	}
	var longest string
	q.QueryRow(ctx, "SELECT ansvarskod FROM units ORDER BY length(ansvarskod) DESC, ansvarskod LIMIT 1").Scan(&longest)
	roles := []string{""}
	if len(in.Roles) > 0 {
		roles = roles[:0]
		for _, r := range in.Roles {
			roles = append(roles, r.ID)
		}
	}
	for _, role := range roles {
		group := renderGroup(t, longest, role)
		if textcheck.Line(group) != nil {
			ve.add("groupTemplate", "makes %q, which holds control characters", group)
			return
		}
		if _, err := s.dir.GroupDN(group); err != nil {
			ve.add("groupTemplate", "makes %q, which is not a valid group: %v", group, err)
			return
		}
	}
}

// saveTerms makes a new version of a system's terms when the text differs from the newest;
// it returns the newest version.
func (s *Service) saveTerms(ctx context.Context, tx pgx.Tx, systemID, text string) (int, error) {
	var current string
	var version int
	err := tx.QueryRow(ctx, "SELECT text, version FROM system_terms WHERE system_id = $1 ORDER BY version DESC LIMIT 1", systemID).
		Scan(&current, &version)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("terms of %s: %w", systemID, err)
	}
	if text == "" || text == current {
		return version, nil
	}
	if _, err := tx.Exec(ctx, "INSERT INTO system_terms (system_id, version, text) VALUES ($1, $2, $3)", systemID, version+1, text); err != nil {
		return 0, fmt.Errorf("new terms of %s: %w", systemID, err)
	}
	return version + 1, nil
}
