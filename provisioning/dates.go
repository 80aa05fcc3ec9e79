package provisioning

import (
	"fmt"
	"time"
)

const dateLayout = time.DateOnly

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
		return time.Time{}, fmt.Errorf("%q is not a date (YYYY-MM-DD)", v)
	}
	return t, nil
}

// addWorkingDays counts n working days on from date, skipping weekends.
// Swedish public holidays join the calendar with the IT queue (issue 5).
func addWorkingDays(date time.Time, n int) time.Time {
	for n > 0 {
		date = date.AddDate(0, 0, 1)
		if wd := date.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return date
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
