package web

import (
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every key the templates and handlers ask for is in the catalog, in both languages.
func TestCatalogHasEveryKeyInBothLanguages(t *testing.T) {
	used := map[string]string{}
	templateKey := regexp.MustCompile(`\.T "([a-z0-9_.]+)"`)
	codeKey := regexp.MustCompile(`(?:problemPage\(w, r, [\w.]+, |\.T\()"([a-z0-9_.]+)"[,)]`)
	fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			return nil
		}
		data, _ := fs.ReadFile(templateFS, path)
		for _, m := range templateKey.FindAllStringSubmatch(string(data), -1) {
			used[m[1]] = path
		}
		return nil
	})
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, _ := os.ReadFile(f)
		for _, m := range codeKey.FindAllStringSubmatch(string(data), -1) {
			used[m[1]] = f
			if strings.Contains(m[0], "problemPage") {
				used[m[1]+"."] = f
			}
		}
	}
	// A page's <title> falls back to "<page>.title" (render): without the key, a screen
	// reader and the browser tab would read the key itself (WCAG 2.4.2).
	pages, _ := fs.Glob(templateFS, "templates/*.html")
	for _, p := range pages {
		name := strings.TrimSuffix(filepath.Base(p), ".html")
		if name != "layout" && !strings.HasPrefix(name, "partials") {
			used[name+".title"] = p
		}
	}
	if len(used) < 10 {
		t.Fatalf("found only %d keys; the patterns no longer match the code", len(used))
	}
	for key, where := range used {
		if _, ok := messages[key]; !ok {
			t.Errorf("%s uses %q, which is not in the catalog", where, key)
		}
	}
	for key, m := range messages {
		if strings.TrimSpace(m[0]) == "" || strings.TrimSpace(m[1]) == "" {
			t.Errorf("%q lacks a Swedish or an English text", key)
		}
	}
}

func TestLanguageChoice(t *testing.T) {
	for _, tc := range []struct {
		accept, cookie string
		want           Lang
	}{
		{"", "", Swedish},
		{"sv-SE,sv;q=0.9,en;q=0.8", "", Swedish},
		{"en-GB,en;q=0.9", "", English},
		{"de-DE", "", Swedish},
		{"en-US", "sv", Swedish},
		{"sv", "en", English},
		{"en", "fr", English},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.accept != "" {
			r.Header.Set("Accept-Language", tc.accept)
		}
		if tc.cookie != "" {
			r.Header.Set("Cookie", langCookie+"="+tc.cookie)
		}
		if got := requestLang(r); got != tc.want {
			t.Errorf("Accept-Language %q, cookie %q: %s, want %s", tc.accept, tc.cookie, got, tc.want)
		}
	}
}

func TestSwedishFormats(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Stockholm")
	sv, en := Localizer{Lang: Swedish, loc: loc}, Localizer{Lang: English, loc: loc}
	at := time.Date(2023, 1, 27, 12, 10, 0, 0, time.UTC)
	for _, tc := range [][2]string{
		{sv.Date("2023-02-16"), "16 februari 2023"},
		{en.Date("2023-02-16"), "16 February 2023"},
		{sv.DateTime(at), "27 januari 2023 13:10"},
		{sv.Number(1234567), "1\u00a0234\u00a0567"},
		{en.Number(1234567), "1,234,567"},
		{sv.Number(-130), "-130"},
		{sv.Number(-1300), "-1\u00a0300"},
		{sv.Date(""), ""},
	} {
		if tc[0] != tc[1] {
			t.Errorf("got %q, want %q", tc[0], tc[1])
		}
	}
}

// Every validation message the domain can give has a translation.
func TestEveryDomainValidationMessageIsTranslated(t *testing.T) {
	files, _ := filepath.Glob("../../provisioning/*.go")
	var src []byte
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src = append(src, data...)
		}
	}
	formats := regexp.MustCompile(`ve\.add\([^,]+, "((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(string(src), -1)
	if len(formats) < 30 {
		t.Fatalf("found %d ve.add calls; the pattern no longer matches", len(formats))
	}
	for _, m := range formats {
		format := strings.ReplaceAll(m[1], `\"`, `"`)
		if format == "%v" {
			continue
		}
		if _, ok := messages["v:"+format]; !ok {
			t.Errorf("no translation of the validation message %q", format)
		}
	}
}
