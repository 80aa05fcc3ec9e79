package devenv

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DemoUnit is a unit of the demo organisation.
type DemoUnit struct {
	Name, Ansvarskod, Parent string
}

// DemoUnits is a small elderly-care organisation: an administration with two areas.
var DemoUnits = []DemoUnit{
	{"Vård- och omsorgsförvaltningen", "5000", ""},
	{"Hemtjänst Norr", "5110", "5000"},
	{"Hemtjänst Söder", "5120", "5000"},
	{"Särskilt boende Ekbacken", "5210", "5000"},
	{"Särskilt boende Lindgården", "5220", "5000"},
}

// DemoSystem is a care system of the catalog with its roles (none for yes/no systems).
type DemoSystem struct {
	ID, Name, GroupTemplate string
	NeedsTerms              bool
	Roles                   [][2]string // id, name
}

// DemoCatalog is the care-system catalog of the municipalities' forms.
var DemoCatalog = []DemoSystem{
	{"tes", "TES", "tes-{unit}-{role}", true, [][2]string{{"personal", "Personal"}, {"sjukskoterska", "Sjuksköterska"}, {"administrator", "Administratör"}}},
	{"timecare-planering", "Time Care Planering", "timecare-planering-{unit}-{role}", false, [][2]string{{"medarbetare", "Medarbetare"}, {"schemalaggare", "Schemaläggare"}, {"chef", "Chef"}}},
	{"timecare-pool", "Time Care Pool", "timecare-pool-{unit}-{role}", false, [][2]string{{"medarbetare", "Medarbetare"}, {"bemanning", "Bemanningsassistent"}, {"chef", "Chef"}}},
	{"treserva", "Treserva", "treserva-{unit}-{role}", true, [][2]string{{"utforare", "Utförare"}, {"handlaggare", "Handläggare"}, {"las", "Läsbehörighet"}}},
	{"axsor", "Axsor", "axsor-{unit}-{role}", false, [][2]string{{"admin", "Administratörsbehörighet"}}},
	{"phoniro", "Phoniro", "phoniro-{unit}-{role}", false, [][2]string{{"admin", "Administratörsbehörighet"}}},
	{"senior-alert", "Senior Alert", "senioralert-{unit}-{role}", false, [][2]string{{"registrerare", "Registrerare"}, {"administrator", "Administratör"}}},
	{"meddix", "Meddix", "meddix", false, nil},
	{"pascal-npo", "Pascal/NPÖ", "pascal-npo", true, nil},
	{"panorama-ros", "Panorama/ROS", "panorama-ros", false, nil},
}

// DemoPrincipal is a demo user of behorig; Manages lists the ansvarskoder they attest for.
type DemoPrincipal struct {
	Subject, Name, Email, Role, Unit string
	Manages                          []string
}

// DemoPrincipals are the users behind the demo tokens.
var DemoPrincipals = []DemoPrincipal{
	{"it-handler", "Ingrid IT-handläggare", "ingrid.it@example.org", "it", "5000", nil},
	{"manager", "Maria Chef", "maria.chef@example.org", "manager", "5110", []string{"5110", "5210"}},
	{"requester", "Rolf Beställare", "rolf.bestallare@example.org", "requester", "5110", nil},
}

// LoadDemo loads the demo organisation and catalog. It is idempotent: rows already there are
// left as they are, so a restarted `behorig dev` keeps its data.
func LoadDemo(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, u := range DemoUnits {
			if _, err := tx.Exec(ctx, `INSERT INTO units (name, ansvarskod, parent_id)
				VALUES ($1, $2, (SELECT id FROM units WHERE ansvarskod = NULLIF($3, ''))) ON CONFLICT (ansvarskod) DO NOTHING`,
				u.Name, u.Ansvarskod, u.Parent); err != nil {
				return fmt.Errorf("load unit %s: %w", u.Ansvarskod, err)
			}
		}
		for _, s := range DemoCatalog {
			if err := loadSystem(ctx, tx, s); err != nil {
				return err
			}
		}
		return loadPrincipals(ctx, tx, DemoPrincipals)
	})
}

// LoadPrincipals adds principals and their attestation rights; units must exist.
func LoadPrincipals(ctx context.Context, pool *pgxpool.Pool, principals []DemoPrincipal) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return loadPrincipals(ctx, tx, principals) })
}

func loadPrincipals(ctx context.Context, tx pgx.Tx, principals []DemoPrincipal) error {
	for _, p := range principals {
		if err := loadPrincipal(ctx, tx, p); err != nil {
			return err
		}
	}
	return nil
}

func loadSystem(ctx context.Context, tx pgx.Tx, s DemoSystem) error {
	if _, err := tx.Exec(ctx, `INSERT INTO systems (id, name, has_roles, needs_terms, group_template)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`, s.ID, s.Name, len(s.Roles) > 0, s.NeedsTerms, s.GroupTemplate); err != nil {
		return fmt.Errorf("load system %s: %w", s.ID, err)
	}
	for _, r := range s.Roles {
		if _, err := tx.Exec(ctx, `INSERT INTO system_roles (system_id, id, name) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, s.ID, r[0], r[1]); err != nil {
			return fmt.Errorf("load role %s of %s: %w", r[0], s.ID, err)
		}
	}
	return nil
}

func loadPrincipal(ctx context.Context, tx pgx.Tx, p DemoPrincipal) error {
	var id string
	err := tx.QueryRow(ctx, `INSERT INTO principals (subject, display_name, email, it, unit_id)
		VALUES ($1, $2, $3, $4, (SELECT id FROM units WHERE ansvarskod = $5))
		ON CONFLICT (subject) DO UPDATE SET unit_id = EXCLUDED.unit_id RETURNING id::text`,
		p.Subject, p.Name, p.Email, p.Role == "it", p.Unit).Scan(&id)
	if err != nil {
		return fmt.Errorf("load principal %s: %w", p.Subject, err)
	}
	for _, code := range p.Manages {
		if _, err := tx.Exec(ctx, `INSERT INTO unit_managers (unit_id, principal_id)
			SELECT id, $2 FROM units WHERE ansvarskod = $1 ON CONFLICT DO NOTHING`, code, id); err != nil {
			return fmt.Errorf("make %s manager of %s: %w", p.Subject, code, err)
		}
	}
	return nil
}
