package provisioning_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// The mobile number of a remote-access order is stored as E.164 however a Swedish user
// writes it; what cannot receive a code is refused.
func TestNormalizeMobile(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"070-123 45 67", "+46701234567"},
		{"0701234567", "+46701234567"},
		{"+46 70 123 45 67", "+46701234567"},
		{"+46 (0)70-123 45 67", "+46701234567"},
		{"0046701234567", "+46701234567"},
		{"46701234567", "+46701234567"},
		{"073.987.65.43", "+46739876543"},
		{"+49 151 12345678", "+4915112345678"},
		{"0047 412 34 567", "+4741234567"},
	} {
		if got, err := provisioning.NormalizeMobile(c.in); err != nil || got != c.want {
			t.Errorf("NormalizeMobile(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "08-123 456 78", "031-123456", "070-123 45", "070 123 45 678", "+46 8 123 456 78",
		"0701234567x", "1234567", "+0701234567", "ring mig"} {
		if got, err := provisioning.NormalizeMobile(bad); err == nil {
			t.Errorf("NormalizeMobile(%q) = %q, want an error", bad, got)
		}
	}
	if got := provisioning.MaskMobile("+46701234567"); got != "+46 70 *** ** 67" {
		t.Errorf("MaskMobile = %q", got)
	}
}

// remoteOrder is Norrköping's "Beställning Fjärråtkomst" filled in for a new person.
func remoteOrder(pnr, given, surname, factor string) provisioning.SubmitInput {
	return provisioning.SubmitInput{Kind: provisioning.KindRemoteAccess,
		Person: provisioning.PersonInput{Personnummer: pnr, GivenName: given, Surname: surname, EmployeeType: "employee",
			Mobile: "070-123 45 67"},
		Unit: "5110", Approver: "manager", RemoteFactor: factor,
		Description: "Dokumentation i Treserva hemifrån under jourveckor",
		Attachments: []provisioning.Upload{{Name: "intyg.pdf", Data: certificatePDF}}}
}

type factorRow struct {
	id, kind, mobile, grant string
	revoked                 bool
}

func factorsOf(t *testing.T, app *testapp.App, personID string) []factorRow {
	t.Helper()
	rows, err := app.Pool.Query(ctx, `SELECT id::text, kind, mobile, grant_id::text, revoked_at IS NOT NULL
		FROM authenticators WHERE person_id = $1 ORDER BY created_at`, personID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []factorRow
	for rows.Next() {
		var f factorRow
		if err := rows.Scan(&f.id, &f.kind, &f.mobile, &f.grant, &f.revoked); err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// Bad input is refused with every field named and nothing stored; remote access cannot be
// slipped into an ordinary request, where no second factor would be chosen.
func TestRemoteAccessOrderValidation(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	in := remoteOrder("19850113-9995", "Karin", "Ek", "")
	in.Description, in.Person.Mobile = " ", "08-123 456 78"
	_, err := app.Service.Submit(ctx, app.Actors["requester"], in)
	var ve *provisioning.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("submit: %v, want a validation error", err)
	}
	var fields []string
	for _, fe := range ve.Errors {
		fields = append(fields, fe.Field)
	}
	for _, want := range []string{"description", "person.mobile", "remoteFactor"} {
		if !slices.Contains(fields, want) {
			t.Errorf("no error for %s among %v", want, ve.Errors)
		}
	}
	in = remoteOrder("19850113-9995", "Karin", "Ek", "totp")
	if _, err := app.Service.Submit(ctx, app.Actors["requester"], in); !errors.As(err, &ve) || ve.Errors[0].Field != "remoteFactor" {
		t.Errorf("factor totp: %v", err)
	}
	grant := grantInput("19850113-9995", "Karin", "Ek", provisioning.ItemInput{System: "fjarratkomst"})
	if _, err := app.Service.Submit(ctx, app.Actors["requester"], grant); !errors.As(err, &ve) || ve.Errors[0].Field != "items[0].system" {
		t.Errorf("remote access in a grant request: %v", err)
	}
	var requests int
	if err := app.Pool.QueryRow(ctx, "SELECT count(*) FROM requests").Scan(&requests); err != nil || requests != 0 {
		t.Fatalf("%d requests stored (%v), want none", requests, err)
	}
	// The request form's catalog leaves remote access out; the order's list has it with its price.
	catalog, err := app.Service.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(catalog, func(s provisioning.SystemView) bool { return s.ID == "fjarratkomst" }) {
		t.Error("the request form's catalog offers remote access")
	}
	remote, err := app.Service.RemoteAccessSystems(ctx)
	if err != nil || len(remote) != 1 || remote[0].MonthlyPriceSEK != 130 || !remote[0].NeedsCertificate {
		t.Fatalf("remote-access systems %+v, %v", remote, err)
	}
}

// An approved order with a verified certificate makes the grant and, in the same step, the
// sms factor with the order's number in E.164; ending remote access alone with a change
// request ("Uppsägning av: fjärråtkomst") revokes the factor at once and marks a handed-out
// YubiKey to be returned.
func TestRemoteAccessOrderFactorLifecycle(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	const pnr = "19850113-9995"
	sub := submitApproved(t, app, remoteOrder(pnr, "Karin", "Ek", provisioning.RemoteFactorSMS))
	v := app.WaitStatus(t, sub.ID, provisioning.StatusAwaitingCertificate)
	if v.Kind != provisioning.KindRemoteAccess || v.RemoteFactor != "sms" || v.PersonDetails == nil || v.PersonDetails.Mobile != "+46701234567" {
		t.Fatalf("the order reads %+v / %+v", v, v.PersonDetails)
	}
	if f := factorsOf(t, app, v.Person.ID); len(f) != 0 {
		t.Fatalf("factors before the certificate: %+v", f)
	}
	if _, err := app.Service.VerifyCertificate(ctx, app.Actors["it-handler"], sub.ID, v.Attachments[0].ID); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	p := personOf(t, app, sub.ID)
	grant := grantByWhat(t, p, "fjarratkomst", "", provisioning.GrantActive)
	if got := activeGroups(t, app, p); !slices.Equal(got, []string{"fjarratkomst"}) {
		t.Errorf("groups %v, want the remote-access group", got)
	}
	f := factorsOf(t, app, p.ID)
	if len(f) != 1 || f[0].kind != "sms" || f[0].mobile != "+46701234567" || f[0].grant != grant.ID || f[0].revoked {
		t.Fatalf("factors after approval: %+v", f)
	}
	if p.Mobile != "+46701234567" {
		t.Errorf("the person's mobile is %q", p.Mobile)
	}

	// IT handed out a YubiKey as well (H2's hand-out writes these rows).
	var keyID string
	if err := app.Pool.QueryRow(ctx, `INSERT INTO yubikeys (serial, public_id, private_id_enc, aes_key_enc, state, person_id)
		VALUES (5550001, 'ccccccbcgujh', '\x00', '\x00', 'handed_out', $1) RETURNING id::text`, p.ID).Scan(&keyID); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Pool.Exec(ctx, `INSERT INTO authenticators (person_id, grant_id, kind, yubikey_id) VALUES ($1, $2, 'yubikey', $3)`,
		p.ID, grant.ID, keyID); err != nil {
		t.Fatal(err)
	}

	end := changeInput(pnr, nil, provisioning.EndInput{Grant: grant.ID})
	ended := submitApproved(t, app, end)
	// At once, in the approval's transaction: no waiting for the directory.
	for _, f := range factorsOf(t, app, p.ID) {
		if !f.revoked {
			t.Errorf("factor %s (%s) still live after the change was approved", f.id, f.kind)
		}
	}
	var state string
	if err := app.Pool.QueryRow(ctx, "SELECT state FROM yubikeys WHERE id = $1", keyID).Scan(&state); err != nil || state != "to_be_returned" {
		t.Errorf("the YubiKey is %q (%v), want to_be_returned", state, err)
	}
	if auditCount(t, app, ended.ID, "remote_access.factors_revoked") != 1 {
		t.Error("the revocation of the factors is not in the change's history")
	}
	app.WaitStatus(t, ended.ID, provisioning.StatusCompleted)
	if got := activeGroups(t, app, personOf(t, app, sub.ID)); len(got) != 0 {
		t.Errorf("groups after the end: %v", got)
	}

	// A new order later gets a new factor; the revoked one stays revoked, as history.
	again := remoteOrder(pnr, "Karin", "Ek", provisioning.RemoteFactorSMS)
	again.Person.Mobile, again.Attachments = "+46 73 987 65 43", nil // the certificate is known now
	sub2 := submitApproved(t, app, again)
	app.WaitStatus(t, sub2.ID, provisioning.StatusCompleted)
	live := slices.DeleteFunc(factorsOf(t, app, p.ID), func(f factorRow) bool { return f.revoked })
	if len(live) != 1 || live[0].mobile != "+46739876543" {
		t.Fatalf("live factors after a new order: %+v", live)
	}
}

// A grant that ends by its valid-to date takes its factors with it when the revocation
// runs; a termination ends them with everything else.
func TestRemoteAccessEndsWithValidToAndTermination(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	in := remoteOrder("19500118-2046", "Åsa", "Lind", provisioning.RemoteFactorSMS)
	in.Person.EmployeeType, in.ValidTo = "consultant", time.Now().AddDate(0, 0, 3).Format("2006-01-02")
	first := submitApproved(t, app, in)
	v := app.WaitStatus(t, first.ID, provisioning.StatusAwaitingCertificate)
	if _, err := app.Service.VerifyCertificate(ctx, app.Actors["it-handler"], first.ID, v.Attachments[0].ID); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, first.ID, provisioning.StatusCompleted)
	app.Clock.Advance(5 * 24 * time.Hour)
	waitFactors(t, app, v.Person.ID, func(f []factorRow) bool { return len(f) == 1 && f[0].revoked })

	// Another person with remote access and a meddix grant, terminated today.
	in = remoteOrder("19850113-9995", "Karin", "Ek", provisioning.RemoteFactorSMS)
	sub := submitApproved(t, app, in)
	v = app.WaitStatus(t, sub.ID, provisioning.StatusAwaitingCertificate)
	if _, err := app.Service.VerifyCertificate(ctx, app.Actors["it-handler"], sub.ID, v.Attachments[0].ID); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	term := submitApproved(t, app, provisioning.SubmitInput{Kind: provisioning.KindTerminate,
		Person: provisioning.PersonInput{ID: v.Person.ID}, Unit: "5110", Approver: "manager"})
	if f := factorsOf(t, app, v.Person.ID); len(f) != 1 || !f[0].revoked {
		t.Fatalf("factors after the termination was approved: %+v", f)
	}
	app.WaitStatus(t, term.ID, provisioning.StatusCompleted)
}

func waitFactors(t *testing.T, app *testapp.App, personID string, done func([]factorRow) bool) {
	t.Helper()
	var f []factorRow
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if f = factorsOf(t, app, personID); done(f) {
			return
		}
	}
	t.Fatalf("factors stayed %+v", f)
}

// An order whose certificate does not come within seven days is cancelled ("Makulerad") and
// leaves no factor behind: the factor is made with the grant, which never came. The clock
// is moved on, not waited for.
func TestRemoteAccessCancelledWithoutCertificateLeavesNoFactor(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	in := remoteOrder("19500118-2046", "Åsa", "Lind", provisioning.RemoteFactorSMS)
	in.Attachments = nil
	sub := submitApproved(t, app, in)
	v := app.WaitStatus(t, sub.ID, provisioning.StatusAwaitingCertificate)
	app.Clock.Advance(provisioning.CertificateDeadline + time.Minute)
	cancelled := app.WaitStatus(t, sub.ID, provisioning.StatusCancelled)
	if cancelled.RemoteFactor != "sms" {
		t.Errorf("the cancelled order says factor %q", cancelled.RemoteFactor)
	}
	if f := factorsOf(t, app, v.Person.ID); len(f) != 0 {
		t.Fatalf("a cancelled order left factors: %+v", f)
	}
	var grants int
	if err := app.Pool.QueryRow(ctx, "SELECT count(*) FROM grants WHERE person_id = $1", v.Person.ID).Scan(&grants); err != nil || grants != 0 {
		t.Fatalf("%d grants (%v) after the cancellation", grants, err)
	}
}

// A system stops or starts being remote access only while nothing of it is open: a
// remote-access grant has second factors and a login checks it, an ordinary one has neither,
// so changing the flag under open grants would leave factors nobody can use, or remote access
// nobody ordered. Once the grants have ended, the flag may change.
func TestRemoteAccessFlagChangesOnlyWithoutOpenGrants(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	admin := provisioning.Actor{ID: app.Actors["it-handler"].ID, Subject: "it-handler",
		Roles: []provisioning.Role{provisioning.RoleITHandler, provisioning.RoleITAdmin}}
	system := func(id string) provisioning.SystemAdmin {
		t.Helper()
		systems, err := app.Service.Systems(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range systems {
			if s.ID == id {
				return s
			}
		}
		t.Fatalf("no system %s", id)
		return provisioning.SystemAdmin{}
	}
	refused := func(s provisioning.SystemAdmin) {
		t.Helper()
		var ve *provisioning.ValidationError
		if err := app.Service.SaveSystem(ctx, admin, s, false); !errors.As(err, &ve) || ve.Errors[0].Field != "remoteAccess" {
			t.Fatalf("flag of %s set to %v under open grants: %v", s.ID, s.RemoteAccess, err)
		}
		if system(s.ID).RemoteAccess == s.RemoteAccess {
			t.Fatalf("the refused change of %s was saved", s.ID)
		}
	}

	order := remoteOrder("19850113-9995", "Karin", "Ek", provisioning.RemoteFactorSMS)
	order.Attachments = nil // it waits for the certificate, and is cancelled without it
	sub := submitApproved(t, app, order)
	app.WaitStatus(t, sub.ID, provisioning.StatusAwaitingCertificate)
	remote := system("fjarratkomst")
	remote.RemoteAccess = false
	refused(remote)
	// An ordinary system with an open request does not become remote access either.
	submitApproved(t, app, grantInput("19500118-2046", "Åsa", "Lind", provisioning.ItemInput{System: "meddix"}))
	meddix := system("meddix")
	meddix.RemoteAccess = true
	refused(meddix)

	// The name and price still change under open grants.
	remote = system("fjarratkomst")
	remote.MonthlyPriceSEK = 140
	if err := app.Service.SaveSystem(ctx, admin, remote, false); err != nil {
		t.Fatalf("price change: %v", err)
	}

	app.Clock.Advance(provisioning.CertificateDeadline + time.Minute)
	app.WaitStatus(t, sub.ID, provisioning.StatusCancelled)
	remote.RemoteAccess = false
	if err := app.Service.SaveSystem(ctx, admin, remote, false); err != nil {
		t.Fatalf("flag change once nothing is open: %v", err)
	}
}
