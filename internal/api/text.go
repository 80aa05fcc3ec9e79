package api

import (
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/behorig/behorig/internal/textcheck"
	"github.com/behorig/behorig/provisioning"
)

// isJSON tells whether a Content-Type is application/json; parameters are allowed, but a
// charset other than UTF-8 is not, since JSON is UTF-8 (RFC 8259).
func isJSON(contentType string) bool {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "application/json" {
		return false
	}
	charset, ok := params["charset"]
	return !ok || strings.EqualFold(charset, "utf-8")
}

// textErrors names every string of a decoded body that breaks the text rule, by its JSON
// path (person.givenName, items[1].role). A string field tagged text:"multiline" may hold
// line breaks. encoding/json turns invalid UTF-8 into U+FFFD without a word, so when the raw
// body was not valid UTF-8 the strings holding U+FFFD are the ones it was in.
func textErrors(decoded any, invalidUTF8 bool) []provisioning.FieldError {
	var errs []provisioning.FieldError
	walkStrings(reflect.ValueOf(decoded), "", false, func(path, value string, multiline bool) {
		err := textcheck.Line(value)
		if multiline {
			err = textcheck.Text(value)
		}
		if invalidUTF8 && strings.ContainsRune(value, utf8.RuneError) {
			err = textcheck.ErrInvalidUTF8
		}
		if err != nil {
			errs = append(errs, provisioning.FieldError{Field: path, Message: err.Error()})
		}
	})
	if invalidUTF8 && len(errs) == 0 {
		errs = append(errs, provisioning.FieldError{Message: "the body " + textcheck.ErrInvalidUTF8.Error()})
	}
	return errs
}

// walkStrings calls visit for every string in v, map keys included.
func walkStrings(v reflect.Value, path string, multiline bool, visit func(path, value string, multiline bool)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), path, multiline, visit)
		}
	case reflect.String:
		visit(path, v.String(), multiline)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			walkStrings(v.Field(i), join(path, name), f.Tag.Get("text") == "multiline", visit)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", path, i), multiline, visit)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			key := fmt.Sprint(iter.Key().Interface())
			if iter.Key().Kind() == reflect.String {
				visit(join(path, key), key, false)
			}
			walkStrings(iter.Value(), join(path, key), multiline, visit)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// checkURL refuses a path or query that breaks the text rule before any handler reads it: a
// NUL or invalid UTF-8 in an id would otherwise reach the database as an error.
func (s *Server) checkURL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if textcheck.Line(r.URL.Path) != nil {
			s.problem(w, r, http.StatusNotFound, "No such API endpoint", nil)
			return
		}
		var errs []provisioning.FieldError
		for name, values := range r.URL.Query() {
			for _, v := range append([]string{name}, values...) {
				if err := textcheck.Line(v); err != nil {
					errs = append(errs, provisioning.FieldError{Field: name, Message: err.Error()})
					break
				}
			}
		}
		if len(errs) > 0 {
			s.problem(w, r, http.StatusBadRequest, "The query has invalid text", errs)
			return
		}
		next.ServeHTTP(w, r)
	})
}
