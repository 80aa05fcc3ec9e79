package web_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"mime/quotedprintable"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/auth/bankid"
	"github.com/behorig/behorig/connectors/mail"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
)

// signingSite is a site with jobs, the BankID simulator behind the signing page and a real
// SMTP server for the terms e-mail.
func signingSite(t *testing.T) (*site, *bankid.Simulator, *testenv.SMTPServer) {
	t.Helper()
	return signingSiteWith(t, 0)
}

// signingSiteWith is signingSite with a BankID client whose calls wait up to timeout.
func signingSiteWith(t *testing.T, timeout time.Duration) (*site, *bankid.Simulator, *testenv.SMTPServer) {
	t.Helper()
	sim, client := testenv.BankID(t, timeout)
	smtp := testenv.SMTP(t)
	s := newSite(t, siteOptions{jobs: true, bankID: client, mailer: mail.SMTP{Addr: smtp.Addr, From: "Behörig <behorig@kommun.example>",
		Username: smtp.User, Password: smtp.Password, TLSConfig: &tls.Config{ServerName: "localhost", RootCAs: smtp.RootCAs}}})
	return s, sim, smtp
}

// linkFromMail approves a Treserva request for Anna and returns the link mailed to her.
func linkFromMail(t *testing.T, s *site, smtp *testenv.SMTPServer) (submitted, string) {
	t.Helper()
	return linkFromMailFor(t, s, smtp, "19500118-2046", "Anna", "Berg")
}

// linkFromMailFor approves a Treserva request for the person and returns the link mailed.
func linkFromMailFor(t *testing.T, s *site, smtp *testenv.SMTPServer, pnr, given, surname string) (submitted, string) {
	t.Helper()
	var sub submitted
	body := map[string]any{"person": map[string]any{"personnummer": pnr, "givenName": given, "surname": surname,
		"email": strings.ToLower(given) + "@example.org", "employeeType": "employee"}, "unit": "5110",
		"items": []map[string]any{{"system": "treserva", "role": "utforare"}}, "approver": "manager"}
	if code := s.app.Call(t, "requester", "POST", "/api/v1/requests", body, &sub); code != http.StatusCreated {
		t.Fatalf("submit: %d", code)
	}
	before := len(smtp.Kind("terms-"))
	s.as(t, "maria.chef").post(t, "/requests/"+sub.ID+"/approve", nil)
	msg := smtp.WaitKind(t, "terms-", before+1, 15*time.Second)[before]
	text, _ := io.ReadAll(quotedprintable.NewReader(msg.Msg.Body))
	link := regexp.MustCompile(regexp.QuoteMeta(s.url) + `/sign/[A-Za-z0-9_-]+`).FindString(string(text))
	if link == "" {
		t.Fatalf("no link in the e-mail:\n%s", text)
	}
	return sub, link
}

func token(link string) string { return link[strings.LastIndex(link, "/")+1:] }

// scanAndSign plays the BankID app: scan this second's QR code, show the order to pnr, sign.
func scanAndSign(t *testing.T, s *site, sim *bankid.Simulator, link, pnr string) {
	t.Helper()
	order, err := s.app.Service.SigningOrder(context.Background(), token(link))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := sim.ScanQR(bankid.QRData(order.QRStartToken, order.QRStartSecret, bankid.QRTime(order.AnsweredAt, time.Now())))
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	if _, err := sim.Show(ref, pnr); err != nil {
		t.Fatalf("show: %v", err)
	}
	if err := sim.Approve(ref); err != nil {
		t.Fatal(err)
	}
}

