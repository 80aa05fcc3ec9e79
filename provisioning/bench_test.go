package provisioning_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/personnummer"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// testNumbers makes valid personnummer (not real people: born 1900–1901, numbers from 900 up)
// so that a benchmark can make as many persons as it needs.
func testNumbers(n int) []string {
	out := make([]string, 0, n)
	day := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	for len(out) < n {
		for serial := 900; serial < 1000 && len(out) < n; serial++ {
			ten := fmt.Sprintf("%s%03d", day.Format("060102"), serial)
			for c := range 10 {
				if p, err := personnummer.Parse(fmt.Sprintf("19%s%d", ten, c), time.Now()); err == nil {
					out = append(out, p.String())
					break
				}
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return out
}

// BenchmarkProvision compares the provision job body (account + one group, with its
// reservation, receipts and audit events) against ldapadd + ldapmodify of the same entries on
// the same slapd, and reports the ratio.
func BenchmarkProvision(b *testing.B) {
	b.Run("vs_ldapadd", benchmarkProvision)
}

func benchmarkProvision(b *testing.B) {
	const perRound = 50
	app := testapp.New(b, testapp.Options{NoJobs: true})
	numbers := testNumbers(perRound * (b.N + 1))
	var ours, raw time.Duration
	for round := range b.N {
		var grants []string
		for i := range perRound {
			in := grantInput(numbers[round*perRound+i], "Bench", fmt.Sprintf("Person%d-%d", round, i), provisioning.ItemInput{System: "meddix"})
			sub, err := app.Service.Submit(ctx, app.Actors["manager"], withApprover(in, "manager"))
			if err != nil {
				b.Fatal(err)
			}
			grants = append(grants, grantIDs(b, app, sub.ID)...)
		}
		start := time.Now()
		for _, id := range grants {
			if err := app.Service.ConvergeGrant(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
		ours += time.Since(start)

		ldif, modify := rawLDIF(app, round, perRound)
		start = time.Now()
		ldapTool(b, app, "ldapadd", ldif)
		ldapTool(b, app, "ldapmodify", modify)
		raw += time.Since(start)
	}
	accounts := float64(b.N * perRound)
	b.ReportMetric(float64(ours.Microseconds())/1000/accounts, "behorig_ms/op")
	b.ReportMetric(float64(raw.Microseconds())/1000/accounts, "raw_ms/op")
	b.ReportMetric(0.8, "target")
}

func withApprover(in provisioning.SubmitInput, approver string) provisioning.SubmitInput {
	in.Approver = approver
	return in
}

func rawLDIF(app *testapp.App, round, n int) (add, modify string) {
	var a, m bytes.Buffer
	fmt.Fprintf(&a, "dn: cn=raw-%d,%s\nobjectClass: groupOfNames\ncn: raw-%d\nmember: cn=placeholder\n\n", round, app.Slapd.GroupsDN, round)
	fmt.Fprintf(&m, "dn: cn=raw-%d,%s\nchangetype: modify\nadd: member\n", round, app.Slapd.GroupsDN)
	for i := range n {
		dn := fmt.Sprintf("uid=raw%d-%d,%s", round, i, app.Slapd.PeopleDN)
		fmt.Fprintf(&a, "dn: %s\nobjectClass: inetOrgPerson\nuid: raw%d-%d\ncn: Raw Person\nsn: Person\ngivenName: Raw\nemployeeType: employee\n\n", dn, round, i)
		fmt.Fprintf(&m, "member: %s\n", dn)
	}
	return a.String(), m.String()
}

func ldapTool(b *testing.B, app *testapp.App, tool, input string) {
	cmd := exec.Command(tool, "-x", "-H", app.Slapd.URL(), "-D", app.Slapd.AdminDN, "-w", app.Slapd.AdminPassword)
	cmd.Stdin = bytes.NewBufferString(input)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s: %v: %s", tool, err, out)
	}
}
