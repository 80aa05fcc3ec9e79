package devenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/auth/yubiotp"
	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

// DemoRemoteAccess is the demo catalog's remote-access system, as Norrköping orders it
// ("Beställning Fjärråtkomst"): its own directory group, 130 kr per month and user, and the
// information-security training whose certificate the order must carry.
var DemoRemoteAccess = struct {
	ID, Name, Group, TrainingURL string
	MonthlyPriceSEK              int
}{"fjarratkomst", "Fjärråtkomst", "fjarratkomst", "https://utbildning.example/informationssakerhet", 130}

// loadRemoteAccessSystem adds the remote-access system unless it is there.
func loadRemoteAccessSystem(ctx context.Context, tx pgx.Tx) error {
	s := DemoRemoteAccess
	if _, err := tx.Exec(ctx, `INSERT INTO systems (id, name, has_roles, needs_terms, group_template, needs_certificate,
			training_url, monthly_price_sek, remote_access)
		VALUES ($1, $2, false, false, $3, true, $4, $5, true) ON CONFLICT (id) DO NOTHING`,
		s.ID, s.Name, s.Group, s.TrainingURL, s.MonthlyPriceSEK); err != nil {
		return fmt.Errorf("load system %s: %w", s.ID, err)
	}
	return nil
}

// DemoRemotePerson is the demo person with remote access: ordered with an SMS code and
// with a YubiKey (two approved orders), her password set in the directory, her mobile a
// number PTS keeps for fiction. The README's radclient examples sign in as her.
var DemoRemotePerson = struct {
	Personnummer, GivenName, Surname, Username, Mobile, Password string
}{"19800412-2381", "Frida", "Fjärr", "frida.fjarr", "070-174 06 10", "Fjarr-demo-2026"}

// DemoYubiKey is the demo key, as the personalization tool would log it: only for
// `behorig dev`, whose page plays the key (PressYubiKey).
var DemoYubiKey = struct {
	Serial                      int64
	PublicID, PrivateID, AESKey string
}{9000001, "vvdevbcdefgh", "5a4b3c2d1e0f", "8c1f3e7a52d94b06a1e7c3f5d2b8906e"}

// preferredRADIUSPort is where `behorig dev` serves RADIUS: the standard port when it is free.
const preferredRADIUSPort = 1812

// configureRADIUS lets the dev stack's RADIUS server listen on 127.0.0.1, with the local
// machine as its one gateway and a shared secret made once and kept in dir, so that
// radclient on this machine can ask it (.dev/env: BEHORIG_RADIUS_ADDR, BEHORIG_RADIUS_SECRET).
func (e *Env) configureRADIUS() error {
	port := preferredRADIUSPort
	if c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
		c.Close()
	} else {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("find a UDP port for RADIUS: %w", err)
		}
		port = c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
	}
	secret, err := e.keptSecret("radius.secret", func() string { return "dev-radius-" + rand.Text() })
	if err != nil {
		return err
	}
	e.Config.RemoteAccess.RADIUS.Listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	e.Config.RemoteAccess.RADIUS.Clients = []config.RADIUSClient{{Name: "dev", Address: "127.0.0.1", Secret: secret}}
	return nil
}

// keptSecret reads a secret kept in dir, or makes it and keeps it, so that scripts keep
// working across restarts.
func (e *Env) keptSecret(name string, make func() string) (string, error) {
	path := filepath.Join(e.Dir, name)
	data, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(data)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	s := make()
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return s, nil
}

// demoCertificate is the "training certificate" attached to the demo orders.
var demoCertificate = []byte("%PDF-1.4\n% Intyg om genomförd informationssäkerhetsutbildning (demo)\n")

// SeedRemoteAccess gives the demo person remote access as a user would get it: an order
// with an SMS code (one-step attested by Maria Chef, the certificate verified by IT) and an
// order with a YubiKey; her account provisioned at once, her password set, the demo key
// imported and handed out to her. Every step is skipped when done, so a restarted
// `behorig dev` keeps what is there (and what was changed by hand).
func SeedRemoteAccess(ctx context.Context, service *provisioning.Service, remote *remoteaccess.Service,
	dir connectors.Directory) error {
	manager, err := service.RegisterPrincipal(ctx, principalBySubject("manager"))
	if err != nil {
		return err
	}
	it, err := service.RegisterPrincipal(ctx, principalBySubject("it-handler"))
	if err != nil {
		return err
	}
	p := DemoRemotePerson
	personID, err := demoOrder(ctx, service, manager, it, provisioning.RemoteFactorSMS)
	if err != nil {
		return err
	}
	if _, err := demoOrder(ctx, service, manager, it, provisioning.RemoteFactorYubiKey); err != nil {
		return err
	}
	if _, err := service.Converge(ctx, personID, false); err != nil {
		return fmt.Errorf("provision the demo person: %w", err)
	}
	person, err := service.Person(ctx, it, personID)
	if err != nil {
		return err
	}
	if len(person.Accounts) == 0 || person.Accounts[0].DN == "" {
		return fmt.Errorf("the demo person %s has no account in the directory", p.Username)
	}
	if err := dir.SetPassword(ctx, person.Accounts[0].DN, p.Password); err != nil {
		return fmt.Errorf("set the demo person's password: %w", err)
	}
	return demoYubiKey(ctx, remote, it, personID)
}

func principalBySubject(subject string) provisioning.Principal {
	for _, p := range DemoPrincipals {
		if p.Subject == subject {
			return p.Principal
		}
	}
	panic("devenv: no demo principal " + subject)
}

