package provisioning_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/connectors/mail"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
)

// notifyApp is a whole behorig whose jobs mail through a real SMTP server.
func notifyApp(t *testing.T, opts testapp.Options) (*testapp.App, *testenv.SMTPServer) {
	t.Helper()
	smtp := testenv.SMTP(t)
	opts.Mailer = mail.SMTP{Addr: smtp.Addr, From: "Behörig <behorig@kommun.example>", Username: smtp.User,
		Password: smtp.Password, TLSConfig: &tls.Config{ServerName: "localhost", RootCAs: smtp.RootCAs}}
	return testapp.New(t, opts), smtp
}

// letter is a received notification, decoded.
type letter struct {
	to, id, subject, text, html string
	raw                         string
}

func decode(t *testing.T, m testenv.Received) letter {
	t.Helper()
	// Parsed again from the raw message: the received one's body is read once.
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatal(err)
	}
	l := letter{to: m.To[0], id: msg.Header.Get("Message-ID"), raw: string(m.Raw)}
	l.subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if mediaType != "multipart/alternative" {
		body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
		l.text = string(body)
		return l
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		switch ct := p.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/plain"):
			l.text = string(body)
		case strings.HasPrefix(ct, "text/html"):
			l.html = string(body)
		}
	}
	return l
}

// notices returns the notification e-mails received so far (not the terms e-mails).
func notices(t *testing.T, smtp *testenv.SMTPServer) []letter {
	t.Helper()
	var out []letter
	for _, m := range smtp.Messages() {
		if strings.HasPrefix(m.Msg.Header.Get("Message-ID"), "<notice-") {
			out = append(out, decode(t, m))
		}
	}
	return out
}

