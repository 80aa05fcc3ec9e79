package web

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/behorig/behorig/provisioning"
)

// The change request form (Norrköping's "ny/ändrad/raderas behörighet"): the person is found
// by personnummer as on Uppsägning, the form starts from their current grants (a box to end
// each) and has rows to add systems and roles; "Granska" shows what will be added, removed
// and kept, checked by the domain, and only then is the change sent. Everything is plain
// form posts, so the page works the same with and without JavaScript.

// changeAddRows is how many systems one filling-in of the form can add.
const changeAddRows = 3

// changeFields are the form's single-valued fields.
var changeFields = []string{"person", "effectiveDate", "validFrom", "validTo", "unit", "reason", "approver", "selfApprove", "submitToken"}

// changeView is what the change page shows besides the form's values.
type changeView struct {
	Grants  []changeGrant // the person's open grants the actor can see
	Rows    []changeRow   // the rows to add a system
	Options []changeOption
	Review  bool // the summary is shown and the form can be sent
	Hidden  []hiddenField
	Added   []string
	Removed []changeGrant
	Kept    []changeGrant
}

type changeGrant struct {
	provisioning.GrantView
	Label string // system and role by name, and the unit
	End   bool
}

type hiddenField struct{ Name, Value string }

type changeRow struct {
	Index, Number int
	Value         string // "system" or "system|role"
}

type changeOption struct {
	Value, Label, Group string
}

// changePage finds the person (by id or personnummer) and shows the form.
func (s *Server) changePage(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	data := pageData{Section: "change", Form: map[string]string{}, FieldErrors: map[string]string{}}
	if !s.findPersonFor(w, r, actor, &data) {
		return
	}
	if data.Person != nil {
		data.Form["submitToken"] = rand.Text()
		if me, err := s.service.Me(r.Context(), actor); err == nil && me.Unit != nil {
			data.Form["unit"] = me.Unit.Ansvarskod
		}
	}
	s.showChange(w, r, actor, http.StatusOK, data, nil, nil)
}

// findPersonFor looks the person of a termination or a change up by ?person= (an id) or
// ?personnummer=, and puts them, or why they were not found, into data. It reports false
// when it has answered the request itself.
func (s *Server) findPersonFor(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, data *pageData) bool {
	l := s.localizer(r)
	q := r.URL.Query()
	switch {
	case q.Get("person") != "":
		person, err := s.service.Person(r.Context(), actor, q.Get("person"))
		if err != nil {
			s.domainError(w, r, err)
			return false
		}
		if person.Limited {
			// An approver sees a pending request's person, but may not end their access.
			s.domainError(w, r, fmt.Errorf("person %s: %w", person.ID, provisioning.ErrNotFound))
			return false
		}
		data.Person = &person
	case q.Get("personnummer") != "":
		data.Form["personnummer"] = q.Get("personnummer")
		found, err := s.service.FindPersons(r.Context(), actor, q.Get("personnummer"))
		var ve *provisioning.ValidationError
		switch {
		case errors.As(err, &ve):
			msg := l.FieldMessage(ve.Errors[0])
			data.FieldErrors["personnummer"] = msg
			data.Errors = []formError{{Anchor: "personnummer", Label: l.T("field.personnummer"), Message: msg}}
		case err != nil:
			s.fail(w, r, err)
			return false
		case len(found) == 0:
			data.FieldErrors["personnummer"] = l.T("terminate.not_found")
			data.Errors = []formError{{Anchor: "personnummer", Label: l.T("field.personnummer"), Message: l.T("terminate.not_found")}}
		default:
			data.Person = &found[0]
		}
	}
	return true
}