// pollUntil asks the page's status until its state is want; the server collects at most
// every two seconds.
func pollUntil(t *testing.T, b *site, link, want string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		page := body(t, b.get(t, link+"/status"))
		if strings.Contains(page, `"state":"`+want+`"`) {
			return page
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never became %s: %s", want, page)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func TestSigningTheTermsEndToEnd(t *testing.T) {
	s, sim, smtp := signingSite(t)
	sub, link := linkFromMail(t, s, smtp)
	anna := s.newBrowser() // no session: the link is enough
	page := body(t, anna.get(t, link))
	for _, want := range []string{"Godkänn villkor för behörighet", "Hej Anna!", "Treserva – Utförare", "informationssäkerhet",
		`action="/sign/` + token(link) + `/start"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the signing page lacks %q", want)
		}
	}
	if strings.Contains(link, sub.ID) || strings.Contains(link, sub.Number) {
		t.Error("the link says which request it is")
	}
	// Behind the trusted proxy (loopback here) BankID gets the person's address.
	start, _ := http.NewRequest(http.MethodPost, s.url+"/sign/"+token(link)+"/start", nil)
	start.Header.Set("X-Forwarded-For", "203.0.113.99, 198.51.100.7")
	resp, err := anna.client.Do(start)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("start: %d, Referrer-Policy %q", resp.StatusCode, resp.Header.Get("Referrer-Policy"))
	}
	// A second start (another tab) does not replace the running order.
	anna.post(t, "/sign/"+token(link)+"/start", nil)
	if n := s.count(t, "SELECT count(*) FROM signing_orders"); n != 1 {
		t.Fatalf("%d orders after starting twice", n)
	}
	page = body(t, anna.get(t, link))
	if !strings.Contains(page, `<img class="qr" src="/sign/`) || !strings.Contains(page, "Starta BankID-appen.") ||
		!strings.Contains(page, "bankid:///?autostarttoken=") {
		t.Fatalf("the page does not show the QR code, the message and the autostart link:\n%s", page)
	}
	first, _ := io.ReadAll(anna.get(t, link+"/qr.png").Body)
	time.Sleep(1100 * time.Millisecond)
	second, _ := io.ReadAll(anna.get(t, link+"/qr.png").Body)
	if len(first) < 100 || bytes.Equal(first, second) {
		t.Fatal("the QR code is not a new image a second later")
	}

	scanAndSign(t, s, sim, link, "195001182046")
	pollUntil(t, anna, link, "complete")
	if page := body(t, anna.get(t, link)); !strings.Contains(page, "Tack! Villkoren är godkända") {
		t.Fatalf("after signing the page says:\n%s", page)
	}
	s.waitStatus(t, sub.ID, provisioning.StatusCompleted)
	sigs, err := s.app.Service.Signatures(t.Context(), s.app.Actors["it-handler"], sub.ID)
	if err != nil || len(sigs) != 1 || !sigs[0].Simulated || sigs[0].DeviceIP != "198.51.100.7" {
		t.Fatalf("evidence %+v, %v; want the simulator's, from the person's address", sigs, err)
	}
	// The signature XML and the device's UHI hold Anna's personnummer: sealed at rest.
	if found := s.app.InClear(t, "terms_signatures", "5001182046", "500118-2046", "198.51.100.7"); len(found) > 0 {
		t.Fatalf("the evidence is kept in clear: %v", found)
	}
	// IT sees the evidence and downloads it; the requester does not.
	ingrid := s.as(t, "ingrid.it")
	page = body(t, ingrid.get(t, "/requests/"+sub.ID))
	m := regexp.MustCompile(`/signatures/([0-9a-f-]{36})/signature`).FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "simulerad – inget giltigt bevis") {
		t.Fatalf("IT does not see the evidence:\n%s", page)
	}
	// The history names the person who signed, not a role.
	if !strings.Contains(page, `<span class="actor">Anna `) || strings.Contains(page, `<span class="actor">person</span>`) {
		t.Errorf("the history does not name the person who signed:\n%s", page)
	}
	xml := ingrid.get(t, "/signatures/"+m[1]+"/signature")
	content, _ := io.ReadAll(xml.Body)
	if !strings.HasPrefix(xml.Header.Get("Content-Disposition"), "attachment") || !bytes.Contains(content, []byte(bankid.SimulatedMarker)) ||
		!bytes.Contains(content, []byte("195001182046")) || !bytes.HasSuffix(content, []byte("</Signature>")) {
		t.Fatalf("the signature download: %v %q", xml.Header, content)
	}
	if resp := ingrid.get(t, "/signatures/"+m[1]+"/ocsp"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the OCSP download: %d", resp.StatusCode)
	}
	rolf := s.as(t, "rolf.bestallare")
	if page := body(t, rolf.get(t, "/requests/"+sub.ID)); strings.Contains(page, "/signatures/") {
		t.Fatal("the requester is offered the evidence")
	}
	if resp := rolf.get(t, "/signatures/"+m[1]+"/signature"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the requester downloading the evidence: %d", resp.StatusCode)
	}
	// The link works once.
	if resp := anna.post(t, "/sign/"+token(link)+"/start", nil); resp.StatusCode != http.StatusGone {
		t.Fatalf("starting again on a used link: %d", resp.StatusCode)
	}
}

func TestAnotherPersonsSignatureIsRefused(t *testing.T) {
	s, sim, smtp := signingSite(t)
	sim.IgnoreRequirement = true // as if BankID let anyone sign: our own check must hold
	sub, link := linkFromMail(t, s, smtp)
	tova := s.newBrowser()
	tova.post(t, "/sign/"+token(link)+"/start", nil)
	scanAndSign(t, s, sim, link, "198501139995")
	page := pollUntil(t, tova, link, "failed")
	if !strings.Contains(page, "en annan person") {
		t.Fatalf("the refusal is not explained: %s", page)
	}
	if st := s.status(t, sub.ID); st != provisioning.StatusAwaitingUser {
		t.Fatalf("after another person's signature the request is %s", st)
	}
	if n := s.count(t, "SELECT count(*) FROM audit_events WHERE action = 'terms.signer_mismatch'"); n != 1 {
		t.Fatal("the refused signature was not audited")
	}
	if n := s.count(t, "SELECT count(*) FROM terms_signatures"); n != 0 {
		t.Fatal("another person's signature was kept as evidence")
	}
	// The right person can still sign afterwards.
	if page := body(t, tova.get(t, link)); !strings.Contains(page, "/start\"") {
		t.Fatal("the page does not let the person start again")
	}
}

func TestUnknownAndExpiredLinks(t *testing.T) {
	s, _, smtp := signingSite(t)
	_, link := linkFromMail(t, s, smtp)
	anyone := s.newBrowser()
	if resp := anyone.get(t, "/sign/not-a-real-token"); resp.StatusCode != http.StatusNotFound || !strings.Contains(body(t, resp), "Länken finns inte") {
		t.Fatalf("an unknown link: %d", resp.StatusCode)
	}
	s.app.Clock.Advance(15 * 24 * time.Hour)
	resp := anyone.get(t, link)
	page := body(t, resp)
	if resp.StatusCode != http.StatusGone || !strings.Contains(page, "Länken har gått ut") {
		t.Fatalf("an expired link: %d", resp.StatusCode)
	}
	// The person has no sign-in here: the page does not send them to one.
	if strings.Contains(page, "Till inloggningen") {
		t.Error("the person is offered a sign-in they do not have")
	}
}

// Without BankID the person uploads the signed form through the link; IT verifies it.
func TestThePersonUploadsTheSignedForm(t *testing.T) {
	s, _, smtp := signingSite(t)
	sub, link := linkFromMail(t, s, smtp)
	anna := s.newBrowser()
	// She prints the form with her name and the terms, and signs it by hand.
	if page := body(t, anna.get(t, link)); !strings.Contains(page, `href="/sign/`+token(link)+`/print"`) {
		t.Fatal("the signing page offers no form to print")
	}
	printed := body(t, anna.get(t, link+"/print"))
	for _, want := range []string{"Villkor för behörighet – blankett att skriva under", "Anna Berg", "informationssäkerhet",
		"Underskrift", "Namnförtydligande", sub.Number} {
		if !strings.Contains(printed, want) {
			t.Errorf("the form to print lacks %q", want)
		}
	}
	if strings.Contains(printed, "2046") || strings.Contains(printed, "Till inloggningen") {
		t.Error("the form to print shows the personnummer or a sign-in")
	}
	if resp := anna.upload(t, "/sign/"+token(link)+"/paper", "blankett.html", []byte("<html>")); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an HTML file as the form: %d", resp.StatusCode)
	}
	resp := anna.upload(t, "/sign/"+token(link)+"/paper", "blankett.pdf", pdf)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", resp.StatusCode, body(t, resp))
	}
	if page := body(t, anna.get(t, resp.Header.Get("Location"))); !strings.Contains(page, "Blanketten är mottagen") {
		t.Fatal("the page does not confirm the upload")
	}
	ingrid := s.as(t, "ingrid.it")
	page := body(t, ingrid.get(t, "/requests/"+sub.ID))
	if !strings.Contains(page, "blankett.pdf") || !strings.Contains(page, "personen själv, via länken") {
		t.Fatal("IT does not see the form the person uploaded")
	}
	ingrid.post(t, "/requests/"+sub.ID+"/terms/paper", nil)
	s.waitStatus(t, sub.ID, provisioning.StatusCompleted)
	if resp := anna.upload(t, "/sign/"+token(link)+"/paper", "igen.pdf", pdf); resp.StatusCode != http.StatusGone {
		t.Fatalf("an upload after the terms were answered: %d", resp.StatusCode)
	}
}

