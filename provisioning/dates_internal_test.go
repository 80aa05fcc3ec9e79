package provisioning

import (
	"errors"
	"testing"
	"time"
)

// A complete request is handled within two working days; these are real Swedish dates around
// the holidays a handler would trip over.
func TestDueDateSkipsSwedishHolidays(t *testing.T) {
	s := &Service{workdays: swedishWorkdays()}
	for _, tc := range []struct {
		from, want string
		days       int
		why        string
	}{
		{"2026-11-27", "2026-12-01", 2, "a Friday: the weekend does not count"},
		{"2026-06-18", "2026-06-23", 2, "midsommarafton (Fri 19 June) is a day off, midsommardagen a Saturday"},
		{"2025-06-19", "2025-06-24", 2, "midsommarafton 20 June 2025"},
		{"2026-12-23", "2026-12-29", 2, "julafton and juldagen; annandag jul is a Saturday"},
		{"2027-12-23", "2027-12-28", 2, "julafton on a Friday; juldagen and annandag jul fall on the weekend"},
		{"2026-04-02", "2026-04-08", 2, "långfredagen 3 April and annandag påsk 6 April"},
		{"2025-04-17", "2025-04-23", 2, "påsk 2025: långfredagen 18 April, annandag påsk 21 April"},
		{"2026-12-30", "2027-01-05", 2, "nyårsafton and nyårsdagen"},
		{"2027-01-04", "2027-01-07", 2, "trettondedag jul, Wednesday 6 January"},
		{"2026-05-13", "2026-05-15", 1, "Kristi himmelsfärds dag, Thursday 14 May"},
		{"2025-06-05", "2025-06-10", 2, "nationaldagen Friday 6 June; annandag pingst is a working day since 2005"},
		{"2026-04-30", "2026-05-04", 1, "första maj on a Friday"},
		{"2026-10-30", "2026-11-03", 2, "alla helgons dag is a Saturday, so only the weekend"},
	} {
		from, _ := time.Parse(time.DateOnly, tc.from)
		if got := s.addWorkingDays(from, tc.days).Format(time.DateOnly); got != tc.want {
			t.Errorf("%s + %d working days = %s, want %s (%s)", tc.from, tc.days, got, tc.want, tc.why)
		}
	}
}

// Only an empty field means "no date": the zero date and dates no one means are errors.
func TestParseDateRange(t *testing.T) {
	for _, c := range []struct {
		in   string
		want error
	}{
		{"", nil},
		{"1900-01-01", nil},
		{"2026-06-01", nil},
		{"2100-12-31", nil},
		{"0001-01-01", ErrDateOutOfRange},
		{"1899-12-31", ErrDateOutOfRange},
		{"2101-01-01", ErrDateOutOfRange},
		{"9999-12-31", ErrDateOutOfRange},
		{"2026-02-30", ErrNotADate},
		{"1 maj", ErrNotADate},
	} {
		got, err := parseDate(c.in)
		if !errors.Is(err, c.want) || (c.want == nil && c.in != "" && got.IsZero()) {
			t.Errorf("parseDate(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// The working-day table counts exactly what walking the calendar day by day counts, within a
// year, across years and backwards.
func TestWorkdayTableCountsAsTheCalendar(t *testing.T) {
	c := swedishWorkdays()
	table := newWorkdayTable(c)
	walk := func(from, to time.Time) int {
		sign := 1
		if to.Before(from) {
			from, to, sign = to, from, -1
		}
		n := 0
		for d := from.AddDate(0, 0, 1); !d.After(to); d = d.AddDate(0, 0, 1) {
			if c.IsWorkday(d) {
				n++
			}
		}
		return sign * n
	}
	start := time.Date(2024, 12, 20, 0, 0, 0, 0, time.UTC)
	for i := range 60 {
		from := start.AddDate(0, 0, i*13)
		for _, days := range []int{0, 1, 6, 40, 400, 800, -3, -370} {
			to := from.AddDate(0, 0, days)
			if got, want := table.between(from, to), walk(from, to); got != want {
				t.Fatalf("%s to %s: %d working days, the calendar says %d", from.Format(time.DateOnly), to.Format(time.DateOnly), got, want)
			}
		}
	}
}
