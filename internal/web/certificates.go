package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/behorig/behorig/provisioning"
)

// verifyCertificate is IT marking an attachment of the request as the person's verified
// training certificate; a request waiting for it goes on.
func (s *Server) verifyCertificate(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	id := r.PathValue("id")
	_, err := s.service.VerifyCertificate(r.Context(), actor, id, r.PostFormValue("attachment"))
	if s.refusedOnRequest(w, r, actor, err, "certificate-attachment", "certificate.attachment") {
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=certificate", http.StatusSeeOther)
}

// askForInformation is IT asking the requester for more information; the request waits for
// the answer.
func (s *Server) askForInformation(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	id := r.PathValue("id")
	question := r.PostFormValue("question")
	err := s.service.AskForInformation(r.Context(), actor, id, question)
	if s.refusedOnRequest(w, r, actor, err, "question", "ask.question", "question", question) {
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=asked", http.StatusSeeOther)
}

// refusedOnRequest shows the request page again with a form's validation errors next to
// the field (anchor) and what was typed (form: name, value pairs); false for any other error.
func (s *Server) refusedOnRequest(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, err error, anchor, labelKey string,
	form ...string) bool {
	var ve *provisioning.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	l := s.localizer(r)
	data := pageData{FieldErrors: map[string]string{}, Form: map[string]string{}}
	for i := 0; i+1 < len(form); i += 2 {
		data.Form[form[i]] = form[i+1]
	}
	for _, fe := range ve.Errors {
		data.Errors = append(data.Errors, formError{Anchor: anchor, Label: l.T(labelKey), Message: l.FieldMessage(fe)})
		data.FieldErrors[anchor] = l.FieldMessage(fe)
	}
	s.showRequest(w, r, actor, http.StatusBadRequest, data)
	return true
}

// systemGroup is one category of systems on the request form.
type systemGroup struct {
	ID, Name  string
	Systems   []provisioning.SystemView
	WithRoles bool // some system has roles (and so its own fieldset)
}

// systemGroups groups the catalog by category in the categories' order; systems without a
// category come last, as "Övriga system".
func (s *Server) systemGroups(r *http.Request, catalog []provisioning.SystemView) ([]systemGroup, error) {
	categories, err := s.service.Categories(r.Context())
	if err != nil {
		return nil, err
	}
	groups := make([]systemGroup, 0, len(categories)+1)
	at := map[string]int{}
	for _, c := range categories {
		at[c.ID] = len(groups)
		groups = append(groups, systemGroup{ID: c.ID, Name: c.Name})
	}
	other := systemGroup{ID: "other", Name: s.localizer(r).T("new.category.other")}
	for _, sys := range catalog {
		g := &other
		if i, ok := at[sys.Category]; ok {
			g = &groups[i]
		}
		g.Systems = append(g.Systems, sys)
		g.WithRoles = g.WithRoles || len(sys.Roles) > 0
	}
	groups = append(groups, other)
	return slices.DeleteFunc(groups, func(g systemGroup) bool { return len(g.Systems) == 0 }), nil
}

// categoryRowsSpare is how many empty rows the categories form offers for new ones.
const categoryRowsSpare = 3

// adminCategories shows the categories as a form of rows, numbered from 1, in their order.
func (s *Server) adminCategories(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if !actor.Admin() {
		s.domainError(w, r, provisioning.ErrForbidden)
		return
	}
	categories, err := s.service.Categories(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form := map[string]string{}
	for i, c := range categories {
		form[fmt.Sprintf("category.%d.id", i+1)], form[fmt.Sprintf("category.%d.name", i+1)] = c.ID, c.Name
	}
	s.render(w, r, http.StatusOK, "admin_categories", pageData{Actor: &actor, Section: "admin-categories", Form: form,
		FieldErrors: map[string]string{}, RoleRows: rows(len(categories) + categoryRowsSpare + 1)[1:], Flash: flash(s.localizer(r), r)})
}

// maxCategoryRows bounds how many rows a posted categories form may carry.
const maxCategoryRows = 200

func (s *Server) saveCategories(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.problemPage(w, r, http.StatusRequestEntityTooLarge, "form.too_large")
		return
	}
	form := map[string]string{}
	var list []provisioning.Category
	n := 0
	for i := 1; i <= maxCategoryRows; i++ {
		id := strings.TrimSpace(r.PostForm.Get(fmt.Sprintf("category.%d.id", i)))
		name := strings.TrimSpace(r.PostForm.Get(fmt.Sprintf("category.%d.name", i)))
		if id == "" && name == "" {
			continue
		}
		n++
		form[fmt.Sprintf("category.%d.id", n)], form[fmt.Sprintf("category.%d.name", n)] = id, name
		list = append(list, provisioning.Category{ID: id, Name: name})
	}
	err := s.service.SaveCategories(r.Context(), actor, list)
	if data, refused := s.refusal(r, err, map[string]string{"categories": "admin.categories"}); refused {
		data.Actor, data.Section, data.Form, data.RoleRows = &actor, "admin-categories", form, rows(n + categoryRowsSpare + 1)[1:]
		s.render(w, r, http.StatusBadRequest, "admin_categories", data)
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/categories?done=saved", http.StatusSeeOther)
}

// completeOtherSystem is IT marking a request's "Annat system" as handled by hand.
func (s *Server) completeOtherSystem(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	id := r.PathValue("id")
	if err := s.service.CompleteOtherSystem(r.Context(), actor, id); err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=other_system", http.StatusSeeOther)
}