// waitNotices waits until n notification e-mails have arrived and returns them.
func waitNotices(t *testing.T, smtp *testenv.SMTPServer, n int) []letter {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := notices(t, smtp)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			for _, l := range got {
				t.Logf("to %s: %s", l.to, l.subject)
			}
			t.Fatalf("%d notification e-mails, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// find returns the one e-mail to the address whose subject holds what.
func find(t *testing.T, ls []letter, to, what string) letter {
	t.Helper()
	var found []letter
	for _, l := range ls {
		if l.to == to && strings.Contains(l.subject, what) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		for _, l := range ls {
			t.Logf("to %s: %s", l.to, l.subject)
		}
		t.Fatalf("%d e-mails to %s about %q, want 1", len(found), to, what)
	}
	return found[0]
}

// settle waits for what a job might still send, then returns the count of notification
// e-mails; a duplicate would have arrived by then.
func settle(t *testing.T, app *testapp.App, smtp *testenv.SMTPServer) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var open int
		if err := app.Pool.QueryRow(ctx, "SELECT count(*) FROM notifications WHERE sent_at IS NULL AND skipped = ''").Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d notifications still unsent", open)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	return len(notices(t, smtp))
}

// The whole way of a grant: the requester's receipt (in English: they signed in in
// English), the approver's "waiting for your approval" (in Swedish), then the person's login
// details when behorig has made the account, and the requester's "done"; one e-mail each,
// through a real SMTP server, as text and HTML, with no personnummer in clear. Running every
// job again sends nothing more.
func TestNotificationsOfAGrant(t *testing.T) {
	app, smtp := notifyApp(t, testapp.Options{BaseURL: "https://behorig.example"})
	if err := app.Service.SetLanguage(ctx, app.Actors["requester"].ID, "en"); err != nil {
		t.Fatal(err)
	}
	in := grantInput("19500118-2046", "Åsa", "Lind")
	in.Person.Email = "asa.lind@example.org"
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], in)
	if err != nil {
		t.Fatal(err)
	}
	got := waitNotices(t, smtp, 2)
	receipt := find(t, got, "rolf.bestallare@example.org", "We have received request "+sub.Number)
	if !strings.Contains(receipt.text, "Hello Rolf Beställare!") || !strings.Contains(receipt.text, "Åsa Lind (19500118-****)") ||
		!strings.Contains(receipt.text, "https://behorig.example/requests/"+sub.ID) || !strings.Contains(receipt.html, `<html lang="en">`) ||
		!strings.Contains(receipt.html, `<a href="https://behorig.example/requests/`+sub.ID+`">`) {
		t.Errorf("the receipt:\n%s\n%s", receipt.text, receipt.html)
	}
	waiting := find(t, got, "maria.chef@example.org", sub.Number+" väntar på ditt godkännande")
	if !strings.Contains(waiting.text, "Hej Maria Chef!") || !strings.Contains(waiting.text, "Rolf Beställare har skickat ärende") {
		t.Errorf("the approver's e-mail:\n%s", waiting.text)
	}

	if _, err := app.Service.Approve(ctx, app.Actors["manager"], sub.ID); err != nil {
		t.Fatal(err)
	}
	got = waitNotices(t, smtp, 4)
	login := find(t, got, "asa.lind@example.org", "Dina inloggningsuppgifter")
	username := personOf(t, app, sub.ID).Accounts[0].Username
	for _, want := range []string{"Hej Åsa!", "Ditt användarnamn är: " + username, "https://behorig.example/password",
		"- Meddix", "- Time Care Pool", "Your username is: " + username} {
		if !strings.Contains(login.text, want) {
			t.Errorf("the login details lack %q:\n%s", want, login.text)
		}
	}
	if !strings.Contains(login.html, `<a href="https://behorig.example/password">`) || !strings.Contains(login.html, `<div lang="en">`) {
		t.Errorf("the login details' HTML:\n%s", login.html)
	}
	done := find(t, got, "rolf.bestallare@example.org", "Request "+sub.Number+" is done")
	if !strings.Contains(done.text, "The access has been given") {
		t.Errorf("the requester's done:\n%s", done.text)
	}
	for _, l := range got {
		if strings.Contains(l.raw, "2046") {
			t.Errorf("the e-mail to %s, %q, carries the personnummer", l.to, l.subject)
		}
	}
	if n := settle(t, app, smtp); n != 4 {
		t.Fatalf("%d notification e-mails, want 4", n)
	}

	// Every job again, as after a crash: nothing more is sent.
	rows, err := app.Pool.Query(ctx, "SELECT id::text FROM notifications")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	for _, id := range ids {
		if err := app.Service.SendNotification(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// A convergence again does not make the account a second time, nor tell the person again.
	if _, err := app.Service.Converge(ctx, personOf(t, app, sub.ID).ID, false); err != nil {
		t.Fatal(err)
	}
	if n := settle(t, app, smtp); n != 4 {
		t.Fatalf("%d notification e-mails after every job ran again, want 4", n)
	}
	var sent int
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE action = 'notification.sent'").Scan(&sent)
	if sent != 4 {
		t.Errorf("%d notification.sent events, want 4", sent)
	}
}

// A rejection tells the requester the reason, with a personnummer typed into it masked; a
// comment from IT tells the requester there is one (not its words), an internal one does
// not, and the requester's own comment does not; a request that needs terms tells the
// requester it waits for the person.
func TestNotificationsOfRejectionCommentsAndTerms(t *testing.T) {
	app, smtp := notifyApp(t, testapp.Options{})
	rejected, err := app.Service.Submit(ctx, app.Actors["requester"], grantInput("19500118-2046", "Åsa", "Lind"))
	if err != nil {
		t.Fatal(err)
	}
	// The approver's e-mail out first: one still unsent when the request is decided is
	// dropped (nothing waits any more), which TestApprovalMailOfADecidedRequest shows.
	waitNotices(t, smtp, 2)
	if err := app.Service.Reject(ctx, app.Actors["manager"], rejected.ID, "Fel person: 19500118-2046 har slutat"); err != nil {
		t.Fatal(err)
	}
	it := app.Actors["it-handler"]
	if err := app.Service.AddComment(ctx, it, rejected.ID, "Ring mig om 19500118-2046", false); err != nil {
		t.Fatal(err)
	}
	if err := app.Service.AddComment(ctx, it, rejected.ID, "Internt", true); err != nil {
		t.Fatal(err)
	}
	if err := app.Service.AddComment(ctx, app.Actors["requester"], rejected.ID, "Tack", false); err != nil {
		t.Fatal(err)
	}
	terms := grantInput("19121212-1212", "Tolvan", "Tolvansson", provisioning.ItemInput{System: "treserva", Role: "utforare"})
	terms.Person.Email = "tolvan@example.org"
	waits, err := app.Service.Submit(ctx, app.Actors["requester"], terms)
	if err != nil {
		t.Fatal(err)
	}
	// Its approver's e-mail out before the decision too, as for the first request.
	waitNotices(t, smtp, 6)
	if _, err := app.Service.Approve(ctx, app.Actors["manager"], waits.ID); err != nil {
		t.Fatal(err)
	}

	// receipts 2, approvals 2, rejected, comment, awaiting the user
	got := waitNotices(t, smtp, 7)
	rej := find(t, got, "rolf.bestallare@example.org", "Ärende "+rejected.Number+" har avslagits")
	if !strings.Contains(rej.text, "Skäl: Fel person: 19500118-**** har slutat") || !strings.Contains(rej.text, "av Maria Chef") {
		t.Errorf("the rejection:\n%s", rej.text)
	}
	comment := find(t, got, "rolf.bestallare@example.org", "Ny kommentar i ärende "+rejected.Number)
	if !strings.Contains(comment.text, "Ingrid IT-handläggare har skrivit en kommentar") || strings.Contains(comment.text, "Ring mig") {
		t.Errorf("the comment e-mail:\n%s", comment.text)
	}
	wait := find(t, got, "rolf.bestallare@example.org", "Komplettering behövs i ärende "+waits.Number)
	if !strings.Contains(wait.text, "godkänna villkoren med BankID") {
		t.Errorf("the e-mail of a request waiting for the user:\n%s", wait.text)
	}
	for _, l := range got {
		if strings.Contains(l.raw, "2046") || strings.Contains(l.raw, "1212-1212") {
			t.Errorf("the e-mail to %s, %q, carries a personnummer", l.to, l.subject)
		}
	}
	if n := settle(t, app, smtp); n != 7 {
		t.Fatalf("%d notification e-mails, want 7", n)
	}
}

// A principal without an e-mail address gets none; the notification is marked skipped and
// its job ends, so it is not retried for a day.
func TestNotificationWithoutAddressIsSkipped(t *testing.T) {
	app, smtp := notifyApp(t, testapp.Options{})
	if _, err := app.Pool.Exec(ctx, "UPDATE principals SET email = '' WHERE subject = 'requester'"); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Service.Submit(ctx, app.Actors["requester"], grantInput("19500118-2046", "Åsa", "Lind")); err != nil {
		t.Fatal(err)
	}
	if n := settle(t, app, smtp); n != 1 {
		t.Fatalf("%d e-mails, want only the approver's", n)
	}
	var skipped string
	app.Pool.QueryRow(ctx, "SELECT skipped FROM notifications WHERE kind = $1", provisioning.NoticeReceived).Scan(&skipped)
	if skipped != "no_email" {
		t.Fatalf("the receipt to a requester without address: skipped %q", skipped)
	}
}

// The start page's counts: what waits for the manager's attestation, the requester's
// requests that wait for the user, and IT's untaken requests.
func TestWaitingFor(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	for _, pnr := range []string{"19500118-2046", "19121212-1212"} {
		if _, err := app.Service.Submit(ctx, app.Actors["requester"], grantInput(pnr, "Åsa", "Lind")); err != nil {
			t.Fatal(err)
		}
	}
	in := grantInput("19850113-9995", "Tolvan", "Tolvansson", provisioning.ItemInput{System: "treserva", Role: "utforare"})
	in.Person.Email = "tolvan@example.org"
	submitApproved(t, app, in)
	in.Unit = "5120"
	in.Approver = "manager-soder"
	if _, err := app.Service.Submit(ctx, app.Actors["requester"], in); err != nil {
		t.Fatal(err)
	}
	for subject, want := range map[string]provisioning.Waiting{
		"manager":       {Approvals: 2},
		"manager-soder": {Approvals: 1},
		"requester":     {AwaitingUser: 1},
		"it-handler":    {Untaken: 1},
	} {
		got, err := app.Service.WaitingFor(ctx, app.Actors[subject])
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %+v waiting, want %+v", subject, got, want)
		}
	}
}

