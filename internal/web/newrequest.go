package web

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/behorig/behorig/provisioning"
)

// maxForm bounds a form body; the request form with every system filled in is far below it.
const maxForm = 64 << 10

// formFields are the plain fields of the request form, kept when the form comes back.
var formFields = []string{"givenName", "surname", "personnummer", "mobile", "email", "username", "jobTitle",
	"employeeType", "unit", "costCentre", "reason", "description", "validFrom", "validTo", "approver", "selfApprove",
	"submitToken", "otherSystem"}

// fieldAnchors maps the domain's field names to the form's element ids and label keys.
var fieldAnchors = map[string][2]string{
	"person.givenName":    {"givenName", "field.givenName"},
	"person.surname":      {"surname", "field.surname"},
	"person.personnummer": {"personnummer", "field.personnummer"},
	"person.mobile":       {"mobile", "field.mobile"},
	"person.email":        {"email", "field.email"},
	"person.username":     {"username", "field.username"},
	"person.jobTitle":     {"jobTitle", "field.jobTitle"},
	"person.employeeType": {"employeeType", "field.employeeType"},
	"unit":                {"unit", "field.unit"},
	"costCentre":          {"costCentre", "field.costCentre"},
	"reason":              {"reason", "field.reason"},
	"description":         {"description", "field.description"},
	"validFrom":           {"validFrom", "field.validFrom"},
	"validTo":             {"validTo", "field.validTo"},
	"items":               {"systems", "new.section.systems"},
	"files":               {"files", "attachments.add"},
	"approver":            {"approver", "field.approver"},
	"otherSystem":         {"otherSystem", "new.other_system"},
}

// fieldData feeds the "field" template.
type fieldData struct {
	L                               Localizer
	Name, Label, Value, Type, Error string
	Hint, Auto                      string
	Required                        bool
}

func newField(d pageData, name, labelKey, typ string, required bool, auto, hintKey string) fieldData {
	f := fieldData{L: d.L, Name: name, Label: d.L.T(labelKey), Value: d.Form[name], Type: typ, Error: d.FieldErrors[name],
		Required: required, Auto: auto}
	if hintKey != "" {
		f.Hint = d.L.T(hintKey)
	}
	return f
}

func (s *Server) newRequestPage(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	form, err := s.freshForm(r, actor)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showNewRequest(w, r, actor, http.StatusOK, pageData{Form: form})
}

// freshForm is a request form as it first opens: the actor's own unit, and a token that names
// this filling-in of the form: sent twice (a double click, back and send again), it makes
// one request, and the second sending leads to it.
func (s *Server) freshForm(r *http.Request, actor provisioning.Actor) (map[string]string, error) {
	me, err := s.service.Me(r.Context(), actor)
	if err != nil {
		return nil, err
	}
	form := map[string]string{"submitToken": rand.Text()}
	if me.Unit != nil {
		form["unit"] = me.Unit.Ansvarskod
	}
	return form, nil
}

func (s *Server) showNewRequest(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, status int, data pageData) {
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
	data.Actor, data.Section, data.Catalog, data.Approvers = &actor, "new", catalog, approvers
	if data.SystemGroups, err = s.systemGroups(r, catalog); err != nil {
		s.fail(w, r, err)
		return
	}
	for _, sys := range catalog {
		data.NeedsCertificate = data.NeedsCertificate || sys.NeedsCertificate
	}
	if data.FieldErrors == nil {
		data.FieldErrors = map[string]string{}
	}
	s.render(w, r, status, "new", data)
}

// unitSeparators split a system's units. Not spaces: unit names have them ("Särskilt boende
// Ekbacken").
var unitSeparators = regexp.MustCompile(`\s*[,;\n]\s*`)

// pickedUnit is what the unit search puts in a field of several units: "Name (ansvarskod)".
var pickedUnit = regexp.MustCompile(`\(([^()]+)\)$`)

