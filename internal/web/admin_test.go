package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestAdminUnits(t *testing.T) {
	s := newSite(t, siteOptions{})
	for _, user := range []string{"rolf.bestallare", "ingrid.it"} {
		b := s.as(t, user)
		if resp := b.get(t, "/admin/units"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s opening the units: %d", user, resp.StatusCode)
		}
		if resp := b.post(t, "/admin/units", url.Values{"name": {"X"}, "ansvarskod": {"9999"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s saving a unit: %d", user, resp.StatusCode)
		}
	}
	ivar := s.as(t, "ivar.admin")
	page := body(t, ivar.get(t, "/admin/units"))
	if !strings.Contains(page, "Hemtjänst Norr") || !strings.Contains(page, "maria.chef@example.org") {
		t.Fatal("the units page lacks a unit or its manager")
	}
	resp := ivar.post(t, "/admin/units", url.Values{"name": {"Hemtjänst Väst"}, "ansvarskod": {"5130"}, "parent": {"5000"},
		"managers": {"okand@example.org\nmaria.chef@example.org"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body(t, resp), `<a href="#managers">`) {
		t.Fatalf("an unknown manager: %d", resp.StatusCode)
	}
	resp = ivar.post(t, "/admin/units", url.Values{"name": {"Hemtjänst Väst"}, "ansvarskod": {"5110"}, "parent": {"5000"}})
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "är redan ansvarskod för en annan enhet") {
		t.Fatalf("a duplicate ansvarskod: %d", resp.StatusCode)
	}
	resp = ivar.post(t, "/admin/units", url.Values{"name": {"Hemtjänst Väst"}, "ansvarskod": {"5130"}, "parent": {"5000"},
		"managers": {"maria.chef@example.org"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %s", resp.StatusCode, body(t, resp))
	}
	// Maria now attests for the new unit.
	if page := body(t, s.as(t, "maria.chef").get(t, "/me")); !strings.Contains(page, "Hemtjänst Väst (5130)") {
		t.Fatal("the new unit's manager does not attest for it")
	}
	var id, parent string
	s.app.Pool.QueryRow(t.Context(), "SELECT id::text FROM units WHERE ansvarskod = '5000'").Scan(&id)
	s.app.Pool.QueryRow(t.Context(), "SELECT id::text FROM units WHERE ansvarskod = '5130'").Scan(&parent)
	resp = ivar.post(t, "/admin/units", url.Values{"id": {id}, "name": {"Vård- och omsorgsförvaltningen"}, "ansvarskod": {"5000"}, "parent": {"5130"}})
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "skulle göra enheten överordnad sig själv") {
		t.Fatalf("a cycle: %d", resp.StatusCode)
	}

	// An external organisation is a top-level unit marked so.
	if page := body(t, ivar.get(t, "/admin/units")); !strings.Contains(page, "Omsorgsbolaget AB (extern utförare) <span class=\"hint\">(extern organisation)</span>") {
		t.Error("the units page does not mark the external organisation")
	}
	resp = ivar.post(t, "/admin/units", url.Values{"name": {"Vårdbolaget hemtjänst"}, "ansvarskod": {"9210"}, "parent": {"5000"}, "external": {"1"}})
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(page, `<a href="#external">Extern organisation (till exempel en privat utförare): bara en enhet utan överordnad enhet kan vara en extern organisation`) {
		t.Fatalf("an external unit with a parent: %d\n%s", resp.StatusCode, page)
	}
	resp = ivar.post(t, "/admin/units", url.Values{"name": {"Vårdbolaget AB"}, "ansvarskod": {"9200"}, "external": {"1"}})
	if resp.StatusCode != http.StatusSeeOther || s.count(t, "SELECT count(*) FROM units WHERE ansvarskod = '9200' AND external") != 1 {
		t.Fatalf("saving an external organisation: %d", resp.StatusCode)
	}
	s.app.Pool.QueryRow(t.Context(), "SELECT id::text FROM units WHERE ansvarskod = '9200'").Scan(&id)
	if page := body(t, ivar.get(t, "/admin/units/"+id)); !strings.Contains(page, `name="external" value="1" checked`) {
		t.Error("the unit's page does not show it as external")
	}
}

func TestAdminCatalog(t *testing.T) {
	s := newSite(t, siteOptions{})
	if resp := s.as(t, "ingrid.it").get(t, "/admin/catalog"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an IT handler opening the catalog: %d", resp.StatusCode)
	}
	ivar := s.as(t, "ivar.admin")
	page := body(t, ivar.get(t, "/admin/catalog"))
	if !strings.Contains(page, "<code>treserva-{unit}-{role}</code>") || !strings.Contains(page, "<code>treserva-5000-handlaggare</code>") {
		t.Fatalf("the catalog does not show templates with examples:\n%s", page)
	}
	form := url.Values{"id": {"lifecare"}, "name": {"Lifecare"}, "groupTemplate": {"lifecare-{unit}"}, "monthlyPriceSek": {"130"},
		"role.0.id": {"utforare"}, "role.0.name": {"Utförare"}, "needsCertificate": {"1"}}
	for template, want := range map[string]string{
		"lifecare-{unit}":                          "måste innehålla {role}",
		"lifecare-{enhet}-{role}":                  "{enhet} är ingen platshållare",
		strings.Repeat("x", 60) + "-{unit}-{role}": "som inte är en giltig grupp",
	} {
		form.Set("groupTemplate", template)
		resp := ivar.post(t, "/admin/catalog", form)
		if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, want) || !strings.Contains(page, `<a href="#groupTemplate">`) {
			t.Errorf("template %q: %d, want an error saying %q", template, resp.StatusCode, want)
		}
	}
	if n := s.count(t, "SELECT count(*) FROM systems WHERE id = 'lifecare'"); n != 0 {
		t.Fatal("a refused system was saved")
	}
	// A new system with an existing id does not overwrite it.
	taken := url.Values{"id": {"meddix"}, "name": {"Ny"}, "groupTemplate": {"nytt-{unit}"}}
	if resp := ivar.post(t, "/admin/catalog", taken); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body(t, resp), "är redan id för ett system") {
		t.Fatalf("a new system with a taken id: %d", resp.StatusCode)
	}
	if n := s.count(t, "SELECT count(*) FROM systems WHERE id = 'meddix' AND name = 'Meddix'"); n != 1 {
		t.Fatal("Meddix was overwritten")
	}
	form.Set("groupTemplate", "lifecare-{unit}-{role}")
	if resp := ivar.post(t, "/admin/catalog", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %s", resp.StatusCode, body(t, resp))
	}
	// The new system is offered in the request form with its role.
	if page := body(t, ivar.get(t, "/requests/new")); !strings.Contains(page, "Lifecare") || !strings.Contains(page, `<option value="utforare">Utförare</option>`) {
		t.Fatal("the request form does not offer the new system")
	}
	form.Set("existing", "1")
	form.Set("name", "Lifecare SP")
	if resp := ivar.post(t, "/admin/catalog", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("changing a system: %d %s", resp.StatusCode, body(t, resp))
	}
	page = body(t, ivar.get(t, "/admin/catalog/lifecare"))
	if !strings.Contains(page, `value="Lifecare SP"`) {
		t.Fatal("the change was not saved")
	}
	if !strings.Contains(page, `value="lifecare-{unit}-{role}"`) || !strings.Contains(page, `name="needsCertificate" value="1" checked`) {
		t.Fatal("the edit form does not show the saved system")
	}
}

func TestAdminEditsVersionedTerms(t *testing.T) {
	s := newSite(t, siteOptions{})
	ivar := s.as(t, "ivar.admin")
	page := body(t, ivar.get(t, "/admin/catalog/treserva"))
	if !strings.Contains(page, "informationssäkerhet") || !strings.Contains(page, "Nu version 1.") {
		t.Fatalf("the edit form does not show the terms and their version:\n%s", page)
	}
	form := url.Values{"existing": {"1"}, "id": {"treserva"}, "name": {"Treserva"}, "groupTemplate": {"treserva-{unit}-{role}"},
		"needsTerms": {"1"}, "role.0.id": {"utforare"}, "role.0.name": {"Utförare"}, "terms": {""}}
	if resp := ivar.post(t, "/admin/catalog", form); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body(t, resp), `<a href="#terms">`) {
		t.Fatalf("signed terms without a text: %d", resp.StatusCode)
	}
	form.Set("terms", "Nya villkor för Treserva.")
	if resp := ivar.post(t, "/admin/catalog", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %s", resp.StatusCode, body(t, resp))
	}
	ivar.post(t, "/admin/catalog", form) // the same text again makes no new version
	if n := s.count(t, "SELECT max(version) FROM system_terms WHERE system_id = 'treserva'"); n != 2 {
		t.Fatalf("newest version %d, want 2", n)
	}
}
