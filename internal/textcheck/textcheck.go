// Package textcheck is the one rule for text behorig takes from a client: it must be valid
// UTF-8 and hold no character that cannot be seen but changes what is stored or shown.
// NUL breaks PostgreSQL text, control characters break LDAP values, logs and mail headers,
// and bidi overrides and zero-width characters make a name look like another one (or hide
// part of it) on every page and in the directory. Both adapters and the domain ask here.
package textcheck

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidUTF8 is text that is not valid UTF-8.
var ErrInvalidUTF8 = errors.New("is not valid UTF-8")

// ForbiddenError names the first character of a text that is not allowed.
type ForbiddenError struct {
	Rune rune
}

// Format is the message without its argument, for adapters that translate it.
const Format = "contains %U, an invisible or control character that is not allowed here"

func (e *ForbiddenError) Error() string { return fmt.Sprintf(Format, e.Rune) }

// Line checks a single-line value: a name, a username, an e-mail address, a code.
func Line(s string) error { return check(s, false) }

// Text checks a value that may span lines, such as a reason or a comment: tab, newline
// and carriage return are allowed too.
func Text(s string) error { return check(s, true) }

func check(s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return ErrInvalidUTF8
	}
	for _, r := range s {
		if !Allowed(r, multiline) {
			return &ForbiddenError{Rune: r}
		}
	}
	return nil
}

// Allowed tells whether a character may be in a value; multiline values may also hold
// tab and line breaks.
func Allowed(r rune, multiline bool) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x2028 || r == 0x2029: // and the line and paragraph separators
		return multiline
	case r < 0x20 || r == 0x7f: // C0 controls and DEL
		return false
	case r >= 0x80 && r <= 0x9f: // C1 controls
		return false
	case r == utf8.RuneError:
		// Only invalid UTF-8 decodes to it here, and Go's JSON decoder puts it where the
		// bytes were invalid; a real U+FFFD says the same: something was lost on the way.
		return false
	}
	return !invisible(r)
}

// invisible are the characters that show nothing (or a blank) yet change what is stored:
// every format character (Unicode category Cf: bidi controls, zero-width characters, the
// soft hyphen, invisible operators, tag characters, the Mongolian vowel separator), the
// variation selectors, and the Hangul fillers, which render as blanks.
func invisible(r rune) bool {
	switch {
	case unicode.Is(unicode.Cf, r):
		return true
	case unicode.Is(unicode.Variation_Selector, r):
		return true
	case r == 0x115f || r == 0x1160 || r == 0x3164 || r == 0xffa0: // Hangul fillers
		return true
	}
	return false
}
