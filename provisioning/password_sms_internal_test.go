package provisioning

import "testing"

func TestSwedishMobileTakesTheFormsPeopleWrite(t *testing.T) {
	for in, want := range map[string]string{
		"0701740605":       "+46701740605",
		"070-174 06 05":    "+46701740605",
		"+46 70 174 06 05": "+46701740605",
		"+46701740605":     "+46701740605",
		"0046701740605":    "+46701740605",
		"46701740605":      "+46701740605",
		"(070) 174 06 05":  "+46701740605",
		"08-123 456 78":    "", // a landline gets no SMS
		"+4670174060":      "", // a digit short
		"+467017406055":    "", // a digit long
		"+45701740605":     "", // not Swedish
		"070 174 06 05 x":  "",
		"+46+701740605":    "",
		"":                 "",
	} {
		got, ok := swedishMobile(in)
		if got != want || ok != (want != "") {
			t.Errorf("swedishMobile(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