// demoOrder submits the demo person's remote-access order with the factor, attested in the
// same step by the manager, and has IT verify its certificate. It returns her id. The submit
// token names the demo order, so that a second start finds the first order instead of
// ordering again.
func demoOrder(ctx context.Context, service *provisioning.Service, manager, it provisioning.Actor, factor string) (string, error) {
	p := DemoRemotePerson
	sub, err := service.Submit(ctx, manager, provisioning.SubmitInput{Kind: provisioning.KindRemoteAccess,
		Person: provisioning.PersonInput{Personnummer: p.Personnummer, GivenName: p.GivenName, Surname: p.Surname,
			Username: p.Username, Mobile: p.Mobile, EmployeeType: provisioning.EmployeeTypeConsultant},
		ValidTo: "2099-12-31", Unit: "5110", Approver: manager.ID, RemoteFactor: factor, SubmitToken: "demo-remote-access-" + factor,
		Description: "Demo: dokumentation i Treserva hemifrån",
		Attachments: []provisioning.Upload{{Name: "intyg.pdf", Data: demoCertificate}}})
	if err != nil {
		return "", fmt.Errorf("order remote access for the demo person: %w", err)
	}
	v, err := service.Request(ctx, it, sub.ID)
	if err != nil {
		return "", err
	}
	if v.Status == provisioning.StatusAwaitingCertificate && len(v.Attachments) > 0 {
		if _, err := service.VerifyCertificate(ctx, it, sub.ID, v.Attachments[0].ID); err != nil {
			return "", fmt.Errorf("verify the demo certificate: %w", err)
		}
	}
	return v.Person.ID, nil
}

// demoYubiKey imports the demo key unless it is there and hands it out to the demo person
// unless she has it.
func demoYubiKey(ctx context.Context, remote *remoteaccess.Service, it provisioning.Actor, personID string) error {
	k := DemoYubiKey
	keys, err := remote.PersonYubiKeys(ctx, it, personID)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(keys, func(y remoteaccess.YubiKey) bool { return y.Serial == k.Serial }) {
		return nil
	}
	csv := fmt.Sprintf("%d,%s,%s,%s,,,\n", k.Serial, k.PublicID, k.PrivateID, k.AESKey)
	if _, err := remote.Importer().Import(ctx, "dev", strings.NewReader(csv)); err != nil && !isDuplicate(err) {
		return fmt.Errorf("import the demo YubiKey: %w", err)
	}
	if _, err := remote.HandOut(ctx, it, personID, strconv.FormatInt(k.Serial, 10), "demo"); err != nil {
		return fmt.Errorf("hand out the demo YubiKey: %w", err)
	}
	return nil
}

// isDuplicate tells an import refused because the key is there already.
func isDuplicate(err error) bool {
	var ie *remoteaccess.ImportError
	return errors.As(err, &ie)
}

// PressYubiKey plays the demo key: a fresh OTP whose (counter, use) is above both the last
// one behorig accepted and the last one pressed (after), as a real key's would be.
func PressYubiKey(ctx context.Context, pool *pgxpool.Pool, after [2]int) (string, [2]int, error) {
	k := DemoYubiKey
	var counter, use int
	if err := pool.QueryRow(ctx, "SELECT last_counter, last_use FROM yubikeys WHERE public_id = $1", k.PublicID).
		Scan(&counter, &use); err != nil {
		return "", after, fmt.Errorf("read the demo YubiKey: %w", err)
	}
	if after[0] > counter || (after[0] == counter && after[1] > use) {
		counter, use = after[0], after[1]
	}
	if use++; use > 255 { // the use counter wraps; the key then counts a new session
		counter, use = counter+1, 1
	}
	if counter == 0 {
		counter = 1 // a key's first session is 1
	}
	var t yubiotp.Token
	priv, err := hex.DecodeString(k.PrivateID)
	if err != nil {
		return "", after, err
	}
	copy(t.PrivateID[:], priv)
	t.Counter, t.Use = uint16(counter), uint8(use)
	var r [5]byte
	rand.Read(r[:])
	t.Timestamp = uint32(r[0]) | uint32(r[1])<<8 | uint32(r[2])<<16
	t.Random = uint16(r[3]) | uint16(r[4])<<8
	key, err := hex.DecodeString(k.AESKey)
	if err != nil {
		return "", after, err
	}
	otp, err := yubiotp.Encode(k.PublicID, key, t)
	return otp, [2]int{counter, use}, err
}

// demoRemoteMobile is the demo person's mobile as it is stored and the SMS outbox names it.
func demoRemoteMobile() string {
	m, err := provisioning.NormalizeMobile(DemoRemotePerson.Mobile)
	if err != nil {
		panic("devenv: the demo mobile is not a mobile number: " + err.Error())
	}
	return m
}

// printRemoteAccess tells the developer how to sign in over RADIUS.
func (e *Env) printRemoteAccess(w io.Writer) {
	p := DemoRemotePerson
	fmt.Fprintf(w, `Remote access (RADIUS)  udp %s, gateway 127.0.0.1, secret $BEHORIG_RADIUS_SECRET
  %s %s signs in as %s / %s with an SMS code (to %s) or the demo YubiKey (serial %d).
  The dev page %s presses the key and shows the SMS; radclient examples in README.md.

`, e.Config.RemoteAccess.RADIUS.Listen, p.GivenName, p.Surname, p.Username, p.Password, demoRemoteMobile(),
		DemoYubiKey.Serial, e.App.URL)
}
