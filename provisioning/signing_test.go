package provisioning_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/auth/bankid"
	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/internal/testenv"
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
	// The terms e-mail job's body, run here too for the tests that run no jobs; it mails once.
	var linkID string
	if err := app.Pool.QueryRow(ctx, "SELECT id::text FROM terms_links WHERE request_id = $1", sub.ID).Scan(&linkID); err != nil {
		t.Fatal(err)
	}
	if err := app.Service.SendTermsMail(ctx, linkID); err != nil {
		t.Fatal(err)
	}
	var body string
	for deadline := time.Now().Add(10 * time.Second); body == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		app.Pool.QueryRow(ctx, "SELECT body FROM mail_outbox WHERE message_id LIKE 'terms-%'").Scan(&body)
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

// pendingAt is the simulator's pending order with the ref.
func pendingAt(t *testing.T, sim *bankid.Simulator, ref string) bankid.PendingOrder {
	t.Helper()
	for _, o := range sim.Pending() {
		if o.OrderRef == ref {
			return o
		}
	}
	t.Fatalf("BankID has no pending order %s", ref)
	return bankid.PendingOrder{}
}

// signInApp plays the BankID app: pnr scans the order's QR code and signs.
func signInApp(t *testing.T, sim *bankid.Simulator, ref, pnr string) {
	t.Helper()
	if err := sim.ScanNow(ref); err != nil {
		t.Fatalf("scan: %v", err)
	}
	if _, err := sim.Show(ref, pnr); err != nil {
		t.Fatalf("show: %v", err)
	}
	if err := sim.Approve(ref); err != nil {
		t.Fatal(err)
	}
}