// submitRequest turns the form into a grant request. The domain validates; its errors come
// back next to their fields in the user's language, with everything typed kept.
func (s *Server) submitRequest(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if err := parseForm(r); err != nil {
		s.problemPage(w, r, http.StatusRequestEntityTooLarge, "form.too_large")
		return
	}
	catalog, err := s.service.Catalog(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form := map[string]string{}
	for _, name := range formFields {
		form[name] = strings.TrimSpace(r.PostForm.Get(name))
	}
	in := provisioning.SubmitInput{
		Person: provisioning.PersonInput{GivenName: form["givenName"], Surname: form["surname"], Personnummer: form["personnummer"],
			Mobile: form["mobile"], Email: form["email"], Username: form["username"], JobTitle: form["jobTitle"],
			EmployeeType: form["employeeType"]},
		Unit: s.resolveUnit(r, actor, form["unit"]), CostCentre: form["costCentre"], Reason: form["reason"], Description: form["description"],
		ValidFrom: form["validFrom"], ValidTo: form["validTo"], Approver: form["approver"], SubmitToken: form["submitToken"],
		OtherSystem: form["otherSystem"],
	}
	if form["selfApprove"] != "" {
		in.Approver = actor.ID
	}
	// Each system's role and units become items; itemSystem remembers which system an item
	// came from, so that its errors land next to that system.
	var itemSystem []string
	for _, sys := range catalog {
		if len(sys.Roles) == 0 {
			if r.PostForm.Get("sys."+sys.ID+".yes") != "" {
				form["sys."+sys.ID+".yes"] = "ja"
				in.Items = append(in.Items, provisioning.ItemInput{System: sys.ID})
				itemSystem = append(itemSystem, sys.ID)
			}
			continue
		}
		role := strings.TrimSpace(r.PostForm.Get("sys." + sys.ID + ".role"))
		units := strings.TrimSpace(r.PostForm.Get("sys." + sys.ID + ".units"))
		form["sys."+sys.ID+".role"], form["sys."+sys.ID+".units"] = role, units
		if role == "" && units == "" {
			continue
		}
		codes := unitSeparators.Split(units, -1)
		if units == "" {
			codes = []string{""}
		}
		for _, code := range codes {
			in.Items = append(in.Items, provisioning.ItemInput{System: sys.ID, Role: role, Unit: s.resolveUnit(r, actor, code)})
			itemSystem = append(itemSystem, sys.ID)
		}
	}
	s.submitForm(w, r, actor, in, form, func(l Localizer, field string) (string, string, string) {
		anchor, label := s.anchorFor(l, field, itemSystem, catalog)
		if anchor == "systems" {
			return anchor, "items", label
		}
		return anchor, anchor, label
	}, func(status int, data pageData) { s.showNewRequest(w, r, actor, status, data) })
}

// submitForm submits a request form's input, with the files sent with it, and answers as
// every request form does: a redirect to the request once it is made; otherwise the form
// again, everything typed kept and each of the domain's errors next to its field, in the
// user's language. anchor names a domain field's element, its FieldErrors key and label;
// again shows the form.
func (s *Server) submitForm(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, in provisioning.SubmitInput,
	form map[string]string, anchor func(l Localizer, field string) (id, key, label string), again func(status int, data pageData)) {
	// The files go with the request into the domain, which checks and stores them in the
	// request's transaction: a bad file refuses the whole form, and nothing is half stored.
	files, err := formFiles(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	in.Attachments = files
	out, err := s.service.Submit(r.Context(), actor, in)
	var ve *provisioning.ValidationError
	if errors.As(err, &ve) {
		data := pageData{Form: form, FieldErrors: map[string]string{}}
		l := s.localizer(r)
		for _, fe := range ve.Errors {
			id, key, label := anchor(l, fe.Field)
			msg := l.FieldMessage(fe)
			data.Errors = append(data.Errors, formError{Anchor: id, Label: label, Message: msg})
			if _, taken := data.FieldErrors[key]; !taken {
				data.FieldErrors[key] = msg
			}
		}
		again(http.StatusBadRequest, data)
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(out.ID)+"?done=submitted", http.StatusSeeOther)
}

// parseForm reads a form, plain or with files, within the bounds boundedBodies set: at most
// maxForm of fields is held in memory.
func parseForm(r *http.Request) error {
	if isMultipart(r) {
		return r.ParseMultipartForm(maxForm)
	}
	return r.ParseForm()
}

func isMultipart(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data")
}

// maxFormFiles bounds the files sent with the request form.
const maxFormFiles = 3 * provisioning.MaxAttachment

// formFiles reads the files of the request form's "files" field; the domain checks them.
func formFiles(r *http.Request) ([]provisioning.Upload, error) {
	if r.MultipartForm == nil {
		return nil, nil
	}
	var files []provisioning.Upload
	for _, h := range r.MultipartForm.File["files"] {
		if h.Filename == "" && h.Size == 0 {
			continue // the browser's empty file input
		}
		f, err := h.Open()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(io.LimitReader(f, provisioning.MaxAttachment+1))
		f.Close()
		if err != nil {
			return nil, err
		}
		files = append(files, provisioning.Upload{Name: h.Filename, Data: data})
	}
	return files, nil
}

var itemField = regexp.MustCompile(`^items\[(\d+)\]`)

// anchorFor returns the element id and label of a domain field: items[3].role becomes the
// fieldset of the system the fourth item came from.
func (s *Server) anchorFor(l Localizer, field string, itemSystem []string, catalog []provisioning.SystemView) (string, string) {
	if a, ok := fieldAnchors[field]; ok {
		return a[0], l.T(a[1])
	}
	if m := itemField.FindStringSubmatch(field); m != nil {
		if i, err := strconv.Atoi(m[1]); err == nil && i < len(itemSystem) {
			for _, sys := range catalog {
				if sys.ID == itemSystem[i] {
					return "sys-" + sys.ID, sys.Name
				}
			}
		}
	}
	return "systems", l.T("new.section.systems")
}

// resolveUnit lets a person type a unit's name as well as its ansvarskod: a name that
// matches exactly one of the units the actor may name becomes its ansvarskod; anything else
// goes to the domain as typed, which names it in its error.
func (s *Server) resolveUnit(r *http.Request, actor provisioning.Actor, typed string) string {
	typed = strings.TrimSpace(typed)
	if typed == "" {
		return ""
	}
	if m := pickedUnit.FindStringSubmatch(typed); m != nil {
		code := strings.TrimSpace(m[1])
		if hits, err := s.service.SearchUnits(r.Context(), actor, code, 2); err == nil && len(hits) > 0 && hits[0].Ansvarskod == code {
			return code
		}
	}
	hits, err := s.service.SearchUnits(r.Context(), actor, typed, 2)
	if err != nil || len(hits) == 0 {
		return typed
	}
	if hits[0].Ansvarskod == typed || len(hits) == 1 {
		return hits[0].Ansvarskod
	}
	return typed
}

// approverSearch lists the managers who can attest the unit, as JSON for the approver
// picker, which offers them when the unit field changes.
func (s *Server) approverSearch(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	approvers, err := s.service.Approvers(r.Context(), actor, s.resolveUnit(r, actor, r.URL.Query().Get("unit")))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if approvers == nil {
		approvers = []provisioning.Approver{}
	}
	writeJSON(w, approvers)
}

// writeJSON answers a page's script; what it says is for this user now, never cached.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

// unitSearch answers the unit search as you type: JSON for the script, at most 5 hits
// unless all=1, among the units the actor may name.
func (s *Server) unitSearch(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	limit := 5
	if r.URL.Query().Get("all") == "1" {
		limit = 0
	}
	hits, err := s.service.SearchUnits(r.Context(), actor, r.URL.Query().Get("q"), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if hits == nil {
		hits = []provisioning.UnitRef{}
	}
	writeJSON(w, hits)
}
