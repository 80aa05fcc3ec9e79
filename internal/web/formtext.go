package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/behorig/behorig/internal/textcheck"
	"github.com/behorig/behorig/provisioning"
)

// multilineFields are the form fields that are textareas: they may hold line breaks.
var multilineFields = []string{"reason", "description", "note", "comment", "terms", "managers"}

// checkedText refuses, before any handler acts, a request whose path, query or form breaks
// the text rule (internal/textcheck): every field and every uploaded file's name, in every
// form, so that no handler can forget one. The API under /api/ checks its own and answers
// in JSON.
func (s *Server) checkedText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		if textcheck.Line(r.URL.Path) != nil {
			s.problemPage(w, r, http.StatusNotFound, "notfound")
			return
		}
		if r.Method == http.MethodPost && !s.parsedForm(w, r) {
			return
		}
		if errs := formTextErrors(r); len(errs) > 0 {
			s.textRefused(w, r, errs)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// parsedForm parses a posted form within its bounds and answers a form it cannot read. A
// form with files that cannot be read goes on to its handler, which reads it again and says
// what is wrong next to the file field.
func (s *Server) parsedForm(w http.ResponseWriter, r *http.Request) bool {
	err := parseForm(r)
	var tooBig *http.MaxBytesError
	switch {
	case err == nil || isMultipart(r):
		return true
	case errors.As(err, &tooBig):
		s.problemPage(w, r, http.StatusRequestEntityTooLarge, "form.too_large")
	default:
		s.problemPage(w, r, http.StatusBadRequest, "form.unreadable")
	}
	return false
}

// formTextErrors checks every value and field name of the query and the form, and the
// names of uploaded files.
func formTextErrors(r *http.Request) []provisioning.FieldError {
	var errs []provisioning.FieldError
	check := func(field, value string, multiline bool) {
		err := textcheck.Line(value)
		if multiline {
			err = textcheck.Text(value)
		}
		if err != nil && !slices.ContainsFunc(errs, func(e provisioning.FieldError) bool { return e.Field == field }) {
			errs = append(errs, textFieldError(field, err))
		}
	}
	values := r.Form
	if values == nil {
		values = r.URL.Query()
	}
	for _, name := range sortedKeys(values) {
		check(name, name, false)
		for _, v := range values[name] {
			check(name, v, slices.Contains(multilineFields, name))
		}
	}
	if r.MultipartForm != nil {
		for _, name := range sortedKeys(r.MultipartForm.File) {
			check(name, name, false)
			for _, h := range r.MultipartForm.File[name] {
				check(name, h.Filename, false)
			}
		}
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// textFieldError is a text rule's refusal as a field error the catalog can say.
func textFieldError(field string, err error) provisioning.FieldError {
	fe := provisioning.FieldError{Field: field, Message: err.Error(), Format: err.Error()}
	var forbidden *textcheck.ForbiddenError
	if errors.As(err, &forbidden) {
		fe.Format, fe.Args = textcheck.Format, []any{forbidden.Rune}
	}
	return fe
}

// textRefused shows the problem page naming each field with characters that are not allowed.
func (s *Server) textRefused(w http.ResponseWriter, r *http.Request, errs []provisioning.FieldError) {
	l := s.localizer(r)
	data := pageData{Title: l.T("form.bad_text"), Message: l.T("form.bad_text.")}
	for _, fe := range errs {
		data.Errors = append(data.Errors, formError{Label: fieldLabel(l, r.URL.Path, fe.Field), Message: l.FieldMessage(fe)})
	}
	if actor, err := s.CurrentActor(r); err == nil {
		data.Actor = &actor
	}
	s.render(w, r, http.StatusBadRequest, "problem", data)
}

// fieldLabels are the label keys of the fields of the forms that have no map of their own.
var fieldLabels = map[string]string{
	"comment": "comments.add", "file": "attachments.add", "note": "field.note", "effectiveDate": "field.effectiveDate",
}

// fieldLabel names a posted field as its form labels it; a field without a known label is
// named as it was posted.
func fieldLabel(l Localizer, path, name string) string {
	labels := fieldLabels
	switch path {
	case "/admin/units":
		labels = unitLabels
	case "/admin/catalog":
		labels = systemLabels
		name, _, _ = strings.Cut(name, ".") // role.3.name
	}
	if key, ok := labels[name]; ok {
		return l.T(key)
	}
	for _, a := range fieldAnchors {
		if a[0] == name {
			return l.T(a[1])
		}
	}
	switch {
	case strings.HasPrefix(name, "sys.") && strings.HasSuffix(name, ".role"):
		return l.T("field.role")
	case strings.HasPrefix(name, "sys.") && strings.HasSuffix(name, ".units"):
		return l.T("field.units")
	case textcheck.Line(name) != nil:
		return strconv.QuoteToASCII(name)
	}
	return name
}
