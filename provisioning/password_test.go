package provisioning_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/behorig/behorig/auth/bankid"
	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/localserver"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
)

// syncBuffer is a log destination that tests read while the service writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// withAccount gives Anna Berg (a BankID simulator test person) an active account in the
// directory, through a request as anyone gets one.
func withAccount(t *testing.T, app *testapp.App) string {
	t.Helper()
	sub := submitApproved(t, app, grantInput("19500118-2046", "Anna", "Berg"))
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	entries := app.Search(t, app.Slapd.PeopleDN, "(uid=anna.berg)", "uid")
	if len(entries) != 1 {
		t.Fatalf("%d entries for anna.berg", len(entries))
	}
	return entries[0].DN
}

// identify starts an identification in the browser, plays the app as pnr, and waits until
// the domain has collected the answer.
func identify(t *testing.T, app *testapp.App, sim *bankid.Simulator, browser, pnr string) provisioning.PasswordOrder {
	t.Helper()
	o, err := app.Service.StartPasswordOrder(ctx, browser, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	sent := pendingAt(t, sim, o.OrderRef)
	if sent.RequiredPersonalNumber != "" {
		t.Fatalf("an identification names whom it wants: %+v", sent)
	}
	if err := sim.ScanNow(o.OrderRef); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Show(o.OrderRef, pnr); err != nil {
		t.Fatal(err)
	}
	if err := sim.Approve(o.OrderRef); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := app.Service.PasswordOrder(ctx, browser)
		if err != nil {
			t.Fatal(err)
		}
		if got.OrderRef != o.OrderRef {
			t.Fatalf("the browser's order is %s, not %s", got.OrderRef, o.OrderRef)
		}
		if got.Status != connectors.BankIDPending {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the identification is still pending after 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func bind(t *testing.T, app *testapp.App, dn, password string) error {
	t.Helper()
	conn, err := goldap.DialURL(app.Slapd.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.Bind(dn, password)
}

func auditActions(t *testing.T, app *testapp.App, prefix string) []string {
	t.Helper()
	rows, err := app.Pool.Query(ctx, "SELECT action FROM audit_events WHERE action LIKE $1 ORDER BY seq", prefix+"%")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		rows.Scan(&a)
		out = append(out, a)
	}
	return out
}

// everyTable lists the tables of the database, River's job table included.
func everyTable(t *testing.T, app *testapp.App) []string {
	t.Helper()
	rows, err := app.Pool.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		out = append(out, name)
	}
	return out
}

// The whole way: a person with an account identifies with BankID in one browser and sets a
// password, which the directory checks against its policy and behorig writes at once. A
// too-short one is refused by the directory, not by behorig; a foreign browser or order gets
// nowhere; the identification works once; the person's limit stops a fourth password in a
// day. No password ends up in the log, any table (the job table included) or the audit data.
func TestPasswordWithBankID(t *testing.T) {
	sim, client := testenv.BankID(t, 0)
	logs := &syncBuffer{}
	app := testapp.New(t, testapp.Options{BankID: client,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	dn := withAccount(t, app)
	browser, stranger := rand.Text(), rand.Text()

	o := identify(t, app, sim, browser, "195001182046")
	if o.Status != connectors.BankIDComplete || o.Username != "anna.berg" || o.GivenName != "Anna" || !o.Identified(time.Now()) {
		t.Fatalf("identified %+v", o)
	}
	if _, err := app.Service.PasswordOrder(ctx, stranger); !errors.Is(err, provisioning.ErrNotFound) {
		t.Fatalf("another browser sees the identification: %v", err)
	}

	good := []string{"Blåbär-Skog-" + rand.Text()[:6], "Lingon-Myr-" + rand.Text()[:6], "Hjortron-Fjäll-" + rand.Text()[:6]}
	short := "K" + rand.Text()[:localserver.PasswordMinLength-2]
	// Another browser cannot use the completed order, even knowing its ref.
	if _, err := app.Service.SetPassword(ctx, stranger, o.OrderRef, good[0], good[0]); !errors.Is(err, provisioning.ErrIdentificationExpired) {
		t.Fatalf("a foreign browser with the order's ref: %v", err)
	}
	if _, err := app.Service.SetPassword(ctx, browser, "not-"+o.OrderRef, good[0], good[0]); !errors.Is(err, provisioning.ErrIdentificationExpired) {
		t.Fatalf("an order that is not the browser's: %v", err)
	}
	var ve *provisioning.ValidationError
	if _, err := app.Service.SetPassword(ctx, browser, o.OrderRef, good[0], good[1]); !errors.As(err, &ve) || ve.Errors[0].Field != "password2" {
		t.Fatalf("two different passwords: %v", err)
	}
	var refused *connectors.PasswordRefusedError
	if _, err := app.Service.SetPassword(ctx, browser, o.OrderRef, short, short); !errors.As(err, &refused) {
		t.Fatalf("a %d-character password: %v, want the directory's refusal", len(short), err)
	}
	if bind(t, app, dn, short) == nil {
		t.Fatal("the refused password works")
	}
	set, err := app.Service.SetPassword(ctx, browser, o.OrderRef, good[0], good[0])
	if err != nil || set.Username != "anna.berg" {
		t.Fatalf("set the password: %+v, %v", set, err)
	}
	if err := bind(t, app, dn, good[0]); err != nil {
		t.Fatalf("bind with the new password: %v", err)
	}
	// Single use.
	if _, err := app.Service.SetPassword(ctx, browser, o.OrderRef, good[1], good[1]); !errors.Is(err, provisioning.ErrIdentificationExpired) {
		t.Fatalf("a second password with one identification: %v", err)
	}

	// A forgotten password, twice more the same day; then the person's limit.
	for _, pw := range good[1:] {
		o := identify(t, app, sim, browser, "195001182046")
		if _, err := app.Service.SetPassword(ctx, browser, o.OrderRef, pw, pw); err != nil {
			t.Fatal(err)
		}
		if err := bind(t, app, dn, pw); err != nil {
			t.Fatalf("bind with the changed password: %v", err)
		}
	}
	if o := identify(t, app, sim, browser, "195001182046"); o.Status != connectors.BankIDFailed || o.Hint != "person_limit" {
		t.Fatalf("a fourth identification in a day: %+v", o)
	}

	want := []string{"password.identified", "password.refused", "password.set", "password.identified", "password.set",
		"password.identified", "password.set", "password.person_limit"}
	if got := auditActions(t, app, "password."); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("audit %v, want %v", got, want)
	}
	secrets := append([]string{short}, good...)
	for _, table := range everyTable(t, app) {
		if found := app.InClear(t, table, secrets...); len(found) > 0 {
			t.Errorf("a password in table %s: %v", table, found)
		}
	}
	if !strings.Contains(logs.String(), "level=") {
		t.Fatal("the service logged nothing at all: the log capture does not work")
	}
	for _, pw := range secrets {
		if strings.Contains(logs.String(), pw) {
			t.Errorf("the log holds a password")
		}
	}
}

// A person BankID identifies but behorig knows no active account of is refused, audited,
// and can set nothing; so is an identification that has expired.
func TestPasswordRefusals(t *testing.T) {
	sim, client := testenv.BankID(t, 0)
	app := testapp.New(t, testapp.Options{BankID: client})
	dn := withAccount(t, app)
	browser := rand.Text()

	o := identify(t, app, sim, browser, "198501139995") // Tova: no person here
	if o.Status != connectors.BankIDFailed || o.Hint != "no_account" || o.Username != "" {
		t.Fatalf("a person without an account: %+v", o)
	}
	if _, err := app.Service.SetPassword(ctx, browser, o.OrderRef, "Lång-Nog-Lösen1", "Lång-Nog-Lösen1"); !errors.Is(err, provisioning.ErrIdentificationExpired) {
		t.Fatalf("set a password without an account: %v", err)
	}
	if got := auditActions(t, app, "password."); strings.Join(got, " ") != "password.no_account" {
		t.Fatalf("audit %v", got)
	}
	// The refusal names nobody: no person, no personnummer.
	var person *string
	var data string
	if err := app.Pool.QueryRow(ctx, "SELECT person_id::text, data::text FROM audit_events WHERE action = 'password.no_account'").Scan(&person, &data); err != nil {
		t.Fatal(err)
	}
	if person != nil || strings.Contains(data, "198501139995") {
		t.Errorf("the refusal of an unknown person records %v, %s", person, data)
	}

	o = identify(t, app, sim, browser, "195001182046")
	if !o.Identified(app.Clock.Now()) {
		t.Fatalf("identified %+v", o)
	}
	app.Clock.Advance(11 * time.Minute)
	if _, err := app.Service.SetPassword(ctx, browser, o.OrderRef, "Lång-Nog-Lösen1", "Lång-Nog-Lösen1"); !errors.Is(err, provisioning.ErrIdentificationExpired) {
		t.Fatalf("an identification 11 minutes old: %v", err)
	}

	// Two posts at once with one identification make one change.
	o = identify(t, app, sim, browser, "195001182046")
	passwords := []string{"Rönnbär-Ett-" + rand.Text()[:6], "Rönnbär-Två-" + rand.Text()[:6]}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, pw := range passwords {
		wg.Go(func() { _, errs[i] = app.Service.SetPassword(ctx, browser, o.OrderRef, pw, pw) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Fatal("two passwords were set with one identification")
		case !errors.Is(err, provisioning.ErrPasswordBusy) && !errors.Is(err, provisioning.ErrIdentificationExpired):
			t.Fatalf("the second of two posts at once: %v", err)
		}
	}
	if winner < 0 {
		t.Fatalf("neither of two posts set the password: %v", errs)
	}
	if err := bind(t, app, dn, passwords[winner]); err != nil {
		t.Fatalf("bind with the password that won: %v", err)
	}
	if bind(t, app, dn, passwords[1-winner]) == nil {
		t.Fatal("the password that lost works")
	}

	// Anna's account disabled in the directory behind behorig's back: her record still says
	// active, and the directory decides.
	if err := app.Directory.DisableAccount(ctx, dn); err != nil {
		t.Fatal(err)
	}
	if o := identify(t, app, sim, browser, "195001182046"); o.Status != connectors.BankIDFailed || o.Hint != "no_account" {
		t.Fatalf("a person whose account is disabled in the directory: %+v", o)
	}

	// A running order is not replaced; a cancelled one is over.
	first, err := app.Service.StartPasswordOrder(ctx, browser, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Service.StartPasswordOrder(ctx, browser, "192.0.2.7"); !errors.Is(err, provisioning.ErrOrderRunning) {
		t.Fatalf("a second start while one runs: %v", err)
	}
	if err := app.Service.CancelPasswordOrder(ctx, browser); err != nil {
		t.Fatal(err)
	}
	if !sim.CancelledByRP(first.OrderRef) {
		t.Error("the order was not cancelled at BankID")
	}
	if got, err := app.Service.PasswordOrder(ctx, browser); err != nil || got.Status != connectors.BankIDFailed ||
		got.Hint != connectors.BankIDHintUserCancel {
		t.Fatalf("after cancel: %+v, %v", got, err)
	}
	if _, err := app.Service.PasswordOrder(ctx, "short"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Fatalf("a browser without a proper cookie: %v", err)
	}
}
