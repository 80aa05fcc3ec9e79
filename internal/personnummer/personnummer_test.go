package personnummer

import (
	"errors"
	"testing"
	"time"
)

// now is fixed so that the century of 10-digit forms and "in the future" do not drift.
var now = time.Date(2026, 11, 24, 12, 0, 0, 0, stockholm)

// Skatteverket's test numbers (personnummer and samordningsnummer), never assigned to anyone.
var testNumbers = []struct {
	twelve       string
	coordination bool
	birth        string
}{
	{"191202119150", false, "1912-02-11"},
	{"195001182046", false, "1950-01-18"},
	{"198501139995", false, "1985-01-13"},
	{"200101012383", false, "2001-01-01"},
	{"201001012382", false, "2010-01-01"},
	{"202301012395", false, "2023-01-01"},
	{"191401682396", true, "1914-01-08"},
	{"202312912393", true, "2023-12-31"},
	{"189912089803", false, "1899-12-08"},
	{"200007202385", false, "2000-07-20"},
}

func TestValidNumbersInEveryForm(t *testing.T) {
	for _, tn := range testNumbers {
		ten := tn.twelve[2:8] + "-" + tn.twelve[8:]
		if now.Year()-atoi(tn.twelve[:4]) >= 100 {
			ten = tn.twelve[2:8] + "+" + tn.twelve[8:]
		}
		for _, form := range []string{tn.twelve, tn.twelve[:8] + "-" + tn.twelve[8:], ten, " " + tn.twelve + " "} {
			n, err := Parse(form, now)
			if err != nil {
				t.Errorf("Parse(%q) = %v", form, err)
				continue
			}
			if n.String() != tn.twelve {
				t.Errorf("Parse(%q) = %s, want %s", form, n, tn.twelve)
			}
			if n.Coordination() != tn.coordination {
				t.Errorf("%s: Coordination = %v", form, n.Coordination())
			}
			if got := n.BirthDate().Format(time.DateOnly); got != tn.birth {
				t.Errorf("%s: BirthDate = %s, want %s", form, got, tn.birth)
			}
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

func TestInvalid(t *testing.T) {
	cases := []struct {
		in   string
		want error
	}{
		{"19120211-9151", ErrChecksum},
		{"19500230-2049", ErrDate},   // 30 February
		{"19501318-2042", ErrDate},   // month 13
		{"20230229-2392", ErrDate},   // 29 February in a non-leap year
		{"19140192-2396", ErrDate},   // samordningsnummer day 92
		{"500118-204", ErrFormat},    // too short
		{"1950011820466", ErrFormat}, // too long
		{"500118_2046", ErrFormat},   // bad separator
		{"5OO118-2046", ErrFormat},   // letter O
		{"19500118+2046", ErrFormat}, // '+' with 12 digits
		{"", ErrFormat},
		{"21500118-2046", ErrFormat}, // century 21
	}
	for _, c := range cases {
		if _, err := Parse(c.in, now); !errors.Is(err, c.want) {
			t.Errorf("Parse(%q) = %v, want %v", c.in, err, c.want)
		}
	}
}

func TestFutureDateRejected(t *testing.T) {
	// 2026-12-31 is still to come on 2026-11-24; its check digit is right.
	if _, err := Parse(withCheck("261231123"), now); !errors.Is(err, ErrDate) {
		t.Fatalf("a date in the future was accepted: %v", err)
	}
}

func withCheck(nine string) string {
	for c := '0'; c <= '9'; c++ {
		if luhnValid(nine + string(c)) {
			return nine[:6] + "-" + nine[6:] + string(c)
		}
	}
	panic("no check digit")
}

func TestCentury(t *testing.T) {
	cases := map[string]string{
		withCheck("991231123"): "1999",
		withCheck("260101123"): "2026",
		withCheck("500118204"): "1950",
	}
	plus := withCheck("121202119")
	cases[plus[:6]+"+"+plus[7:]] = "1912"
	for in, year := range cases {
		n, err := Parse(in, now)
		if err != nil {
			t.Errorf("Parse(%q) = %v", in, err)
			continue
		}
		if n.String()[:4] != year {
			t.Errorf("Parse(%q) = %s, want year %s", in, n, year)
		}
	}
}

func TestFormatAndMask(t *testing.T) {
	n, err := Parse("195001182046", now)
	if err != nil {
		t.Fatal(err)
	}
	if n.Formatted() != "19500118-2046" || n.Masked() != "19500118-****" {
		t.Fatalf("Formatted %s, Masked %s", n.Formatted(), n.Masked())
	}
	var zero Number
	if !zero.IsZero() || zero.Masked() != "" {
		t.Fatal("the zero Number is not empty")
	}
}

func FuzzParse(f *testing.F) {
	for _, tn := range testNumbers {
		f.Add(tn.twelve)
		f.Add(tn.twelve[2:8] + "-" + tn.twelve[8:])
	}
	f.Add("19500230-2049")
	f.Add("500118+2046")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s, now)
		if err != nil {
			return
		}
		if !luhnValid(n.String()[2:]) {
			t.Fatalf("Parse(%q) = %s fails the Luhn check", s, n)
		}
		for _, again := range []string{n.String(), n.Formatted()} {
			m, err := Parse(again, now)
			if err != nil || m != n {
				t.Fatalf("Parse(%q) = %s, but Parse(%q) = %s, %v", s, n, again, m, err)
			}
		}
	})
}
