package provisioning

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/se"
)

const dateLayout = time.DateOnly

// ErrNotADate is a date field that does not hold a YYYY-MM-DD date.
var ErrNotADate = errors.New("not a date (YYYY-MM-DD)")

// ErrDateOutOfRange is a date before minDate or after maxDate.
var ErrDateOutOfRange = errors.New("not between 1900-01-01 and 2100-12-31")

// minDate and maxDate bound every date behorig takes. Outside them a date is a typing
// error, and 0001-01-01 (Go's zero time) would read as "no date"; 9999-12-31 overflows the
// date arithmetic of the later steps.
var (
	minDate = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDate = time.Date(2100, 12, 31, 0, 0, 0, 0, time.UTC)
)

// today is the current date in the service's location, as midnight UTC so dates compare as dates.
func (s *Service) today() time.Time {
	y, m, d := s.clock.Now().In(s.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// startOf is the instant a date begins in the service's location (00:00 Europe/Stockholm).
func (s *Service) startOf(date time.Time) time.Time {
	y, m, d := date.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, s.loc)
}

// parseDate reads an optional YYYY-MM-DD date between minDate and maxDate; only empty gives
// the zero time, which callers take as "no date".
func parseDate(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(dateLayout, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q", ErrNotADate, v)
	}
	if t.Before(minDate) || t.After(maxDate) {
		return time.Time{}, fmt.Errorf("%w: %s", ErrDateOutOfRange, v)
	}
	return t, nil
}

// swedishWorkdays is the working calendar of a Swedish municipality: weekends, the public
// holidays, and midsommarafton, julafton and nyårsafton, which the collective agreements make
// days off. rickar/cal computes the movable ones (påsk, Kristi himmelsfärd, midsommar,
// alla helgons dag).
func swedishWorkdays() *cal.BusinessCalendar {
	c := cal.NewBusinessCalendar()
	c.AddHoliday(se.Holidays...)
	return c
}

// workdayTable counts working days between two dates without walking the calendar day by
// day: per year it keeps, once, how many working days the year has up to each of its days.
// A page of the queue asks for 50 counts, and a request long overdue spans years.
type workdayTable struct {
	cal   *cal.BusinessCalendar
	mu    sync.Mutex
	years map[int][]int // [n] = working days from 1 January up to and including day n (1-based)
}

func newWorkdayTable(c *cal.BusinessCalendar) *workdayTable {
	return &workdayTable{cal: c, years: map[int][]int{}}
}

func (w *workdayTable) year(y int) []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if days, ok := w.years[y]; ok {
		return days
	}
	first := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	days := []int{0}
	for d := first; d.Year() == y; d = d.AddDate(0, 0, 1) {
		n := days[len(days)-1]
		if w.cal.IsWorkday(d) {
			n++
		}
		days = append(days, n)
	}
	w.years[y] = days
	return days
}

// between counts the working days after from up to and including to; negative when to is
// before from.
func (w *workdayTable) between(from, to time.Time) int {
	sign := 1
	if to.Before(from) {
		from, to, sign = to, from, -1
	}
	n := 0
	for y := from.Year(); y < to.Year(); y++ {
		days := w.year(y)
		n += days[len(days)-1]
	}
	return sign * (n + w.year(to.Year())[to.YearDay()] - w.year(from.Year())[from.YearDay()])
}

// addWorkingDays counts n working days on from date.
func (s *Service) addWorkingDays(date time.Time, n int) time.Time {
	return s.workdays.WorkdaysFrom(date, n)
}

// datePtr turns a zero date into nil, for nullable date columns and JSON.
func datePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func formatDate(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(dateLayout)
}

// due is when a job should run: the zero time (at once) when the moment has come, so that
// the job does not wait for the job scheduler's next round.
func (s *Service) due(at time.Time) time.Time {
	if at.After(s.clock.Now()) {
		return at
	}
	return time.Time{}
}