// Pressing cancel just after signing in the app keeps the signature: BankID is asked first.
func TestCancelAfterSigningKeepsTheSignature(t *testing.T) {
	s, sim, smtp := signingSite(t)
	sub, link := linkFromMail(t, s, smtp)
	anna := s.newBrowser()
	anna.post(t, "/sign/"+token(link)+"/start", nil)
	scanAndSign(t, s, sim, link, "195001182046")
	anna.post(t, "/sign/"+token(link)+"/cancel", nil)
	if n := s.count(t, "SELECT count(*) FROM terms_signatures"); n != 1 {
		t.Fatal("cancel threw away a finished signature")
	}
	s.waitStatus(t, sub.ID, provisioning.StatusCompleted)
}

// An order BankID has forgotten ends here too, and the person can start again.
func TestAForgottenOrderEnds(t *testing.T) {
	s, sim, smtp := signingSite(t)
	var offset time.Duration
	sim.Now = func() time.Time { return time.Now().Add(offset) }
	_, link := linkFromMail(t, s, smtp)
	anna := s.newBrowser()
	anna.post(t, "/sign/"+token(link)+"/start", nil)
	order, _ := s.app.Service.SigningOrder(context.Background(), token(link))
	sim.Fail(order.OrderRef, bankid.HintStartFailed)
	offset = 4 * time.Minute // BankID purges finished orders
	pollUntil(t, anna, link, "failed")
	if page := body(t, anna.get(t, link)); !strings.Contains(page, "/start\"") {
		t.Fatal("the person cannot start again after a forgotten order")
	}
}