// The daily digest, with the clock moved: nothing before its time, one e-mail per approver
// with requests waiting once it has passed, nothing more the same day however often the job
// runs, and the next day's again.
func TestApprovalDigest(t *testing.T) {
	app, smtp := notifyApp(t, testapp.Options{ApprovalDigest: true})
	for _, pnr := range []string{"19500118-2046", "19121212-1212"} {
		if _, err := app.Service.Submit(ctx, app.Actors["requester"], grantInput(pnr, "Åsa", "Lind")); err != nil {
			t.Fatal(err)
		}
	}
	before := settle(t, app, smtp) // receipts and approvals
	stockholm, _ := time.LoadLocation("Europe/Stockholm")
	now := app.Clock.Now().In(stockholm)
	// to 06:59 tomorrow
	next := time.Date(now.Year(), now.Month(), now.Day()+1, 6, 59, 0, 0, stockholm)
	app.Clock.Advance(next.Sub(app.Clock.Now()))
	if _, err := app.Service.QueueApprovalDigests(ctx); err != nil {
		t.Fatal(err)
	}
	if n := settle(t, app, smtp); n != before {
		t.Fatalf("%d digests before their time", n-before)
	}
	app.Clock.Advance(2 * time.Minute)
	for range 3 {
		if _, err := app.Service.QueueApprovalDigests(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := settle(t, app, smtp); n != before+1 {
		t.Fatalf("%d digests, want 1 (Maria's)", n-before)
	}
	digest := find(t, notices(t, smtp), "maria.chef@example.org", "2 ärenden väntar på ditt godkännande")
	if !strings.Contains(digest.text, "- BEH-") || !strings.Contains(digest.text, "/approvals") {
		t.Errorf("the digest:\n%s", digest.text)
	}
	app.Clock.Advance(24 * time.Hour)
	if _, err := app.Service.QueueApprovalDigests(ctx); err != nil {
		t.Fatal(err)
	}
	if n := settle(t, app, smtp); n != before+2 {
		t.Fatalf("%d digests after two days, want 2", n-before)
	}
}

// The approver's e-mail of a request decided before its job ran is not sent: nothing waits
// for them any more.
func TestApprovalMailOfADecidedRequest(t *testing.T) {
	app, smtp := notifyApp(t, testapp.Options{NoJobs: true})
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], grantInput("19500118-2046", "Åsa", "Lind"))
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Service.Reject(ctx, app.Actors["manager"], sub.ID, "Fel enhet"); err != nil {
		t.Fatal(err)
	}
	var id string
	if err := app.Pool.QueryRow(ctx, "SELECT id::text FROM notifications WHERE kind = $1", provisioning.NoticeApproval).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := app.Service.SendNotification(ctx, id); err != nil {
		t.Fatal(err)
	}
	var skipped string
	app.Pool.QueryRow(ctx, "SELECT skipped FROM notifications WHERE id = $1", id).Scan(&skipped)
	if skipped != "decided" || len(smtp.Messages()) != 0 {
		t.Fatalf("skipped %q, %d e-mails", skipped, len(smtp.Messages()))
	}
}