// The domain owns the whole order: it starts it at BankID with the link's person and terms,
// collects it (here the test runs the watch job's body itself) and keeps the signature.
func TestSigningTheTermsLetsTheRequestGoOn(t *testing.T) {
	sim, client := testenv.BankID(t, 0)
	app := testapp.New(t, testapp.Options{BankID: client, NoJobs: true})
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
	first, err := app.Service.StartSigning(ctx, token, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	sent := pendingAt(t, sim, first.OrderRef)
	if sent.RequiredPersonalNumber != "195001182046" || sent.Visible != view.Text || !strings.Contains(sent.NonVisible, "sha256:") {
		t.Fatalf("BankID was sent %+v", sent)
	}
	// A second start while the first runs makes no order (BankID would cancel both).
	if _, err := app.Service.StartSigning(ctx, token, "192.0.2.7"); !errors.Is(err, provisioning.ErrOrderRunning) {
		t.Fatalf("a second start while one runs: %v", err)
	}
	if n := len(sim.Pending()); n != 1 {
		t.Fatalf("%d orders at BankID after two starts", n)
	}
	if got, err := app.Service.SigningOrder(ctx, token); err != nil || got.QRStartSecret != first.QRStartSecret || got.Status != "pending" ||
		got.Hint != connectors.BankIDHintOutstanding {
		t.Fatalf("signing order %+v, %v", got, err)
	}
	now := time.Now()
	claims := []bool{}
	for _, at := range []time.Duration{0, time.Second, 2 * time.Second} {
		claimed, _ := app.Service.ClaimCollect(ctx, first.OrderRef, now.Add(at), 2*time.Second)
		claims = append(claims, claimed)
	}
	if !claims[0] || claims[1] || !claims[2] {
		t.Fatalf("collect claims %v: want one per 2 s", claims)
	}

	// Another person's signature is refused and the request keeps waiting.
	sim.IgnoreRequirement = true
	signInApp(t, sim, first.OrderRef, "198501139995")
	if o, err := app.Service.CollectSigning(ctx, first.OrderRef, now.Add(time.Minute), 2*time.Second); err != nil ||
		o.Status != "failed" || o.Hint != "signer_mismatch" {
		t.Fatalf("another signer: %+v, %v", o, err)
	}
	if v, _ := app.Service.Request(ctx, app.Actors["it-handler"], sub.ID); v.Status != provisioning.StatusAwaitingUser {
		t.Fatalf("after a wrong signer the request is %s", v.Status)
	}
	// The catalog changes while the person signs: the evidence keeps what was sent.
	sim.IgnoreRequirement = false
	second, err := app.Service.StartSigning(ctx, token, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	sentText := pendingAt(t, sim, second.OrderRef).Visible
	app.Pool.Exec(ctx, "INSERT INTO system_terms (system_id, version, text) VALUES ('treserva', 2, 'Nya villkor')")
	signInApp(t, sim, second.OrderRef, "195001182046")
	if again, err := app.Service.WatchSigning(ctx, second.OrderRef, 2*time.Second); err != nil || again {
		t.Fatalf("the watch of a signed order: again %v, %v", again, err)
	}
	var kept string
	app.Pool.QueryRow(ctx, "SELECT signed_text FROM terms_signatures").Scan(&kept)
	if kept != sentText {
		t.Fatalf("the evidence holds %q, not the text sent", kept)
	}
	if _, err := app.Service.Terms(ctx, token); !errors.Is(err, provisioning.ErrLinkUsed) {
		t.Fatalf("the used link: %v", err)
	}
	// The jobs the signature caused give the access.
	if err := app.Runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Runner.Stop(context.Background()) })
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	sigs, _ := app.Service.Signatures(ctx, app.Actors["it-handler"], sub.ID)
	if len(sigs) != 1 || !sigs[0].Simulated || sigs[0].SignedTextSHA256 == "" || sigs[0].OrderRef != second.OrderRef {
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
	if data, err := app.Service.SignatureFile(ctx, app.Actors["it-handler"], sigs[0].ID, "signature"); err != nil ||
		!strings.Contains(string(data), bankid.SimulatedMarker) || !strings.Contains(string(data), "195001182046") {
		t.Fatalf("signature file %q, %v", data, err)
	}
	if _, err := app.Service.SignatureFile(ctx, app.Actors["requester"], sigs[0].ID, "signature"); !errors.Is(err, provisioning.ErrForbidden) {
		t.Fatalf("a requester downloading the evidence: %v", err)
	}
	if _, err := app.Service.SignatureFile(ctx, app.Actors["it-handler"], "not-a-uuid", "signature"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Fatalf("a malformed signature id: %v", err)
	}
}

// BankID allows one collect of an order every two seconds, retries after a 5xx included. The
// watch job collects through 503s and 500s, and the simulator's record of every collect of
// the order shows none closer than that; the signature is still kept.
func TestTheWatchCollectsTwoSecondsApartThroughErrors(t *testing.T) {
	sim, client := testenv.BankID(t, 0)
	app := testapp.New(t, testapp.Options{BankID: client})
	sub, token := awaitingTerms(t, app)
	order, err := app.Service.StartSigning(ctx, token, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{bankid.ErrMaintenance, bankid.ErrInternalError, bankid.ErrMaintenance} {
		sim.FailNext("/collect", code)
	}
	for deadline := time.Now().Add(20 * time.Second); len(sim.Collects(order.OrderRef)) < 4; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the watch collected %d times", len(sim.Collects(order.OrderRef)))
		}
	}
	signInApp(t, sim, order.OrderRef, "195001182046")
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	times := sim.Collects(order.OrderRef)
	for i := 1; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		t.Logf("collect %d came %s after the one before", i+1, gap)
		if gap < connectors.BankIDCollectInterval {
			t.Errorf("collect %d came %s after the one before: BankID allows one every %s", i+1, gap, connectors.BankIDCollectInterval)
		}
	}
}

