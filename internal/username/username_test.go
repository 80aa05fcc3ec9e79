package username

import (
	"regexp"
	"strings"
	"testing"
)

func TestBase(t *testing.T) {
	cases := []struct{ given, surname, want string }{
		{"Anna", "Berg", "anna.berg"},
		{"Åsa-Märta", `O'Brien (*)\,=+<>#;"`, "asa-marta.obrien"},
		{"Örjan", "Ström", "orjan.strom"},
		{"Zoë", "Éclair", "zoe.eclair"},
		{"Søren", "Kierkegaard", "soren.kierkegaard"},
		{"José María", "Núñez", "jose-maria.nunez"},
		{"Łukasz", "Wałęsa", "lukasz.walesa"},
		{"Ægir", "Straße", "aegir.strasse"},
		{"Þóra", "Guðmundsdóttir", "thora.gudmundsdottir"},
		{"Đorđe", "Ćirić", "dorde.ciric"},
		{"Ħelena", "Borġ", "helena.borg"},
		{"Áŋŋá", "Ŧuolbmá", "anna.tuolbma"},
		{"Ĳsbrand", "ǅurić", "ijsbrand.dzuric"},
		{"Aŀlèn", "Ştefănescu", "allen.stefanescu"},
		{"Ərəbli", "Yılmaz", "erebli.yilmaz"},
		{"Ｋａｒｉｎ", "Åberg", "karin.aberg"},
		{"  Eva  ", " Lind - Holm ", "eva.lind-holm"},
		{"Maximiliana-Josefina", "Andersson-Kronstedt", "m.andersson-kronsted"},
		{"Bo", "Abcdefghijklmnopqrstuvwxyz", "b.abcdefghijklmnopqr"},
	}
	for _, c := range cases {
		got, err := Base(c.given, c.surname)
		if err != nil || got != c.want {
			t.Errorf("Base(%q, %q) = %q, %v; want %q", c.given, c.surname, got, err, c.want)
		}
	}
}

func TestBaseNothingLeft(t *testing.T) {
	for _, c := range [][2]string{{"***", "Berg"}, {"Anna", "()"}, {"Мария", "Иванова"}, {"محمد", "علي"}, {"李", "王"}, {"", ""}} {
		if got, err := Base(c[0], c[1]); err == nil {
			t.Errorf("Base(%q, %q) = %q, want an error", c[0], c[1], got)
		}
	}
}

func TestCandidate(t *testing.T) {
	cases := []struct {
		base string
		n    int
		want string
	}{
		{"anna.berg", 1, "anna.berg"},
		{"anna.berg", 2, "anna.berg2"},
		{"anna.berg", 10, "anna.berg10"},
		{"bo.abcdefghijklmnopq", 2, "bo.abcdefghijklmnop2"},
		{"bo.abcdefghijklmnopq", 123, "bo.abcdefghijklmn123"},
		{"abcdefghijklmnopqr.x", 12, "abcdefghijklmnopqr12"},
	}
	for _, c := range cases {
		if got := Candidate(c.base, c.n); got != c.want {
			t.Errorf("Candidate(%q, %d) = %q, want %q", c.base, c.n, got, c.want)
		}
	}
}

var valid = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?\.[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

func FuzzBase(f *testing.F) {
	f.Add("Åsa-Märta", `O'Brien (*)\,=+<>#;"`)
	f.Add("Maximiliana-Josefina", "Andersson-Kronstedt")
	f.Add("a - - b", "-c-")
	f.Fuzz(func(t *testing.T, given, surname string) {
		got, err := Base(given, surname)
		if err != nil {
			return
		}
		if len(got) > MaxLen || !valid.MatchString(got) || strings.Contains(got, "--") {
			t.Fatalf("Base(%q, %q) = %q breaks the username rules", given, surname, got)
		}
		for n := 1; n < 1200; n += 37 {
			if c := Candidate(got, n); len(c) > MaxLen || strings.HasSuffix(c, ".") {
				t.Fatalf("Candidate(%q, %d) = %q", got, n, c)
			}
		}
	})
}