// failingFirst refuses the first message of each id, as a mail server that is down for a
// moment, then sends through the real one.
type failingFirst struct {
	inner connectors.Mailer
	mu    sync.Mutex
	seen  map[string]bool
}

func (f *failingFirst) Send(ctx context.Context, m connectors.Mail) error {
	f.mu.Lock()
	first := !f.seen[m.ID]
	f.seen[m.ID] = true
	f.mu.Unlock()
	if first {
		return errors.New("421 try again later")
	}
	return f.inner.Send(ctx, m)
}

// A notification whose first attempt fails is retried by its job and arrives once.
func TestNotificationRetriedAfterAFailureArrivesOnce(t *testing.T) {
	smtp := testenv.SMTP(t)
	real := mail.SMTP{Addr: smtp.Addr, From: "Behörig <behorig@kommun.example>", Username: smtp.User,
		Password: smtp.Password, TLSConfig: &tls.Config{ServerName: "localhost", RootCAs: smtp.RootCAs}}
	app := testapp.New(t, testapp.Options{Mailer: &failingFirst{inner: real, seen: map[string]bool{}}})
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], grantInput("19500118-2046", "Åsa", "Lind"))
	if err != nil {
		t.Fatal(err)
	}
	got := waitNotices(t, smtp, 2)
	find(t, got, "rolf.bestallare@example.org", sub.Number)
	find(t, got, "maria.chef@example.org", sub.Number)
	if n := settle(t, app, smtp); n != 2 {
		t.Fatalf("%d e-mails after a failed first attempt, want 2", n)
	}
}

// IT asking for more information tells the requester what IT asks (the question is the
// status change's note), with any personnummer in it masked.
func TestNotificationOfAQuestionFromIT(t *testing.T) {
	app, smtp := notifyApp(t, testapp.Options{})
	sub := submitApproved(t, app, grantInput("19500118-2046", "Åsa", "Lind"))
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	settle(t, app, smtp)
	in := grantInput("19850113-9995", "Bo", "Ek", provisioning.ItemInput{System: "meddix"})
	in.ValidFrom = app.Clock.Now().AddDate(0, 0, 10).Format("2006-01-02")
	later := submitApproved(t, app, in)
	if err := app.Service.AskForInformation(ctx, app.Actors["it-handler"], later.ID, "Vilken enhet, 19850113-9995?"); err != nil {
		t.Fatal(err)
	}
	// The approver's e-mail may be skipped (approved before it went): wait for all, not a count.
	settle(t, app, smtp)
	got := notices(t, smtp)
	q := find(t, got, "rolf.bestallare@example.org", "Komplettering behövs i ärende "+later.Number)
	if !strings.Contains(q.text, "IT skriver: Vilken enhet, 19850113-****?") || strings.Contains(q.raw, "9995") {
		t.Errorf("the question's e-mail:\n%s", q.text)
	}
}