func (s *Server) showChange(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, status int, data pageData,
	ends map[string]bool, adds []string) {
	catalog, err := s.service.Catalog(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	approvers, err := s.service.Approvers(r.Context(), actor, data.Form["unit"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data.Actor, data.Section, data.Approvers = &actor, "change", approvers
	l := s.localizer(r)
	names := map[string]string{}
	cv := &changeView{Review: data.Change != nil && data.Change.Review}
	for _, sys := range catalog {
		names[sys.ID] = sys.Name
		if len(sys.Roles) == 0 {
			cv.Options = append(cv.Options, changeOption{Value: sys.ID, Label: sys.Name, Group: sys.Name})
		}
		for _, role := range sys.Roles {
			names[sys.ID+"|"+role.ID] = sys.Name + " – " + role.Name
			cv.Options = append(cv.Options, changeOption{Value: sys.ID + "|" + role.ID, Label: sys.Name + " – " + role.Name, Group: sys.Name})
		}
	}
	label := func(system, role string) string {
		if role == "" {
			return names[system]
		}
		if n, ok := names[system+"|"+role]; ok {
			return n
		}
		return system + " – " + role
	}
	if data.Person != nil {
		for _, g := range data.Person.Grants {
			if g.State == provisioning.GrantRevoked {
				continue
			}
			what := g.SystemName
			if g.RoleName != "" {
				what += " – " + g.RoleName
			}
			cg := changeGrant{GrantView: g, End: ends[g.ID], Label: fmt.Sprintf("%s, %s (%s)", what, g.Unit.Name, g.Unit.Ansvarskod)}
			cv.Grants = append(cv.Grants, cg)
			if cg.End {
				cv.Removed = append(cv.Removed, cg)
			} else {
				cv.Kept = append(cv.Kept, cg)
			}
		}
	}
	for i := range changeAddRows {
		row := changeRow{Index: i, Number: i + 1}
		if i < len(adds) {
			row.Value = adds[i]
		}
		cv.Rows = append(cv.Rows, row)
		if row.Value != "" {
			system, role, _ := strings.Cut(row.Value, "|")
			cv.Added = append(cv.Added, label(system, role))
		}
	}
	// The review sends what was reviewed: the fields go along unseen.
	for _, name := range []string{"effectiveDate", "validFrom", "validTo", "unit", "reason", "approver", "selfApprove"} {
		if v := data.Form[name]; v != "" {
			cv.Hidden = append(cv.Hidden, hiddenField{name, v})
		}
	}
	data.Change = cv
	if data.Title == "" {
		data.Title = l.T("change.title")
	}
	s.render(w, r, status, "change", data)
}

// submitChange reviews the change (step=review), goes back to editing it (step=edit), or
// sends it (step=send, only from the review).
func (s *Server) submitChange(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.problemPage(w, r, http.StatusRequestEntityTooLarge, "form.too_large")
		return
	}
	form := map[string]string{}
	for _, name := range changeFields {
		form[name] = strings.TrimSpace(r.PostForm.Get(name))
	}
	ends := map[string]bool{}
	in := provisioning.SubmitInput{Kind: provisioning.KindChange, Person: provisioning.PersonInput{ID: form["person"]},
		Unit: s.resolveUnit(r, actor, form["unit"]), Reason: form["reason"], EffectiveDate: form["effectiveDate"],
		ValidFrom: form["validFrom"], ValidTo: form["validTo"], Approver: form["approver"], SubmitToken: form["submitToken"]}
	for _, id := range r.PostForm["end"] {
		if id = strings.TrimSpace(id); id != "" && !ends[id] {
			ends[id] = true
			in.End = append(in.End, provisioning.EndInput{Grant: id})
		}
	}
	var adds []string
	for i := range changeAddRows {
		v := strings.TrimSpace(r.PostForm.Get(fmt.Sprintf("add%d", i)))
		adds = append(adds, v)
		if v != "" {
			system, role, _ := strings.Cut(v, "|")
			in.Items = append(in.Items, provisioning.ItemInput{System: system, Role: role})
		}
	}
	if form["selfApprove"] != "" {
		in.Approver = actor.ID
	}
	person, err := s.service.Person(r.Context(), actor, form["person"])
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	data := pageData{Person: &person, Form: form, FieldErrors: map[string]string{}}
	step := r.PostForm.Get("step")
	switch step {
	case "edit":
		s.showChange(w, r, actor, http.StatusOK, data, ends, adds)
		return
	case "review":
		err = s.service.CheckSubmit(r.Context(), actor, in)
	case "send":
		var out provisioning.Submitted
		out, err = s.service.Submit(r.Context(), actor, in)
		if err == nil {
			http.Redirect(w, r, "/requests/"+url.PathEscape(out.ID)+"?done=submitted", http.StatusSeeOther)
			return
		}
	default:
		s.problemPage(w, r, http.StatusBadRequest, "form.unreadable")
		return
	}
	var ve *provisioning.ValidationError
	if errors.As(err, &ve) {
		s.changeErrors(r, &data, ve)
		s.showChange(w, r, actor, http.StatusBadRequest, data, ends, adds)
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	data.Change = &changeView{Review: true}
	s.showChange(w, r, actor, http.StatusOK, data, ends, adds)
}

// changeErrors puts the domain's errors next to the change form's fields.
func (s *Server) changeErrors(r *http.Request, data *pageData, ve *provisioning.ValidationError) {
	l := s.localizer(r)
	for _, fe := range ve.Errors {
		anchor, label := s.anchorFor(l, fe.Field, nil, nil)
		switch {
		case fe.Field == "effectiveDate" || strings.HasSuffix(fe.Field, ".effectiveDate"):
			anchor, label = "effectiveDate", l.T("field.effectiveDate")
		case fe.Field == "validFrom" || fe.Field == "validTo":
			anchor, label = fe.Field, l.T("field."+fe.Field)
		case fe.Field == "items" || strings.HasPrefix(fe.Field, "items["):
			anchor, label = "add0", l.T("change.add")
		case strings.HasPrefix(fe.Field, "end"):
			anchor, label = "current", l.T("change.current")
		case fe.Field == "unit", fe.Field == "approver", fe.Field == "reason":
		default:
			anchor = "main" // the person, chosen on the page before
		}
		msg := l.FieldMessage(fe)
		data.Errors = append(data.Errors, formError{Anchor: anchor, Label: label, Message: msg})
		if data.FieldErrors[anchor] == "" {
			data.FieldErrors[anchor] = msg
		}
	}
}
