package web

import (
	"errors"
	"fmt"

	"github.com/behorig/behorig/internal/personnummer"
	"github.com/behorig/behorig/provisioning"
)

// FieldMessage says a domain validation error in the user's language. The domain's message
// format is the catalog key ("v:" + format); an error argument is said by what it wraps.
func (l Localizer) FieldMessage(fe provisioning.FieldError) string {
	if fe.Format == "%v" && len(fe.Args) == 1 {
		if err, ok := fe.Args[0].(error); ok {
			for _, known := range []struct {
				err error
				key string
			}{
				{personnummer.ErrChecksum, "v:pnr.checksum"},
				{personnummer.ErrDate, "v:pnr.date"},
				{personnummer.ErrFormat, "v:pnr.format"},
				{provisioning.ErrNotADate, "v:date"},
				{provisioning.ErrDateOutOfRange, "v:date.range"},
			} {
				if errors.Is(err, known.err) {
					return l.T(known.key)
				}
			}
		}
	}
	if _, ok := messages["v:"+fe.Format]; ok {
		return fmt.Sprintf(l.T("v:"+fe.Format), fe.Args...)
	}
	return fe.Message
}
