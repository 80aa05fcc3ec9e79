package textcheck

import (
	"errors"
	"testing"
)

func TestLineAndText(t *testing.T) {
	for _, c := range []struct {
		in         string
		line, text bool // allowed as a single line, as text
	}{
		{"Åsa-Märta O'Brien", true, true},
		{"محمد علي", true, true},
		{"李 王", true, true},
		{"Zoë 😀", true, true},
		{"rad ett\nrad två\r\n\tindrag", false, true},
		{"a\u2028b", false, true},
		{"a\x00b", false, false},
		{"a\x1bb", false, false},
		{"a\x7fb", false, false},
		{"a\u0085b", false, false},
		{"a\u009fb", false, false},
		{"evil\u202egnp.exe", false, false},
		{"a\u202ab", false, false},
		{"a\u2066b", false, false},
		{"a\u2069b", false, false},
		{"a\u200eb", false, false},
		{"a\u200fb", false, false},
		{"a\u061cb", false, false},
		{"An\u200bna", false, false},
		{"a\u200cb", false, false},
		{"a\u200db", false, false},
		{"a\u2060b", false, false},
		{"\ufeffAnna", false, false},
		{"a\ufffdb", false, false},
		{"An\u00adna", false, false},     // soft hyphen
		{"Be\u3164rg", false, false},     // Hangul filler
		{"Anna\U000e0041", false, false}, // tag character
		{"a\u2064b", false, false},       // invisible plus
		{"a\u180eb", false, false},       // Mongolian vowel separator
		{"a\ufe0fb", false, false},       // variation selector
		{"a\xffb", false, false},
		{"\xc3", false, false},
	} {
		if got := Line(c.in) == nil; got != c.line {
			t.Errorf("Line(%q) allowed = %v, want %v", c.in, got, c.line)
		}
		if got := Text(c.in) == nil; got != c.text {
			t.Errorf("Text(%q) allowed = %v, want %v", c.in, got, c.text)
		}
	}
}

func TestErrorsNameTheCharacter(t *testing.T) {
	if err := Line("a\xffb"); !errors.Is(err, ErrInvalidUTF8) {
		t.Errorf("invalid UTF-8: %v", err)
	}
	var fe *ForbiddenError
	if err := Line("evil\u202egnp"); !errors.As(err, &fe) || fe.Rune != 0x202e || err.Error() != "contains U+202E, an invisible or control character that is not allowed here" {
		t.Errorf("RLO: %v", err)
	}
}
