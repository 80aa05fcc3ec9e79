package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/behorig/behorig/provisioning"
)

// roleRowsSpare is how many empty role rows the system form offers beside the existing ones,
// so that roles can be added without JavaScript.
const roleRowsSpare = 3

func (s *Server) adminUnits(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	units, err := s.service.Units(r.Context(), actor)
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_units", pageData{Actor: &actor, Section: "admin-units", Units: units, Flash: flash(s.localizer(r), r)})
}

func (s *Server) adminUnit(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	units, err := s.service.Units(r.Context(), actor)
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	form := map[string]string{}
	if id := r.PathValue("id"); id != "new" {
		var found *provisioning.UnitAdmin
		for i := range units {
			if units[i].ID == id {
				found = &units[i]
			}
		}
		if found == nil {
			s.domainError(w, r, provisioning.ErrNotFound)
			return
		}
		form = map[string]string{"id": found.ID, "name": found.Name, "ansvarskod": found.Ansvarskod,
			"managers": strings.Join(found.Managers, "\n"), "external": flag(found.External)}
		for _, u := range units {
			if u.ID == found.ParentID {
				form["parent"] = u.Ansvarskod
			}
		}
	}
	s.render(w, r, http.StatusOK, "admin_unit", pageData{Actor: &actor, Section: "admin-units", Form: form, FieldErrors: map[string]string{}})
}

var listSeparators = regexp.MustCompile(`[\s,;]+`)

// unitLabels and systemLabels map the fields of the unit and system forms to their label keys.
var (
	unitLabels = map[string]string{"name": "admin.unit.name", "ansvarskod": "field.costCentre", "parent": "admin.unit.parent",
		"managers": "admin.unit.managers", "external": "admin.unit.external"}
	systemLabels = map[string]string{"id": "admin.system.id", "name": "admin.system.name", "groupTemplate": "admin.system.template",
		"monthlyPriceSek": "admin.system.price", "roles": "admin.system.roles", "role": "admin.system.roles", "remoteAccess": "admin.system.remoteAccess", "terms": "admin.system.terms",
		"trainingUrl": "admin.system.trainingUrl", "category": "admin.system.category"}
)

func (s *Server) saveUnit(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.problemPage(w, r, http.StatusRequestEntityTooLarge, "form.too_large")
		return
	}
	form := map[string]string{}
	for _, k := range []string{"id", "name", "ansvarskod", "parent", "managers", "external"} {
		form[k] = strings.TrimSpace(r.PostForm.Get(k))
	}
	in := provisioning.UnitInput{ID: form["id"], Name: form["name"], Ansvarskod: form["ansvarskod"], Parent: form["parent"],
		External: form["external"] != ""}
	if form["managers"] != "" {
		in.Managers = listSeparators.Split(form["managers"], -1)
	}
	_, err := s.service.SaveUnit(r.Context(), actor, in)
	if data, refused := s.refusal(r, err, unitLabels); refused {
		data.Actor, data.Section, data.Form = &actor, "admin-units", form
		s.render(w, r, http.StatusBadRequest, "admin_unit", data)
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/units?done=saved", http.StatusSeeOther)
}

// refusal turns a domain validation error into the form's error summary and field errors;
// labels maps the domain's field names to label keys, the field name being the element id.
func (s *Server) refusal(r *http.Request, err error, labels map[string]string) (pageData, bool) {
	var ve *provisioning.ValidationError
	if !errors.As(err, &ve) {
		return pageData{}, false
	}
	l := s.localizer(r)
	data := pageData{FieldErrors: map[string]string{}}
	for _, fe := range ve.Errors {
		field := fe.Field
		if i := strings.IndexByte(field, '['); i > 0 {
			field = field[:i]
		}
		label := fe.Field
		if key, ok := labels[field]; ok {
			label = l.T(key)
		}
		msg := l.FieldMessage(fe)
		data.Errors = append(data.Errors, formError{Anchor: field, Label: label, Message: msg})
		if _, taken := data.FieldErrors[field]; !taken {
			data.FieldErrors[field] = msg
		}
	}
	return data, true
}

func (s *Server) adminCatalog(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	systems, err := s.service.Systems(r.Context(), actor)
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_catalog", pageData{Actor: &actor, Section: "admin-catalog", Systems: systems,
		Flash: flash(s.localizer(r), r)})
}