// An order cancelled by the person ends as cancelled at BankID and here, and the person can
// start again; an order BankID cancels because the person started another elsewhere ends as
// cancelled here too.
func TestCancelledOrdersEnd(t *testing.T) {
	sim, client := testenv.BankID(t, 0)
	app := testapp.New(t, testapp.Options{BankID: client, NoJobs: true})
	_, token := awaitingTerms(t, app)
	first, err := app.Service.StartSigning(ctx, token, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	o, err := app.Service.CancelSigning(ctx, token)
	if err != nil || o.Status != "failed" || o.Hint != connectors.BankIDHintUserCancel {
		t.Fatalf("cancel: %+v, %v", o, err)
	}
	if !sim.CancelledByRP(first.OrderRef) {
		t.Fatal("the order was not cancelled at BankID")
	}
	var status, hint string
	app.Pool.QueryRow(ctx, "SELECT status, hint FROM signing_orders WHERE order_ref = $1", first.OrderRef).Scan(&status, &hint)
	if status != "failed" || hint != connectors.BankIDHintUserCancel {
		t.Fatalf("the cancelled order is %s/%s here", status, hint)
	}
	second, err := app.Service.StartSigning(ctx, token, "192.0.2.7")
	if err != nil {
		t.Fatalf("start after a cancel: %v", err)
	}
	// The person starts another order for themselves elsewhere: BankID cancels both.
	if _, err := client.Auth(ctx, connectors.BankIDRequest{EndUserIP: "198.51.100.1", PersonalNumber: "195001182046"}); !errors.Is(err, connectors.ErrBankIDInProgress) {
		t.Fatalf("another order for the person: %v", err)
	}
	if o, err := app.Service.CollectSigning(ctx, second.OrderRef, time.Now(), 2*time.Second); err != nil || o.Status != "failed" ||
		o.Hint != connectors.BankIDHintCancelled {
		t.Fatalf("after another order for the person: %+v, %v", o, err)
	}
	if o, err := app.Service.SigningOrder(ctx, token); err != nil || o.OrderRef != second.OrderRef || o.Hint != connectors.BankIDHintCancelled {
		t.Fatalf("the link's order: %+v, %v", o, err)
	}
	// Cancelling when nothing runs changes nothing.
	if o, err := app.Service.CancelSigning(ctx, token); err != nil || o.Hint != connectors.BankIDHintCancelled {
		t.Fatalf("cancel with nothing running: %+v, %v", o, err)
	}
}

// Without BankID, no order is started: only the paper form remains.
func TestSigningWithoutBankID(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	_, token := awaitingTerms(t, app)
	if app.Service.SigningEnabled() {
		t.Fatal("signing is offered without BankID")
	}
	if _, err := app.Service.StartSigning(ctx, token, "192.0.2.7"); !errors.Is(err, provisioning.ErrNoBankID) {
		t.Fatalf("start without BankID: %v", err)
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
	_, client := testenv.BankID(t, 0)
	app := testapp.New(t, testapp.Options{BankID: client, NoJobs: true})
	sub, token := awaitingTerms(t, app)
	order, err := app.Service.StartSigning(ctx, token, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	ev := evidence("195001182046")
	if err := app.Service.CompleteSigning(ctx, token, order.OrderRef, ev); err != nil {
		t.Fatal(err)
	}
	if found := app.InClear(t, "terms_signatures", "5001182046", "500118-2046", "192.0.2.7", "ocsp"); len(found) > 0 {
		t.Fatalf("the evidence is kept in clear: %v", found)
	}
	it := app.Actors["it-handler"]
	sigs, err := app.Service.Signatures(ctx, it, sub.ID)
	if err != nil || len(sigs) != 1 || sigs[0].DeviceIP != "192.0.2.7" || sigs[0].OrderRef != order.OrderRef {
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
			signed_text_sha256, terms_versions, simulated, signed_at FROM terms_signatures WHERE order_ref = $1`, order.OrderRef); err == nil {
		t.Fatal("a row with the evidence both sealed and in clear was stored")
	}
	// A sealed document copied into another row does not open there.
	if _, err := app.Pool.Exec(ctx, `INSERT INTO terms_signatures (request_id, order_ref, personnummer_enc, signer_name,
			evidence_sealed, signed_text, signed_text_sha256, terms_versions, simulated, signed_at)
		SELECT request_id, 'o-copy', personnummer_enc, signer_name, evidence_sealed, signed_text, signed_text_sha256,
			terms_versions, simulated, signed_at + interval '1 second' FROM terms_signatures WHERE order_ref = $1`, order.OrderRef); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Service.Signatures(ctx, it, sub.ID); err == nil {
		t.Fatal("evidence sealed for one order opened in another's row")
	}
}
