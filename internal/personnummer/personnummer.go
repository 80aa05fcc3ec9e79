// Package personnummer parses, validates, formats and masks Swedish personal identity
// numbers (personnummer) and coordination numbers (samordningsnummer).
package personnummer

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors that Parse's errors wrap, so that callers can tell kinds apart.
var (
	ErrFormat   = errors.New("personnummer: not in a known format")
	ErrChecksum = errors.New("personnummer: check digit does not match")
	ErrDate     = errors.New("personnummer: not a valid date")
)

// Number is a valid personnummer or samordningsnummer, kept as the 12-digit string
// Skatteverket uses (YYYYMMDDNNNC). The zero Number is no number.
type Number struct {
	digits string
}

// stockholm decides which year it is when a 10-digit number is read.
var stockholm = mustLoad("Europe/Stockholm")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return loc
}

// Parse accepts YYYYMMDD-NNNN, YYYYMMDDNNNN, YYMMDD-NNNN, YYMMDD+NNNN and YYMMDDNNNN. now
// decides the century of the 10-digit forms ('+' = 100 years or older) and rejects dates in
// the future.
func Parse(s string, now time.Time) (Number, error) {
	s = strings.TrimSpace(s)
	digits, sep, err := split(s)
	if err != nil {
		return Number{}, err
	}
	if len(digits) == 10 {
		digits = withCentury(digits, sep, now)
	} else if c := digits[:2]; c != "18" && c != "19" && c != "20" {
		return Number{}, fmt.Errorf("%w: century %s is not 18, 19 or 20", ErrFormat, c)
	}
	if !luhnValid(digits[2:]) {
		return Number{}, ErrChecksum
	}
	n := Number{digits: digits}
	if err := n.checkDate(now); err != nil {
		return Number{}, err
	}
	return n, nil
}

// split checks the shape and returns the digits and the separator ("", "-" or "+").
func split(s string) (string, string, error) {
	var sep string
	switch len(s) {
	case 10, 12:
	case 11, 13:
		sep = s[len(s)-5 : len(s)-4]
		if sep != "-" && sep != "+" {
			return "", "", fmt.Errorf("%w: separator must be '-' or '+'", ErrFormat)
		}
		if len(s) == 13 && sep == "+" {
			return "", "", fmt.Errorf("%w: '+' is only allowed in the 10-digit form", ErrFormat)
		}
		s = s[:len(s)-5] + s[len(s)-4:]
	default:
		return "", "", fmt.Errorf("%w: wrong length (write YYYYMMDD-NNNN)", ErrFormat)
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return "", "", fmt.Errorf("%w: only digits and one '-' or '+' are allowed", ErrFormat)
		}
	}
	return s, sep, nil
}

// withCentury adds the century to a 10-digit number: the person is 0–99 years old this year,
// or 100 or older with '+'.
func withCentury(ten, sep string, now time.Time) string {
	year := now.In(stockholm).Year()
	if sep == "+" {
		year -= 100
	}
	yy := int(ten[0]-'0')*10 + int(ten[1]-'0')
	full := year - ((year-yy)%100+100)%100
	return fmt.Sprintf("%04d%s", full, ten[2:])
}

// luhnValid applies weights 2,1,2,… to the 10 digits; the digit sum must end in 0.
func luhnValid(ten string) bool {
	sum := 0
	for i := range 10 {
		d := int(ten[i] - '0')
		if i%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func (n Number) checkDate(now time.Time) error {
	year, month, day := n.dateParts()
	if month < 1 || month > 12 {
		return fmt.Errorf("%w: month %02d", ErrDate, month)
	}
	if day < 1 || day > 31 {
		return fmt.Errorf("%w: day %02d", ErrDate, n.rawDay())
	}
	date := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if date.Day() != day {
		return fmt.Errorf("%w: %04d-%02d-%02d does not exist", ErrDate, year, month, day)
	}
	y, m, d := now.In(stockholm).Date()
	if date.After(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)) {
		return fmt.Errorf("%w: %s is in the future", ErrDate, date.Format(time.DateOnly))
	}
	return nil
}

func (n Number) rawDay() int {
	return int(n.digits[6]-'0')*10 + int(n.digits[7]-'0')
}

// dateParts returns the date the number is made from; a samordningsnummer's day is day + 60.
func (n Number) dateParts() (year, month, day int) {
	for _, r := range n.digits[:4] {
		year = year*10 + int(r-'0')
	}
	month = int(n.digits[4]-'0')*10 + int(n.digits[5]-'0')
	day = n.rawDay()
	if day > 60 {
		day -= 60
	}
	return year, month, day
}

// String is the canonical 12-digit form, YYYYMMDDNNNC.
func (n Number) String() string { return n.digits }

// Formatted is YYYYMMDD-NNNC.
func (n Number) Formatted() string {
	if n.IsZero() {
		return ""
	}
	return n.digits[:8] + "-" + n.digits[8:]
}

// Masked shows the date part only, YYYYMMDD-****, for readers who do not need the number.
func (n Number) Masked() string {
	if n.IsZero() {
		return ""
	}
	return n.digits[:8] + "-****"
}

// IsZero reports whether n holds no number.
func (n Number) IsZero() bool { return n.digits == "" }

// Coordination reports whether n is a samordningsnummer.
func (n Number) Coordination() bool { return !n.IsZero() && n.rawDay() > 60 }

// BirthDate is the date the number is made from. It is not always the true birth date
// (Skatteverket borrows dates when one runs out of numbers), so do not decide on age by it.
func (n Number) BirthDate() time.Time {
	y, m, d := n.dateParts()
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
}
