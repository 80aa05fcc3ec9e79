package provisioning_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// awaitingTerms submits and approves a request for Treserva (which needs signed terms) and
// returns it with the token of the link mailed to the person, read from the outbox.
func awaitingTerms(t *testing.T, app *testapp.App) (provisioning.Submitted, string) {
	t.Helper()
	in := grantInput("19500118-2046", "Åsa", "Lind", provisioning.ItemInput{System: "treserva", Role: "utforare"})
	in.Person.Email = "asa@example.org"
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Service.Approve(ctx, app.Actors["manager"], sub.ID); err != nil {
		t.Fatal(err)
	}
	var body string
	for deadline := time.Now().Add(10 * time.Second); body == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		app.Pool.QueryRow(ctx, "SELECT body FROM mail_outbox").Scan(&body)
	}
	m := signLink.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link in the outbox: %q", body)
	}
	return sub, m[1]
}

// evidence is what BankID returns for a signature by pnr: like BankID's, its XML and the
// device's UHI hold the personnummer in clear.
func evidence(pnr string) provisioning.Evidence {
	return provisioning.Evidence{PersonalNumber: pnr, Name: "Åsa Lind", Signature: []byte(signatureXML(pnr)),
		OCSPResponse: []byte("ocsp"), DeviceIP: "192.0.2.7", DeviceUHI: "uhi-" + pnr, Simulated: true}
}

func signatureXML(pnr string) string {
	return `<Signature><KeyInfo><X509Data><X509SubjectName>serialNumber=` + pnr + `</X509SubjectName></X509Data></KeyInfo></Signature>`
}

