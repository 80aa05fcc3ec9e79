package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/text/language"
)

// Lang is a language of the UI: Swedish by default, English by choice.
type Lang string

// The languages of the UI.
const (
	Swedish Lang = "sv"
	English Lang = "en"
)

var matcher = language.NewMatcher([]language.Tag{language.Swedish, language.English})

// langCookie remembers a choice made with the language link.
const langCookie = "behorig-lang"

// requestLang picks the language: the explicit choice (cookie), else Accept-Language, else
// Swedish.
func requestLang(r *http.Request) Lang {
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == string(Swedish) || c.Value == string(English)) {
		return Lang(c.Value)
	}
	if accept := r.Header.Get("Accept-Language"); accept != "" {
		tags, _, err := language.ParseAcceptLanguage(accept)
		if err == nil && len(tags) > 0 {
			_, i, conf := matcher.Match(tags...)
			if conf != language.No && i == 1 {
				return English
			}
		}
	}
	return Swedish
}

// Localizer renders text, dates and numbers in one language. Templates call it as
// {{.L.T "key"}}.
type Localizer struct {
	Lang Lang
	loc  *time.Location
}

// T returns the message for key, formatted with args as fmt does. A key missing from the
// catalog shows as itself, which a test prevents.
func (l Localizer) T(key string, args ...any) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	text := m[0]
	if l.Lang == English {
		text = m[1]
	}
	if len(args) > 0 {
		return fmt.Sprintf(text, args...)
	}
	return text
}

// Other is the language to offer a switch to.
func (l Localizer) Other() Lang {
	if l.Lang == English {
		return Swedish
	}
	return English
}

var months = map[Lang][12]string{
	Swedish: {"januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober", "november", "december"},
	English: {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
}

// Date writes a calendar date as "16 februari 2023"; a YYYY-MM-DD string is accepted too.
func (l Localizer) Date(v any) string {
	var t time.Time
	switch d := v.(type) {
	case time.Time:
		t = d
	case *time.Time:
		if d == nil {
			return ""
		}
		t = *d
	case *string:
		// The lists' due dates are nullable strings: without this case they were blank.
		if d == nil {
			return ""
		}
		return l.Date(*d)
	case string:
		if d == "" {
			return ""
		}
		parsed, err := time.Parse(time.DateOnly, d)
		if err != nil {
			return d
		}
		t = parsed
	default:
		return ""
	}
	return fmt.Sprintf("%d %s %d", t.Day(), months[l.Lang][t.Month()-1], t.Year())
}

// DateTime writes an instant in the service's time zone as "27 januari 2023 13:10".
func (l Localizer) DateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(l.loc)
	return l.Date(t) + " " + t.Format("15:04")
}

// Number writes an integer with the language's digit grouping: 12 345 in Swedish.
func (l Localizer) Number(n int) string {
	s := fmt.Sprint(n)
	sep := "\u00a0"
	if l.Lang == English {
		sep = ","
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && r != '-' && s[i-1] != '-' {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// DaysLeft says how many working days are left to a due date.
func (l Localizer) DaysLeft(n int) string {
	switch {
	case n < 0:
		return l.T("due.late", -n)
	case n == 0:
		return l.T("due.today")
	case n == 1:
		return l.T("due.one")
	}
	return l.T("due.left", n)
}

// Size writes a file size: 1,2 MB, 340 kB.
func (l Localizer) Size(n int) string {
	unit, v := "kB", float64(n)/1000
	if n >= 1000*1000 {
		unit, v = "MB", float64(n)/1000/1000
	}
	text := fmt.Sprintf("%.1f %s", v, unit)
	if l.Lang == Swedish {
		text = strings.Replace(text, ".", ",", 1)
	}
	return text
}