func (s *Server) adminSystem(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	systems, err := s.service.Systems(r.Context(), actor)
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	form := map[string]string{}
	roles := 0
	if id := r.PathValue("id"); id != "new" {
		var found *provisioning.SystemAdmin
		for i := range systems {
			if systems[i].ID == id {
				found = &systems[i]
			}
		}
		if found == nil {
			s.domainError(w, r, provisioning.ErrNotFound)
			return
		}
		form = map[string]string{"existing": "1", "id": found.ID, "name": found.Name, "groupTemplate": found.GroupTemplate,
			"monthlyPriceSek": strconv.Itoa(found.MonthlyPriceSEK), "needsTerms": flag(found.NeedsTerms),
			"needsCertificate": flag(found.NeedsCertificate), "manual": flag(found.Manual), "terms": found.Terms,
			"termsVersion": strconv.Itoa(found.TermsVersion), "trainingUrl": found.TrainingURL, "category": found.Category,
			"remoteAccess": flag(found.RemoteAccess)}
		for i, role := range found.Roles {
			form[fmt.Sprintf("role.%d.id", i)], form[fmt.Sprintf("role.%d.name", i)] = role.ID, role.Name
		}
		roles = len(found.Roles)
	}
	categories, err := s.service.Categories(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_system", pageData{Actor: &actor, Section: "admin-catalog", Form: form,
		FieldErrors: map[string]string{}, RoleRows: rows(roles + roleRowsSpare), Categories: categories})
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return ""
}

func rows(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// maxRoleRows bounds how many role rows a posted form may carry.
const maxRoleRows = 50

func (s *Server) saveSystem(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.problemPage(w, r, http.StatusRequestEntityTooLarge, "form.too_large")
		return
	}
	form := map[string]string{}
	for _, k := range []string{"existing", "id", "name", "groupTemplate", "monthlyPriceSek", "needsTerms", "needsCertificate", "manual", "terms",
		"trainingUrl", "category", "remoteAccess"} {
		form[k] = strings.TrimSpace(r.PostForm.Get(k))
	}
	in := provisioning.SystemAdmin{ID: form["id"], Name: form["name"], GroupTemplate: form["groupTemplate"],
		NeedsTerms: form["needsTerms"] != "", NeedsCertificate: form["needsCertificate"] != "", Manual: form["manual"] != "",
		Terms: form["terms"], TrainingURL: form["trainingUrl"], Category: form["category"], RemoteAccess: form["remoteAccess"] != ""}
	price, priceErr := strconv.Atoi(strings.ReplaceAll(form["monthlyPriceSek"], " ", ""))
	if form["monthlyPriceSek"] == "" {
		price, priceErr = 0, nil
	}
	in.MonthlyPriceSEK = price
	n := 0
	for i := 0; i < maxRoleRows; i++ {
		id, name := strings.TrimSpace(r.PostForm.Get(fmt.Sprintf("role.%d.id", i))), strings.TrimSpace(r.PostForm.Get(fmt.Sprintf("role.%d.name", i)))
		if id == "" && name == "" {
			continue
		}
		form[fmt.Sprintf("role.%d.id", n)], form[fmt.Sprintf("role.%d.name", n)] = id, name
		in.Roles = append(in.Roles, provisioning.RoleView{ID: id, Name: name})
		n++
	}
	create := form["existing"] == ""
	var err error
	if priceErr == nil {
		err = s.service.SaveSystem(r.Context(), actor, in, create)
	} else {
		// The domain checks the rest, saving nothing, so that the form shows every error at once.
		err = withFieldError(s.service.CheckSystem(r.Context(), actor, in, create), "monthlyPriceSek", "must be a whole number")
	}
	if data, refused := s.refusal(r, err, systemLabels); refused {
		data.Actor, data.Section, data.Form, data.RoleRows = &actor, "admin-catalog", form, rows(n+roleRowsSpare)
		if data.Categories, err = s.service.Categories(r.Context()); err != nil {
			s.fail(w, r, err)
			return
		}
		s.render(w, r, http.StatusBadRequest, "admin_system", data)
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/catalog?done=saved#"+url.QueryEscape(in.ID), http.StatusSeeOther)
}

// withFieldError adds a form's own refusal of a field to the domain's answer: a validation
// error gets one more field, no error becomes one, and any other error stays as it is.
func withFieldError(err error, field, message string) error {
	own := provisioning.FieldError{Field: field, Message: message, Format: message}
	var ve *provisioning.ValidationError
	switch {
	case errors.As(err, &ve):
		return &provisioning.ValidationError{Errors: append(slices.Clone(ve.Errors), own)}
	case err != nil:
		return err
	}
	return &provisioning.ValidationError{Errors: []provisioning.FieldError{own}}
}