func TestSigningTheTermsLetsTheRequestGoOn(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	sub, token := awaitingTerms(t, app)
	view, err := app.Service.Terms(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if view.Number != sub.Number || view.GivenName != "Åsa" || len(view.Items) != 1 || view.Items[0].Version != 1 ||
		!strings.Contains(view.Text, "## Treserva (villkor version 1)") || !strings.Contains(view.Text, "informationssäkerhet") {
		t.Fatalf("terms view %+v", view)
	}
	pnr, err := app.Service.SignerPersonnummer(ctx, token)
	if err != nil || pnr != "195001182046" {
		t.Fatalf("signer = %q, %v", pnr, err)
	}
	var sentText, sentHidden string
	starter := func(ref string) provisioning.SignStart {
		return func(_ context.Context, pnr, visible, hidden string) (provisioning.SignOrder, error) {
			if pnr != "195001182046" {
				t.Fatalf("the order requires %s", pnr)
			}
			sentText, sentHidden = visible, hidden
			return provisioning.SignOrder{OrderRef: ref, AutoStartToken: "a", QRStartToken: "q", QRStartSecret: "s", AnsweredAt: time.Now()}, nil
		}
	}
	if _, err := app.Service.StartSigning(ctx, token, starter("o-1")); err != nil {
		t.Fatal(err)
	}
	if sentText != view.Text || !strings.Contains(sentHidden, "sha256:") {
		t.Fatalf("sent %q / %q", sentText, sentHidden)
	}
	// A second start while the first runs makes no order (BankID would cancel both).
	if _, err := app.Service.StartSigning(ctx, token, starter("o-x")); !errors.Is(err, provisioning.ErrOrderRunning) {
		t.Fatalf("a second start while one runs: %v", err)
	}
	if got, err := app.Service.SigningOrder(ctx, token); err != nil || got.QRStartSecret != "s" {
		t.Fatalf("signing order %+v, %v", got, err)
	}
	now := time.Now()
	first, _ := app.Service.ClaimCollect(ctx, "o-1", now, 2*time.Second)
	second, _ := app.Service.ClaimCollect(ctx, "o-1", now.Add(time.Second), 2*time.Second)
	third, _ := app.Service.ClaimCollect(ctx, "o-1", now.Add(2*time.Second), 2*time.Second)
	if !first || second || !third {
		t.Fatalf("collect claims %v, %v, %v: want one per 2 s", first, second, third)
	}

	// Another person's signature is refused and the request keeps waiting.
	if err := app.Service.CompleteSigning(ctx, token, "o-1", evidence("198501139995")); !errors.Is(err, provisioning.ErrSignerMismatch) {
		t.Fatalf("another signer: %v", err)
	}
	if v, _ := app.Service.Request(ctx, app.Actors["it-handler"], sub.ID); v.Status != provisioning.StatusAwaitingUser {
		t.Fatalf("after a wrong signer the request is %s", v.Status)
	}
	// The catalog changes while the person signs: the evidence keeps what was sent.
	if _, err := app.Service.StartSigning(ctx, token, starter("o-2")); err != nil {
		t.Fatal(err)
	}
	app.Pool.Exec(ctx, "INSERT INTO system_terms (system_id, version, text) VALUES ('treserva', 2, 'Nya villkor')")
	if err := app.Service.CompleteSigning(ctx, token, "o-2", evidence("195001182046")); err != nil {
		t.Fatal(err)
	}
	var kept string
	app.Pool.QueryRow(ctx, "SELECT signed_text FROM terms_signatures").Scan(&kept)
	if kept != sentText {
		t.Fatalf("the evidence holds %q, not the text sent", kept)
	}
	if _, err := app.Service.Terms(ctx, token); !errors.Is(err, provisioning.ErrLinkUsed) {
		t.Fatalf("the used link: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := app.Service.Request(ctx, app.Actors["it-handler"], sub.ID)
		if v.Status == provisioning.StatusCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the signed request is %s", v.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sigs, _ := app.Service.Signatures(ctx, app.Actors["it-handler"], sub.ID)
	if len(sigs) != 1 || !sigs[0].Simulated || sigs[0].SignedTextSHA256 == "" {
		t.Fatalf("evidence %+v", sigs)
	}
	if _, err := app.Pool.Exec(ctx, "UPDATE terms_signatures SET signer_name = 'x'"); err == nil {
		t.Fatal("the evidence could be changed")
	}
	if _, err := app.Pool.Exec(ctx, "DELETE FROM terms_signatures"); err == nil {
		t.Fatal("the evidence could be deleted")
	}
	if _, err := app.Pool.Exec(ctx, "TRUNCATE terms_signatures"); err == nil {
		t.Fatal("the evidence could be truncated")
	}
	if data, err := app.Service.SignatureFile(ctx, app.Actors["it-handler"], sigs[0].ID, "signature"); err != nil || string(data) != signatureXML("195001182046") {
		t.Fatalf("signature file %q, %v", data, err)
	}
	if _, err := app.Service.SignatureFile(ctx, app.Actors["requester"], sigs[0].ID, "signature"); !errors.Is(err, provisioning.ErrForbidden) {
		t.Fatalf("a requester downloading the evidence: %v", err)
	}
}

func TestAnExpiredOrUnknownLink(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	_, token := awaitingTerms(t, app)
	app.Clock.Advance(15 * 24 * time.Hour)
	if _, err := app.Service.Terms(ctx, token); !errors.Is(err, provisioning.ErrLinkExpired) {
		t.Fatalf("a link after 15 days: %v", err)
	}
	if _, err := app.Service.Terms(ctx, "not-a-token"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Fatalf("an unknown token: %v", err)
	}
}

// The signature XML, the OCSP response and the device are sealed at rest: the row holds
// neither the personnummer nor the device's address in any column, and IT's download is the
// exact XML BankID returned. Rows written before the evidence was sealed stay readable.
func TestEvidenceIsSealedAtRest(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	sub, token := awaitingTerms(t, app)
	if _, err := app.Service.StartSigning(ctx, token, func(context.Context, string, string, string) (provisioning.SignOrder, error) {
		return provisioning.SignOrder{OrderRef: "o-1", AutoStartToken: "a", QRStartToken: "q", QRStartSecret: "s", AnsweredAt: time.Now()}, nil
	}); err != nil {
		t.Fatal(err)
	}
	ev := evidence("195001182046")
	if err := app.Service.CompleteSigning(ctx, token, "o-1", ev); err != nil {
		t.Fatal(err)
	}
	if found := app.InClear(t, "terms_signatures", "5001182046", "500118-2046", "192.0.2.7", "ocsp"); len(found) > 0 {
		t.Fatalf("the evidence is kept in clear: %v", found)
	}
	it := app.Actors["it-handler"]
	sigs, err := app.Service.Signatures(ctx, it, sub.ID)
	if err != nil || len(sigs) != 1 || sigs[0].DeviceIP != "192.0.2.7" || sigs[0].OrderRef != "o-1" {
		t.Fatalf("IT's view of the evidence: %+v, %v", sigs, err)
	}
	for which, want := range map[string][]byte{"signature": ev.Signature, "ocsp": ev.OCSPResponse} {
		if data, err := app.Service.SignatureFile(ctx, it, sigs[0].ID, which); err != nil || !bytes.Equal(data, want) {
			t.Fatalf("IT's download of the %s: %q, %v; want %q", which, data, err, want)
		}
	}
	// A row from before migration 015 holds its evidence in clear, and is read from there.
	if _, err := app.Pool.Exec(ctx, `INSERT INTO terms_signatures (request_id, order_ref, personnummer_enc, signer_name,
			signature, ocsp_response, device_ip, device_uhi, signed_text, signed_text_sha256, terms_versions, simulated, signed_at)
		SELECT request_id, 'o-old', personnummer_enc, signer_name, '<Signature>old</Signature>', 'old ocsp', '198.51.100.1', '',
			signed_text, signed_text_sha256, terms_versions, simulated, signed_at - interval '1 day' FROM terms_signatures`); err != nil {
		t.Fatal(err)
	}
	sigs, err = app.Service.Signatures(ctx, it, sub.ID)
	if err != nil || len(sigs) != 2 || sigs[0].OrderRef != "o-old" || sigs[0].DeviceIP != "198.51.100.1" {
		t.Fatalf("the evidence with an older clear row: %+v, %v", sigs, err)
	}
	if data, err := app.Service.SignatureFile(ctx, it, sigs[0].ID, "signature"); err != nil || string(data) != "<Signature>old</Signature>" {
		t.Fatalf("the older row's signature: %q, %v", data, err)
	}
	// New rows cannot hold the evidence in clear beside the sealed document.
	if _, err := app.Pool.Exec(ctx, `INSERT INTO terms_signatures (request_id, order_ref, personnummer_enc, signer_name,
			evidence_sealed, device_ip, signed_text, signed_text_sha256, terms_versions, simulated, signed_at)
		SELECT request_id, 'o-both', personnummer_enc, signer_name, evidence_sealed, '192.0.2.7', signed_text,
			signed_text_sha256, terms_versions, simulated, signed_at FROM terms_signatures WHERE order_ref = 'o-1'`); err == nil {
		t.Fatal("a row with the evidence both sealed and in clear was stored")
	}
	// A sealed document copied into another row does not open there.
	if _, err := app.Pool.Exec(ctx, `INSERT INTO terms_signatures (request_id, order_ref, personnummer_enc, signer_name,
			evidence_sealed, signed_text, signed_text_sha256, terms_versions, simulated, signed_at)
		SELECT request_id, 'o-copy', personnummer_enc, signer_name, evidence_sealed, signed_text, signed_text_sha256,
			terms_versions, simulated, signed_at + interval '1 second' FROM terms_signatures WHERE order_ref = 'o-1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Service.Signatures(ctx, it, sub.ID); err == nil {
		t.Fatal("evidence sealed for one order opened in another's row")
	}
}
