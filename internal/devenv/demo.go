package devenv

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/provisioning"
)

// DemoUnit is a unit of the demo organisation.
type DemoUnit struct {
	Name, Ansvarskod, Parent string
	External                 bool // an external provider's organisation
}

// DemoUnits is a small elderly-care organisation: an administration with two areas, and an
// external care provider whose manager sees only its own units.
var DemoUnits = []DemoUnit{
	{"Vård- och omsorgsförvaltningen", "5000", "", false},
	{"Hemtjänst Norr", "5110", "5000", false},
	{"Hemtjänst Söder", "5120", "5000", false},
	{"Särskilt boende Ekbacken", "5210", "5000", false},
	{"Särskilt boende Lindgården", "5220", "5000", false},
	{"Omsorgsbolaget AB (extern utförare)", "9100", "", true},
	{"Omsorgsbolaget hemtjänst", "9110", "9100", false},
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

// demoTerms are the terms of access of the demo's systems that need signed terms.
const demoTerms = `Jag som får behörighet i %s förbinder mig att
- bara ta del av uppgifter som jag behöver i mitt arbete,
- aldrig låna ut mitt konto eller lämna ut mitt lösenord,
- följa förvaltningens riktlinjer för informationssäkerhet.

Jag vet att all åtkomst loggas och kan granskas, och att behörigheten tas bort när den inte längre behövs.`

// DemoPrincipals are the demo users: the staff behind the demo tokens, who are also the dev
// IdP's AD-style users, and an external provider's manager who signs in with the
// BankID-style one (a Skatteverket test number). Token is the key of the demo token, if any.
var DemoPrincipals = []DemoPrincipal{
	{Token: "it", Principal: provisioning.Principal{Subject: "it-handler", Name: "Ingrid IT-handläggare",
		Email: "ingrid.it@example.org", Roles: []provisioning.Role{provisioning.RoleITHandler}, Unit: "5000",
		IdP: "ad", IdPSubject: "ingrid.it"}},
	{Token: "manager", Principal: provisioning.Principal{Subject: "manager", Name: "Maria Chef", Email: "maria.chef@example.org",
		Roles: []provisioning.Role{provisioning.RoleRequester}, Unit: "5110", Manages: []string{"5110", "5210"},
		IdP: "ad", IdPSubject: "maria.chef"}},
	{Token: "requester", Principal: provisioning.Principal{Subject: "requester", Name: "Rolf Beställare",
		Email: "rolf.bestallare@example.org", Roles: []provisioning.Role{provisioning.RoleRequester}, Unit: "5110",
		IdP: "ad", IdPSubject: "rolf.bestallare"}},
	{Principal: provisioning.Principal{Subject: "omsorgsbolaget-chef", Name: "Olle Omsorgschef", Email: "olle@omsorgsbolaget.example",
		Roles: []provisioning.Role{provisioning.RoleRequester}, Unit: "9110", Manages: []string{"9110"},
		Personnummer: "19120211-9150"}},
}

// DemoPrincipal is a demo user with the key of its demo token.
type DemoPrincipal struct {
	Token string
	provisioning.Principal
}

// LoadDemo loads the demo organisation and catalog. It is idempotent: rows already there are
// left as they are, so a restarted `behorig dev` keeps its data.
func LoadDemo(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, u := range DemoUnits {
			if _, err := tx.Exec(ctx, `INSERT INTO units (name, ansvarskod, parent_id, external)
				VALUES ($1, $2, (SELECT id FROM units WHERE ansvarskod = NULLIF($3, '')), $4) ON CONFLICT (ansvarskod) DO NOTHING`,
				u.Name, u.Ansvarskod, u.Parent, u.External); err != nil {
				return fmt.Errorf("load unit %s: %w", u.Ansvarskod, err)
			}
		}
		for _, s := range DemoCatalog {
			if err := loadSystem(ctx, tx, s); err != nil {
				return err
			}
		}
		return loadRemoteAccessSystem(ctx, tx)
	})
}

// LoadPrincipals registers principals and their attestation rights; units must exist.
func LoadPrincipals(ctx context.Context, service *provisioning.Service, principals []DemoPrincipal) error {
	for _, p := range principals {
		if _, err := service.RegisterPrincipal(ctx, p.Principal); err != nil {
			return err
		}
	}
	return nil
}

func loadSystem(ctx context.Context, tx pgx.Tx, s DemoSystem) error {
	// The care systems are the guides' "Vård och omsorg" (a category migration 024 makes).
	if _, err := tx.Exec(ctx, `INSERT INTO systems (id, name, has_roles, needs_terms, group_template, category_id)
		VALUES ($1, $2, $3, $4, $5, (SELECT id FROM system_categories WHERE id = 'vard-och-omsorg')) ON CONFLICT (id) DO NOTHING`,
		s.ID, s.Name, len(s.Roles) > 0, s.NeedsTerms, s.GroupTemplate); err != nil {
		return fmt.Errorf("load system %s: %w", s.ID, err)
	}
	if s.NeedsTerms {
		if _, err := tx.Exec(ctx, `INSERT INTO system_terms (system_id, version, text) VALUES ($1, 1, $2)
			ON CONFLICT DO NOTHING`, s.ID, fmt.Sprintf(demoTerms, s.Name)); err != nil {
			return fmt.Errorf("load terms of %s: %w", s.ID, err)
		}
	}
	for _, r := range s.Roles {
		if _, err := tx.Exec(ctx, `INSERT INTO system_roles (system_id, id, name) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, s.ID, r[0], r[1]); err != nil {
			return fmt.Errorf("load role %s of %s: %w", r[0], s.ID, err)
		}
	}
	return nil
}
