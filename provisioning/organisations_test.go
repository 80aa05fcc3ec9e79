package provisioning_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

func ansvarskoder(units []provisioning.UnitRef) []string {
	codes := make([]string, len(units))
	for i, u := range units {
		codes[i] = u.Ansvarskod
	}
	slices.Sort(codes)
	return codes
}

func subjects(approvers []provisioning.Approver) []string {
	out := make([]string, len(approvers))
	for i, a := range approvers {
		out[i] = a.Subject
	}
	slices.Sort(out)
	return out
}

// Olle manages 9110 of Omsorgsbolaget AB (9100, external): he sees and names only its units
// and its managers, and naming another organisation's reads as naming nothing at all.
// Rolf, of the municipality, sees everything as before.
func TestAnExternalProvidersManagerSeesOnlyTheirOrganisation(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	s := app.Service
	olle, rolf := app.Actors["omsorgsbolaget-chef"], app.Actors["requester"]

	for q, want := range map[string][]string{"": {"9100", "9110"}, "5110": {}, "hemtjänst": {"9110"}, "9": {"9100", "9110"}} {
		got, err := s.SearchUnits(ctx, olle, q, 0)
		if err != nil || !slices.Equal(ansvarskoder(got), want) {
			t.Errorf("Olle's unit search %q = %v, %v; want %v", q, ansvarskoder(got), err, want)
		}
	}
	if got, _ := s.SearchUnits(ctx, rolf, "", 0); len(got) != 7 || !slices.Contains(ansvarskoder(got), "9110") {
		t.Errorf("Rolf's unit search = %v; want all seven units of both organisations", ansvarskoder(got))
	}
	if got, _ := s.Approvers(ctx, olle, ""); !slices.Equal(subjects(got), []string{"omsorgsbolaget-chef"}) {
		t.Errorf("Olle's approvers = %v; want only Omsorgsbolaget's manager", subjects(got))
	}
	if got, _ := s.Approvers(ctx, rolf, ""); !slices.Contains(subjects(got), "manager") || !slices.Contains(subjects(got), "omsorgsbolaget-chef") {
		t.Errorf("Rolf's approvers = %v; want every manager", subjects(got))
	}

	requests := func() int {
		var n int
		app.Pool.QueryRow(ctx, "SELECT count(*) FROM requests").Scan(&n)
		return n
	}
	// refusal submits as Olle and returns the format of the field's error.
	refusal := func(field string, change func(*provisioning.SubmitInput)) string {
		t.Helper()
		in := grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"})
		in.Unit, in.Approver = "9110", "omsorgsbolaget-chef"
		change(&in)
		_, err := s.Submit(ctx, olle, in)
		var ve *provisioning.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("Olle's request: %v; want a field error on %s", err, field)
		}
		for _, fe := range ve.Errors {
			if fe.Field == field {
				return fe.Format
			}
		}
		t.Fatalf("Olle's request: %v; want a field error on %s", err, field)
		return ""
	}
	before := requests()
	for _, tc := range []struct{ field, other, nobody string }{
		{"unit", "5110", "0000"},
		{"items[0].unit", "5110", "0000"},
		{"approver", "manager", "nobody"},
		{"approver", "maria.chef@example.org", "nobody@example.org"},
	} {
		set := func(value string) func(*provisioning.SubmitInput) {
			return func(in *provisioning.SubmitInput) {
				switch tc.field {
				case "unit":
					in.Unit = value
				case "items[0].unit":
					in.Items[0].Unit = value
				default:
					in.Approver = value
				}
			}
		}
		if other, nobody := refusal(tc.field, set(tc.other)), refusal(tc.field, set(tc.nobody)); other != nobody {
			t.Errorf("%s %q is refused with %q, not as one that does not exist (%q)", tc.field, tc.other, other, nobody)
		}
	}
	if n := requests(); n != before {
		t.Fatalf("%d requests stored from refused input", n-before)
	}

	// Within his own organisation Olle applies, and attests himself as its manager.
	in := grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"})
	in.Unit, in.Approver = "9110", "omsorgsbolaget-chef"
	if _, err := s.Submit(ctx, olle, in); err != nil {
		t.Fatalf("Olle applying within his organisation: %v", err)
	}
	// Rolf is not confined: he may name the provider's units and manager, as before.
	if _, err := s.Submit(ctx, rolf, in); err != nil {
		t.Fatalf("Rolf applying for a unit of the provider: %v", err)
	}
}

// The approver field takes a manager by user id, e-mail or name, and the picker offers, for
// a unit, the managers who can attest it. A name two managers share is refused, and no
// message names a manager by an id.
func TestApproverByNameEmailOrUserID(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	s := app.Service
	rolf := app.Actors["requester"]

	if got, _ := s.Approvers(ctx, rolf, "5110"); !slices.Equal(subjects(got), []string{"manager"}) {
		t.Errorf("the approvers of Hemtjänst Norr = %v; want Maria only", subjects(got))
	}
	if got, _ := s.Approvers(ctx, rolf, "5120"); !slices.Equal(subjects(got), []string{"manager-soder"}) {
		t.Errorf("the approvers of Hemtjänst Söder = %v; want Sven only", subjects(got))
	}

	pnrs := testNumbers(4)
	for i, ref := range []string{"manager", "MARIA.CHEF@example.org", "Maria Chef", "  maria chef "} {
		in := grantInput(pnrs[i], "Anna", "Berg")
		in.Approver = ref
		sub, err := s.Submit(ctx, rolf, in)
		if err != nil {
			t.Errorf("approver %q: %v", ref, err)
			continue
		}
		var approver string
		app.Pool.QueryRow(ctx, "SELECT p.subject FROM requests r JOIN principals p ON p.id = r.approver_id WHERE r.id = $1", sub.ID).Scan(&approver)
		if approver != "manager" {
			t.Errorf("approver %q became %q", ref, approver)
		}
	}

	// A second Maria Chef, manager of Söder: the name no longer says who.
	if _, err := app.Pool.Exec(ctx, "UPDATE principals SET display_name = 'Maria Chef' WHERE subject = 'manager-soder'"); err != nil {
		t.Fatal(err)
	}
	in := grantInput(testNumbers(5)[4], "Anna", "Berg")
	in.Approver = "Maria Chef"
	var ve *provisioning.ValidationError
	if _, err := s.Submit(ctx, rolf, in); !errors.As(err, &ve) || !strings.Contains(ve.Error(), "several managers") {
		t.Fatalf("a name two managers share: %v", err)
	}

	// Sven cannot attest Hemtjänst Norr: the refusal names him, not his id.
	sven := app.Actors["manager-soder"]
	in.Approver = sven.ID
	if _, err := s.Submit(ctx, sven, in); !errors.As(err, &ve) || strings.Contains(ve.Error(), sven.ID) || !strings.Contains(ve.Error(), "Maria Chef") {
		t.Fatalf("self-attestation without rights: %v", err)
	}
}