// A person who signs on the phone and never comes back to the page still gets the access:
// a job watches the order.
func TestSigningCompletesWithoutThePage(t *testing.T) {
	s, sim, smtp := signingSite(t)
	sub, link := linkFromMail(t, s, smtp)
	anna := s.newBrowser()
	anna.post(t, "/sign/"+token(link)+"/start", nil)
	scanAndSign(t, s, sim, link, "195001182046")
	s.waitStatus(t, sub.ID, provisioning.StatusCompleted) // no page asks again
	if n := s.count(t, "SELECT count(*) FROM terms_signatures"); n != 1 {
		t.Fatal("the job did not keep the signature")
	}
}

func TestAutostartLinkFitsTheDevice(t *testing.T) {
	s, _, smtp := signingSite(t)
	_, link := linkFromMail(t, s, smtp)
	anna := s.newBrowser()
	anna.post(t, "/sign/"+token(link)+"/start", nil)
	req, _ := http.NewRequest(http.MethodGet, link, nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X)")
	resp, err := anna.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// A phone cannot scan its own screen: the button comes first, the QR code after.
	page := body(t, resp)
	button, qr := strings.Index(page, `href="https://app.bankid.com/?autostarttoken=`), strings.Index(page, `<img class="qr"`)
	if button < 0 || qr < 0 || button > qr {
		t.Fatalf("a phone is not given BankID's universal link before the QR code (at %d and %d)", button, qr)
	}
	page = body(t, anna.get(t, link))
	button, qr = strings.Index(page, `href="bankid:///?autostarttoken=`), strings.Index(page, `<img class="qr"`)
	if button < 0 || qr < 0 || qr > button {
		t.Fatalf("a computer is not given the QR code first and the bankid:/// link (at %d and %d)", qr, button)
	}
}

