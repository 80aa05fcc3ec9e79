package remoteaccess_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/auth/yubiotp"
	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

// keyEnv is a database with the demo catalog (its remote-access system), an IT handler and a
// service over them, for the YubiKey tests.
type keyEnv struct {
	pool    *pgxpool.Pool
	box     *secret.Box
	service *remoteaccess.Service
	it      provisioning.Actor
	manager provisioning.Actor
	// usernames are the persons' accounts' (personWithRemoteAccess), for check's logins.
	usernames map[string]string
}

// keyPassword is every account's password in keyDirectory.
const keyPassword = "Nyckel-Lösen-1"

// keyDirectory stands in for the directory in the YubiKey tests, whose logins need a
// password that binds (the directory's own tests and the RADIUS tests bind to slapd): every
// account's is keyPassword. Any other call would panic on the nil interface.
type keyDirectory struct{ connectors.Directory }

func (keyDirectory) CheckPassword(_ context.Context, _, password string) (bool, error) {
	return password == keyPassword, nil
}

func newKeyEnv(t *testing.T) *keyEnv {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, testenv.PostgreSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := store.Migrate(ctx, pool, logger); err != nil {
		t.Fatal(err)
	}
	if err := devenv.LoadDemo(ctx, pool); err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(must(secret.ParseKey(secret.NewKey())))
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.NewLog(box.AuditKeys())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := remoteaccess.New(remoteaccess.Config{DB: pool, Box: box, Audit: log, Directory: keyDirectory{}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	e := &keyEnv{pool: pool, box: box, service: svc, usernames: map[string]string{}}
	e.it = provisioning.Actor{ID: e.principal(t, "it-handler", "Ingrid IT"), Subject: "it-handler",
		Roles: []provisioning.Role{provisioning.RoleITHandler}}
	e.manager = provisioning.Actor{ID: e.principal(t, "manager", "Maria Chef"), Subject: "manager",
		Roles: []provisioning.Role{provisioning.RoleRequester}, Attests: true}
	return e
}

func (e *keyEnv) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (e *keyEnv) principal(t *testing.T, subject, name string) string {
	t.Helper()
	var id string
	if err := e.pool.QueryRow(context.Background(), `INSERT INTO principals (subject, display_name) VALUES ($1, $2) RETURNING id`,
		subject, name).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

var personSeq int

// personWithRemoteAccess makes a person whose approved remote-access order asked for factor
// ("yubikey" or "sms"), with its active grant; it returns the person's id and the grant's.
func (e *keyEnv) personWithRemoteAccess(t *testing.T, factor string) (personID, grantID string) {
	t.Helper()
	ctx := context.Background()
	personSeq++
	pnr := fmt.Sprintf("1980010%d-0000", personSeq)
	err := e.pool.QueryRow(ctx, `INSERT INTO persons (personnummer_enc, personnummer_index, birth_date, given_name, surname, employee_type)
		VALUES ($1, $2, '1980-01-01', 'Anna', $3, 'employee') RETURNING id`,
		e.box.Seal([]byte(pnr), "persons.personnummer"), e.box.Index([]byte(pnr), "persons.personnummer"),
		fmt.Sprintf("Andersson%d", personSeq)).Scan(&personID)
	if err != nil {
		t.Fatal(err)
	}
	var requestID, itemID, unitID string
	if err := e.pool.QueryRow(ctx, `SELECT id FROM units ORDER BY ansvarskod LIMIT 1`).Scan(&unitID); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := e.pool.QueryRow(ctx, `INSERT INTO requests (number, kind, status, requester_id, approver_id, person_id, unit_id,
			cost_centre, created_at, updated_at, remote_factor)
		VALUES ($1, 'remote_access', 'completed', $2, $2, $3, $4, '5110', $5, $5, $6) RETURNING id`,
		fmt.Sprintf("F-%d", personSeq), e.manager.ID, personID, unitID, now, factor).Scan(&requestID); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(ctx, `INSERT INTO request_items (request_id, position, system_id, unit_id)
		VALUES ($1, 1, $2, $3) RETURNING id`, requestID, devenv.DemoRemoteAccess.ID, unitID).Scan(&itemID); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(ctx, `INSERT INTO grants (person_id, request_id, item_id, system_id, unit_id, group_name, group_key, starts_at, state)
		VALUES ($1, $2, $3, $4, $5, 'vpn-users', 'vpn-users', $6, 'active') RETURNING id`,
		personID, requestID, itemID, devenv.DemoRemoteAccess.ID, unitID, now.Add(-time.Hour)).Scan(&grantID); err != nil {
		t.Fatal(err)
	}
	username := fmt.Sprintf("andersson%d", personSeq)
	e.exec(t, `INSERT INTO usernames (username, person_id) VALUES ($1, $2)`, username, personID)
	e.exec(t, `INSERT INTO accounts (person_id, directory, username, dn, state) VALUES ($1, 'ldap', $2, $3, 'active')`,
		personID, username, "uid="+username+",ou=people,dc=example,dc=org")
	e.usernames[personID] = username
	return personID, grantID
}

// testKey is a key as the personalization tool programmed it, able to type OTPs.
type testKey struct {
	serial    int64
	publicID  string
	privateID [6]byte
	aesKey    []byte
	counter   uint16
	use       uint8
}

func newTestKey(n int) *testKey {
	k := &testKey{serial: int64(4000000 + n), publicID: yubiotp.EncodeModhex([]byte{0xff, 0, 0, 0, 0, byte(n)}),
		privateID: [6]byte{0xa0, 0x9a, 0xa8, 0xbf, 0x3d, byte(n)}, aesKey: make([]byte, 16), counter: 1}
	for i := range k.aesKey {
		k.aesKey[i] = byte(n*16 + i)
	}
	return k
}

// csvLine is the key's line in ykman's (Yubico) format.
func (k *testKey) csvLine() string {
	return fmt.Sprintf("%d,%s,%s,%s,,2026-12-01T08:00:00,\n", k.serial, k.publicID, hex.EncodeToString(k.privateID[:]), hex.EncodeToString(k.aesKey))
}

// press types the next OTP, as pressing the key's button does.
func (k *testKey) press(t testing.TB) string {
	t.Helper()
	k.use++
	otp, err := yubiotp.Encode(k.publicID, k.aesKey, yubiotp.Token{PrivateID: k.privateID, Counter: k.counter, Use: k.use, Timestamp: 0x1234, Random: 0xbeef})
	if err != nil {
		t.Fatal(err)
	}
	return otp
}

// replug starts a new session, as taking the key out and putting it back does.
func (k *testKey) replug() { k.counter++; k.use = 0 }

func (e *keyEnv) importKeys(t *testing.T, keys ...*testKey) {
	t.Helper()
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k.csvLine())
	}
	res, err := e.service.Importer().Import(context.Background(), "cli", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != len(keys) {
		t.Fatalf("imported %d, want %d", res.Imported, len(keys))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestImportBothFormats(t *testing.T) {
	e := newKeyEnv(t)
	ctx := context.Background()
	// The personalization tool's log (traditional format, no serial) with the other event
	// types it writes, and ykman's Yubico format with serial and a trailing comma.
	file := `LOGGING START,01/04/17 00:00
Yubico OTP,2017-04-01 00:00,1,vvrginnubkjj,a09aa8bf3dd1,e2a2e4c88067a1e2efe238f8d2d3f76c,,,0,0,0,0,0,0,0,0,0,0
OATH-HOTP,2017-04-01 00:01,2,,,3132333435363738393031323334353637383930,,,0,0,0,6,0,0,0,0,0,0
4711042,vvccccdfhlbd,a0 9a a8 bf 3d d2,E2A2E4C88067A1E2EFE238F8D2D3F76D,000000000000,2017-04-01T00:02:00,
`
	res, err := e.service.Importer().Import(ctx, "cli", strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 2 || res.Skipped != 2 {
		t.Fatalf("result %+v, want 2 imported, 2 skipped", res)
	}
	keys, err := e.service.YubiKeys(ctx, e.it)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, k := range keys {
		got[k.PublicID] = k.Serial
		if k.State != remoteaccess.KeyInStock {
			t.Errorf("key %s is %s, want in stock", k.PublicID, k.State)
		}
	}
	if len(got) != 2 || got["vvrginnubkjj"] != 0 || got["vvccccdfhlbd"] != 4711042 {
		t.Fatalf("keys %v", got)
	}
	// At rest the secrets are sealed: neither the private id nor the AES key is in the row.
	var row string
	if err := e.pool.QueryRow(ctx, `SELECT string_agg(encode(private_id_enc, 'hex') || encode(aes_key_enc, 'hex'), ',') FROM yubikeys`).Scan(&row); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"a09aa8bf3dd1", "e2a2e4c88067a1e2efe238f8d2d3f76c", "a09aa8bf3dd2"} {
		if strings.Contains(row, secret) {
			t.Errorf("%s stored in clear", secret)
		}
	}
	// The audit event names the keys, never their secrets.
	var data string
	if err := e.pool.QueryRow(ctx, `SELECT data::text FROM audit_events WHERE action = 'yubikey.imported'`).Scan(&data); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(data, "vvrginnubkjj") || strings.Contains(data, "a09aa8bf3dd1") || strings.Contains(data, "e2a2e4c8") {
		t.Errorf("audit data %s", data)
	}
}

func TestImportRefusesBadLinesAndDuplicates(t *testing.T) {
	e := newKeyEnv(t)
	ctx := context.Background()
	k1, k2 := newTestKey(1), newTestKey(2)
	e.importKeys(t, k1)
	file := k2.csvLine() + // good, but the file is refused as a whole
		k1.csvLine() + // already imported
		"4000009,vvcccccccccc,a09aa8bf3d,e2a2e4c88067a1e2efe238f8d2d3f76c,,,\n" + // short private id
		"Yubico OTP,x,1,vv0123,a09aa8bf3dd1,e2a2e4c88067a1e2efe238f8d2d3f76c\n" + // hex public id
		"4000010,vvcccccccccd,a09aa8bf3dd1,not-a-key-at-all-not-a-key-at-al,,,\n" + // bad key
		k2.csvLine() // twice in the file
	_, err := e.service.Importer().Import(ctx, "cli", strings.NewReader(file))
	var ie *remoteaccess.ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an ImportError", err)
	}
	msg := err.Error()
	for _, want := range []string{"line 3: private id", "line 4: public id", "line 5: AES key", "line 6: public id: " + k2.publicID + " is also on line 1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "e2a2e4c8") || strings.Contains(msg, "a09aa8bf3d") {
		t.Errorf("the error quotes a secret:\n%s", msg)
	}
	// Only the duplicate left: refused because k1 is in the database already, nothing imported.
	_, err = e.service.Importer().Import(ctx, "cli", strings.NewReader(k2.csvLine()+k1.csvLine()))
	if err == nil || !strings.Contains(err.Error(), "line 2: public id: a key with public id "+k1.publicID) {
		t.Fatalf("err = %v, want line 2 refused as already imported", err)
	}
	var n int
	e.pool.QueryRow(ctx, `SELECT count(*) FROM yubikeys`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d keys stored, want only the first import's 1", n)
	}
}

// handOut imports the key, hands it out to a new person with a YubiKey order and returns
// the person's id.
func (e *keyEnv) handOut(t *testing.T, k *testKey) string {
	t.Helper()
	e.importKeys(t, k)
	person, _ := e.personWithRemoteAccess(t, "yubikey")
	if _, err := e.service.HandOut(context.Background(), e.it, person, fmt.Sprint(k.serial), ""); err != nil {
		t.Fatal(err)
	}
	return person
}

// check logs the person in with keyPassword and the OTP, as a gateway would, and gives
// whether the login was accepted, with the reason its audit event gives when not.
func check(t *testing.T, e *keyEnv, person, otp string) (bool, string) {
	t.Helper()
	res, err := e.service.Login(context.Background(), remoteaccess.LoginAttempt{Client: "vpn", Username: e.usernames[person],
		Password: keyPassword + otp})
	if err != nil {
		t.Fatal(err)
	}
	return res.Outcome == remoteaccess.LoginAccepted, e.lastReason(t, person)
}

// lastReason is the reason the person's last login was refused for, from its audit event.
func (e *keyEnv) lastReason(t *testing.T, person string) string {
	t.Helper()
	var reason string
	if err := e.pool.QueryRow(context.Background(), `SELECT coalesce(data->>'reason', '') FROM audit_events
		WHERE action = 'remote_access.login' AND person_id = $1 ORDER BY id DESC LIMIT 1`, person).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	return reason
}

func TestHandOutNeedsITAndAYubiKeyOrder(t *testing.T) {
	e := newKeyEnv(t)
	ctx := context.Background()
	k := newTestKey(1)
	e.importKeys(t, k)
	withYubiKey, _ := e.personWithRemoteAccess(t, "yubikey")
	withSMS, _ := e.personWithRemoteAccess(t, "sms")

	for person, want := range map[string]bool{withYubiKey: true, withSMS: false} {
		if got, err := e.service.AwaitsYubiKey(ctx, e.it, person); err != nil || got != want {
			t.Errorf("AwaitsYubiKey = %v, %v; want %v", got, err, want)
		}
	}
	if _, err := e.service.AwaitsYubiKey(ctx, e.manager, withYubiKey); !errors.Is(err, remoteaccess.ErrForbidden) {
		t.Errorf("a manager asked whether a key is awaited: %v", err)
	}
	if _, err := e.service.HandOut(ctx, e.manager, withYubiKey, k.publicID, ""); !errors.Is(err, remoteaccess.ErrForbidden) {
		t.Errorf("a manager handed out a key: %v", err)
	}
	var ve *provisioning.ValidationError
	if _, err := e.service.HandOut(ctx, e.it, withSMS, k.publicID, ""); !errors.As(err, &ve) || ve.Errors[0].Field != "person" {
		t.Errorf("a key for an SMS order: %v", err)
	}
	if _, err := e.service.HandOut(ctx, e.it, withYubiKey, "4999999", ""); !errors.As(err, &ve) || ve.Errors[0].Field != "yubikey" {
		t.Errorf("an unknown serial: %v", err)
	}
	handout, err := e.service.HandOut(ctx, e.it, withYubiKey, k.publicID, "Kvitterad på plats")
	if err != nil {
		t.Fatal(err)
	}
	// A key cannot be handed out twice.
	other, _ := e.personWithRemoteAccess(t, "yubikey")
	if _, err := e.service.HandOut(ctx, e.it, other, fmt.Sprint(k.serial), ""); !errors.As(err, &ve) {
		t.Errorf("the same key twice: %v", err)
	}
	r, err := e.service.Receipt(ctx, e.it, handout)
	if err != nil {
		t.Fatal(err)
	}
	if r.PersonID != withYubiKey || r.Key.Serial != k.serial || r.HandedOutBy != "Ingrid IT" || r.Note != "Kvitterad på plats" || r.ReturnedAt != nil {
		t.Errorf("receipt %+v", r)
	}
	if _, err := e.service.Receipt(ctx, e.manager, handout); !errors.Is(err, remoteaccess.ErrForbidden) {
		t.Errorf("a manager read a receipt: %v", err)
	}
	var kind, grant string
	if err := e.pool.QueryRow(ctx, `SELECT kind, grant_id FROM authenticators WHERE person_id = $1 AND revoked_at IS NULL`, withYubiKey).Scan(&kind, &grant); err != nil || kind != "yubikey" {
		t.Errorf("factor %q, %v", kind, err)
	}
}

// keyInUse hands a key out to a new person, who logs in with it once: the service has opened
// the key. It returns the env, the key and the person's id.
func keyInUse(t *testing.T) (*keyEnv, *testKey, string) {
	t.Helper()
	e := newKeyEnv(t)
	k := newTestKey(1)
	person := e.handOut(t, k)
	if ok, reason := check(t, e, person, k.press(t)); !ok {
		t.Fatalf("the key's first login: %s", reason)
	}
	return e, k, person
}

func TestReturnRevokesTheFactor(t *testing.T) {
	e, k, person := keyInUse(t)
	ctx := context.Background()
	// The grant ended (as H4's revocation does it): the factor revoked, the key to be
	// returned. The key stops working at once and shows in IT's list.
	e.exec(t, `UPDATE authenticators SET revoked_at = now() WHERE person_id = $1`, person)
	e.exec(t, `UPDATE yubikeys SET state = 'to_be_returned' WHERE person_id = $1`, person)
	if ok, reason := check(t, e, person, k.press(t)); ok || reason != remoteaccess.ReasonNoFactor {
		t.Fatalf("revoked factor: ok=%v reason=%s", ok, reason)
	}
	list, err := e.service.YubiKeysToBeReturned(ctx, e.it)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Serial != k.serial || list[0].PersonID != person || list[0].PersonName == "" {
		t.Fatalf("to be returned: %+v", list)
	}
	if _, err := e.service.YubiKeysToBeReturned(ctx, e.manager); !errors.Is(err, remoteaccess.ErrForbidden) {
		t.Errorf("a manager read IT's list: %v", err)
	}
	if err := e.service.Return(ctx, e.it, fmt.Sprint(k.serial), "Återlämnad"); err != nil {
		t.Fatal(err)
	}
	if list, _ := e.service.YubiKeysToBeReturned(ctx, e.it); len(list) != 0 {
		t.Fatalf("still to be returned: %+v", list)
	}
	// Back in stock, the key can go to the next person, with its counters where they were:
	// the old holder's unused OTPs stay useless.
	old := k.press(t)
	next, _ := e.personWithRemoteAccess(t, "yubikey")
	if _, err := e.service.HandOut(ctx, e.it, next, k.publicID, ""); err != nil {
		t.Fatal(err)
	}
	k.replug()
	if ok, reason := check(t, e, next, k.press(t)); !ok {
		t.Fatalf("the next holder's OTP: %s", reason)
	}
	if ok, _ := check(t, e, next, old); ok {
		t.Fatal("an OTP typed before the return was accepted")
	}
}

func TestReturnWhileHandedOut(t *testing.T) {
	e := newKeyEnv(t)
	ctx := context.Background()
	k := newTestKey(1)
	person := e.handOut(t, k)
	if err := e.service.Return(ctx, e.it, k.publicID, ""); err != nil {
		t.Fatal(err)
	}
	if ok, reason := check(t, e, person, k.press(t)); ok || reason != remoteaccess.ReasonNoFactor {
		t.Fatalf("returned key: ok=%v reason=%s", ok, reason)
	}
	var revoked bool
	e.pool.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM authenticators WHERE person_id = $1`, person).Scan(&revoked)
	if !revoked {
		t.Error("the factor is live after the return")
	}
	var ve *provisioning.ValidationError
	if err := e.service.Return(ctx, e.it, k.publicID, ""); !errors.As(err, &ve) {
		t.Errorf("returned twice: %v", err)
	}
}

func TestLockedFactorRejects(t *testing.T) {
	e := newKeyEnv(t)
	k := newTestKey(1)
	person := e.handOut(t, k)
	// Locked before the key's first use, and after it (its secrets then known to the
	// service): refused alike.
	another := newTestKey(2)
	other := e.handOut(t, another)
	if ok, reason := check(t, e, other, another.press(t)); !ok {
		t.Fatal(reason)
	}
	e.exec(t, `UPDATE authenticators SET locked_at = now() WHERE person_id IN ($1, $2)`, person, other)
	if ok, reason := check(t, e, other, another.press(t)); ok || reason != remoteaccess.ReasonFactorLocked {
		t.Fatalf("locked after use: ok=%v reason=%s", ok, reason)
	}
	otp := k.press(t)
	if ok, reason := check(t, e, person, otp); ok || reason != remoteaccess.ReasonFactorLocked {
		t.Fatalf("locked: ok=%v reason=%s", ok, reason)
	}
	// A rejected OTP was not spent: after IT's unlock it works.
	e.exec(t, `UPDATE authenticators SET locked_at = NULL WHERE person_id = $1`, person)
	if ok, reason := check(t, e, person, otp); !ok {
		t.Fatalf("after unlock: %s", reason)
	}
}

// A hand-out while a revocation records the grant's end: the revocation holds the grant, so
// the hand-out waits for it and then finds no grant to hand a key out for. Read without the
// lock, the grant was still active, and the hand-out made a live factor for an ended grant
// that no revocation would revoke again, and the key never went on IT's list of keys to
// return.
// lockWait returns once a statement waits for a lock, or with what done says if the work it
// waits for ends first (nil then means that it did not wait).
func (e *keyEnv) lockWait(t *testing.T, done <-chan error) error {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-done:
			if err == nil {
				err = errors.New("done without waiting")
			}
			return err
		default:
		}
		var waiting bool
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) > 0 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			return nil
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing waited for a lock, nor finished")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// IT returns a key while a login holds its factor and is about to accept the OTP (move the
// key's counter), as the subjects' read does: the return waits for the login, then revokes;
// neither fails. Taking the key first, the return deadlocked with such a login.
func TestReturnWaitsForALoginOfTheKey(t *testing.T) {
	e := newKeyEnv(t)
	ctx := context.Background()
	k := newTestKey(1)
	person := e.handOut(t, k)
	login, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer login.Rollback(ctx)
	if _, err := login.Exec(ctx, `SELECT id FROM authenticators WHERE person_id = $1 AND revoked_at IS NULL FOR NO KEY UPDATE`, person); err != nil {
		t.Fatal(err)
	}
	returned := make(chan error, 1)
	go func() { returned <- e.service.Return(ctx, e.it, k.publicID, "") }()
	if err := e.lockWait(t, returned); err != nil {
		t.Fatalf("the return went ahead of a login holding the factor: %v", err)
	}
	if _, err := login.Exec(ctx, `UPDATE yubikeys SET last_use = last_use + 1 WHERE public_id = $1`, k.publicID); err != nil {
		t.Fatalf("the login's acceptance of the OTP: %v", err)
	}
	if err := login.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-returned; err != nil {
		t.Fatalf("the return: %v", err)
	}
	var state string
	var live int
	if err := e.pool.QueryRow(ctx, `SELECT state, (SELECT count(*) FROM authenticators WHERE person_id = $1 AND revoked_at IS NULL)
		FROM yubikeys WHERE public_id = $2`, person, k.publicID).Scan(&state, &live); err != nil || state != remoteaccess.KeyInStock || live != 0 {
		t.Fatalf("after the return: key %s, %d live factors (%v)", state, live, err)
	}
}

func TestHandOutWaitsForARevocationOfTheGrant(t *testing.T) {
	e := newKeyEnv(t)
	ctx := context.Background()
	k := newTestKey(1)
	e.importKeys(t, k)
	person, grant := e.personWithRemoteAccess(t, "yubikey")

	revocation, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer revocation.Rollback(ctx)
	if _, err := revocation.Exec(ctx, "UPDATE grants SET state = 'revoked', revoked_at = now() WHERE id = $1", grant); err != nil {
		t.Fatal(err)
	}
	handedOut := make(chan error, 1)
	go func() {
		_, err := e.service.HandOut(ctx, e.it, person, k.publicID, "")
		handedOut <- err
	}()
	// The hand-out waits for the revocation's lock on the grant (or, without it, is done).
	if err := e.lockWait(t, handedOut); err != nil {
		t.Fatalf("the hand-out went ahead of the revocation holding the grant: %v", err)
	}
	if err := revocation.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var ve *provisioning.ValidationError
	if err := <-handedOut; !errors.As(err, &ve) || ve.Errors[0].Field != "person" {
		t.Fatalf("a hand-out for a grant that ended meanwhile: %v", err)
	}
	var live int
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM authenticators WHERE grant_id = $1 AND revoked_at IS NULL", grant).Scan(&live); err != nil || live != 0 {
		t.Fatalf("%d live factors (%v) for the revoked grant", live, err)
	}
}
