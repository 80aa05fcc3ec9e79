package provisioning

import (
	"errors"
	"fmt"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/se"
)

const dateLayout = time.DateOnly

// ErrNotADate is a date field that does not hold a YYYY-MM-DD date.
var ErrNotADate = errors.New("not a date (YYYY-MM-DD)")

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

// parseDate reads an optional YYYY-MM-DD date; empty gives the zero time.
func parseDate(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(dateLayout, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q", ErrNotADate, v)
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