func TestPublicActionsAreRateLimited(t *testing.T) {
	s, _, smtp := signingSite(t)
	_, link := linkFromMail(t, s, smtp)
	anyone := s.newBrowser()
	limited := 0
	for range 10 {
		req, _ := http.NewRequest(http.MethodPost, s.url+"/sign/"+token(link)+"/start", nil)
		req.Header.Set("X-Forwarded-For", "192.0.2.200") // one client behind the trusted proxy
		resp, err := anyone.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Error("a 429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Fatal("10 starts in a row from one client were all let through")
	}
	if n := s.count(t, "SELECT count(*) FROM signing_orders"); n > 1 {
		t.Fatalf("%d orders from repeated starts", n)
	}
}

// The person presses cancel while the order runs: it ends as cancelled at BankID and here,
// the page says so, and the person can start again.
func TestCancelEndsTheOrderAtBankIDAndHere(t *testing.T) {
	s, sim, smtp := signingSite(t)
	_, link := linkFromMail(t, s, smtp)
	anna := s.newBrowser()
	anna.post(t, "/sign/"+token(link)+"/start", nil)
	order, err := s.app.Service.SigningOrder(context.Background(), token(link))
	if err != nil {
		t.Fatal(err)
	}
	if resp := anna.post(t, "/sign/"+token(link)+"/cancel", nil); resp.StatusCode != http.StatusSeeOther ||
		resp.Header.Get("Location") != "/sign/"+token(link) {
		t.Fatalf("cancel: %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !sim.CancelledByRP(order.OrderRef) {
		t.Fatal("the order was not cancelled at BankID")
	}
	if n := s.count(t, "SELECT count(*) FROM signing_orders WHERE order_ref = $1 AND status = 'failed' AND hint = 'userCancel'", order.OrderRef); n != 1 {
		t.Fatal("the order is not recorded as cancelled by the person")
	}
	page := body(t, anna.get(t, link))
	if !strings.Contains(page, "Åtgärden avbröts.") || !strings.Contains(page, "/start\"") {
		t.Fatalf("after cancel the page says:\n%s", page)
	}
	anna.post(t, "/sign/"+token(link)+"/start", nil)
	if n := s.count(t, "SELECT count(*) FROM signing_orders WHERE status = 'pending'"); n != 1 {
		t.Fatalf("%d running orders after starting again", n)
	}
}

// BankID hangs: it accepts calls and never answers. The signing pages, sign-in and new
// requests keep answering (each within the browsers' 10 s, while a call to BankID waits up to
// a minute), no database session sits idle in a transaction meanwhile, not even while a start
// waits for BankID, and when BankID is back the order signed meanwhile completes and the
// start that waited is recorded.
func TestAHungBankIDStallsOnlySigning(t *testing.T) {
	s, sim, smtp := signingSiteWith(t, time.Minute)
	anna, link := linkFromMail(t, s, smtp)
	_, saraLink := linkFromMailFor(t, s, smtp, "20010101-2383", "Sara", "Svensson")
	annaBrowser := s.newBrowser()
	annaBrowser.post(t, "/sign/"+token(link)+"/start", nil)
	order, err := s.app.Service.SigningOrder(context.Background(), token(link))
	if err != nil {
		t.Fatal(err)
	}

	sim.Hang()
	// Sara starts while BankID hangs: her start waits for BankID, holding nothing here.
	started := make(chan int, 1)
	go func() {
		client := newClient()
		client.Timeout = 2 * time.Minute
		resp, err := client.PostForm(s.url+"/sign/"+token(saraLink)+"/start", nil)
		if err != nil {
			started <- 0
			return
		}
		resp.Body.Close()
		started <- resp.StatusCode
	}()
	// Anna signs in the app meanwhile; nobody here can hear of it yet.
	if err := sim.ScanNow(order.OrderRef); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Show(order.OrderRef, "195001182046"); err != nil {
		t.Fatal(err)
	}
	if err := sim.Approve(order.OrderRef); err != nil {
		t.Fatal(err)
	}

	api := &http.Client{Timeout: 10 * time.Second}
	submit := func() int {
		body := `{"person": {"personnummer": "19850113-9995", "givenName": "Tova", "surname": "Testsson", "employeeType": "employee"},
			"unit": "5110", "reason": "Ny", "items": [{"system": "meddix"}], "approver": "manager"}`
		req, _ := http.NewRequest(http.MethodPost, s.app.URL+"/api/v1/requests", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.app.Tokens["requester"])
		req.Header.Set("Content-Type", "application/json")
		resp, err := api.Do(req)
		if err != nil {
			t.Fatalf("POST /api/v1/requests while BankID hangs: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var took []time.Duration
	timed := func(what string, want int, do func() int) {
		t.Helper()
		start := time.Now()
		if got := do(); got != want {
			t.Fatalf("%s while BankID hangs: %d, want %d", what, got, want)
		}
		took = append(took, time.Since(start))
	}
	hungSince := time.Now()
	for round := 0; time.Since(hungSince) < 6*time.Second || round < 5; round++ {
		timed("the signing page", http.StatusOK, func() int { return annaBrowser.get(t, link).StatusCode })
		timed("the signing status", http.StatusOK, func() int { return annaBrowser.get(t, link+"/status").StatusCode })
		timed("the QR code", http.StatusOK, func() int { return annaBrowser.get(t, link+"/qr.png").StatusCode })
		if round < 8 { // sign-ins are rate limited per address: 20 at once
			timed("sign-in", http.StatusSeeOther, func() int { return s.newBrowser().signIn(t, "ad", "rolf.bestallare").StatusCode })
		}
		timed("POST /api/v1/requests", http.StatusCreated, submit)
		// A transaction left open across a BankID call would sit idle in it for as long as
		// BankID hangs; short ones between two statements are not counted.
		if n := s.count(t, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
				AND state LIKE 'idle in transaction%' AND state_change < now() - interval '2 seconds'`); n != 0 {
			t.Fatalf("%d database sessions sit idle in a transaction while BankID hangs", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	slices.Sort(took)
	t.Logf("while BankID hung for %s: %d requests, p50 %s, p99 %s, max %s", time.Since(hungSince).Round(time.Millisecond), len(took),
		took[len(took)/2], took[len(took)*99/100], took[len(took)-1])
	select {
	case code := <-started:
		t.Fatalf("a start answered (%d) while BankID hung", code)
	default:
	}
	if st := s.status(t, anna.ID); st != provisioning.StatusAwaitingUser {
		t.Fatalf("while BankID hangs Anna's request is %s", st)
	}

	sim.Resume()
	s.waitStatus(t, anna.ID, provisioning.StatusCompleted)
	if code := <-started; code != http.StatusSeeOther {
		t.Fatalf("the start that waited for BankID: %d", code)
	}
	sara, err := s.app.Service.SigningOrder(context.Background(), token(saraLink))
	if err != nil || sara.Status != "pending" {
		t.Fatalf("Sara's order after BankID came back: %+v, %v", sara, err)
	}
	if n := len(sim.Pending()); n != 1 {
		t.Fatalf("%d orders pending at BankID, want Sara's", n)
	}
}
