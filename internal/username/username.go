// Package username makes login names for new accounts from people's names.
package username

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// MaxLen is the longest username: Active Directory's sAMAccountName holds 20 characters.
const MaxLen = 20

// special are Latin letters that Unicode decomposition does not bring down to ASCII:
// Nordic, Polish, Croatian, Icelandic, Maltese, Sami, Turkish and Azerbaijani letters.
var special = map[rune]string{
	'ø': "o", 'æ': "ae", 'ß': "ss", 'ł': "l", 'đ': "d", 'ð': "d", 'þ': "th", 'œ': "oe", 'ı': "i",
	'ħ': "h", 'ŧ': "t", 'ŋ': "n", 'ĸ': "k", 'ə': "e", 'ɛ': "e", 'ƒ': "f", 'ȼ': "c", 'ɨ': "i", 'ʉ': "u",
	'ǥ': "g", 'ʒ': "z",
}

// Base makes "givenname.surname" in lower-case ASCII: å, ä → a, ö → o, é → e, other Latin
// letters without their accents, ø → o, æ → ae, ß → ss and the like; hyphens inside a name and spaces between its parts become '-';
// everything else (apostrophes, parentheses, LDAP metacharacters) is dropped. Longer results
// are shortened to MaxLen, the given name first.
func Base(givenName, surname string) (string, error) {
	given, sur := part(givenName), part(surname)
	if given == "" || sur == "" {
		return "", fmt.Errorf("make a username from %q %q: no letters a–z left", givenName, surname)
	}
	for len(given)+1+len(sur) > MaxLen && len(given) > 1 {
		given = strings.TrimRight(given[:len(given)-1], "-")
	}
	if len(given)+1+len(sur) > MaxLen {
		sur = strings.TrimRight(sur[:MaxLen-len(given)-1], "-")
	}
	return given + "." + sur, nil
}

// part turns one name into [a-z0-9-] with single inner hyphens.
func part(name string) string {
	var b strings.Builder
	hyphen := false
	// NFKD, not NFD: it also takes apart ligatures and compatibility letters (ĳ, ǆ, ŀ, ﬁ,
	// full-width Latin) that NFD leaves whole.
	for _, r := range norm.NFKD.String(strings.ToLower(name)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
		case special[r] != "":
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteString(special[r])
		case r == '-' || unicode.IsSpace(r):
			hyphen = true
		}
		// Combining marks (the accents NFD split off) and all other characters are dropped.
	}
	return b.String()
}

// ErrBadCandidate is returned by Candidate for an empty base or a number below 1.
var ErrBadCandidate = errors.New("username candidate needs a base and n >= 1")

// Candidate is the n-th username to try for a base: the base itself, then base2, base3, …,
// with the base shortened so that the number still fits in MaxLen.
func Candidate(base string, n int) string {
	if n <= 1 {
		return base
	}
	suffix := strconv.Itoa(n)
	if len(base)+len(suffix) > MaxLen {
		base = strings.TrimRight(base[:MaxLen-len(suffix)], ".-")
	}
	return base + suffix
}
