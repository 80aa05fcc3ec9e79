package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/auth/oidc"
	"github.com/behorig/behorig/auth/session"
	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/api"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/internal/devidp"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/internal/web"
	"github.com/behorig/behorig/remoteaccess"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const idle = 30 * time.Minute

// site is behorig's web side and API on real PostgreSQL and slapd, signing in through the
// dev OpenID Provider, all over real HTTP.
type site struct {
	app    *testapp.App
	remote *remoteaccess.Service
	idp    *devenv.IdP
	url    string
	client *http.Client // keeps cookies, does not follow redirects
}

type siteOptions struct {
	// bankID is BankID for the domain; nil offers paper only.
	bankID connectors.BankID
	// mailer sends the terms e-mail; default the outbox table.
	mailer connectors.Mailer
	// jobs runs the job runner, so that approved requests are provisioned in LDAP.
	jobs bool
	// extraIdPs are configured beside the dev IdP's two, e.g. one that is down.
	extraIdPs []config.IdentityProvider
	// logger, when set, receives what the whole site logs (the domain, jobs and web).
	logger *slog.Logger
}

func newSite(t testing.TB, opts siteOptions) *site {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	app := testapp.New(t, testapp.Options{NoJobs: !opts.jobs, BaseURL: base, Mailer: opts.mailer, BankID: opts.bankID,
		Logger: opts.logger})
	idp, err := devenv.StartIdP("127.0.0.1", 0, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Server.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	if opts.logger != nil {
		logger = opts.logger
	}
	rp := oidc.New(ctx, base, append(idp.Providers, opts.extraIdPs...), idp.APIClients, oidc.Options{Logger: logger})
	sessions, err := session.New(app.Pool, session.Config{Idle: idle, Absolute: 10 * time.Hour, Now: app.Clock.Now, Box: app.Box})
	if err != nil {
		t.Fatal(err)
	}
	webServer, err := web.New(app.Service, rp, sessions, base,
		[]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}, logger)
	if err != nil {
		t.Fatal(err)
	}
	webServer.UseRemoteAccess(app.Remote)
	apiServer, err := api.New(ctx, app.Service, api.Config{APIClients: idp.APIClients, AccessTokens: rp, Sessions: webServer, Logger: logger,
		RemoteAccess: app.Remote})
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: webServer.Handler(apiServer.Handler())}}
	srv.Start()
	t.Cleanup(srv.Close)
	readyCtx, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	if len(opts.extraIdPs) == 0 {
		if err := rp.Ready(readyCtx); err != nil {
			t.Fatalf("dev IdP discovery: %v", err)
		}
	}
	return &site{app: app, remote: app.Remote, idp: idp, url: base, client: newClient()}
}

func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (s *site) get(t testing.TB, u string) *http.Response {
	t.Helper()
	if strings.HasPrefix(u, "/") {
		u = s.url + u
	}
	resp, err := s.client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func body(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// toCallback goes from the sign-in button to the IdP, picks the user there as a person would,
// and returns the callback URL the IdP sends the browser back to (not yet followed).
func (s *site) toCallback(t testing.TB, idp, user string) string {
	t.Helper()
	return s.toCallbackFrom(t, "/login/"+idp, user)
}

// toCallbackFrom is toCallback from a sign-in link such as /login/ad?return=/requests/1.
func (s *site) toCallbackFrom(t testing.TB, start, user string) string {
	t.Helper()
	resp := s.get(t, start)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: %d %s", start, resp.StatusCode, body(t, resp))
	}
	authorize, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := authorize.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("state") == "" || q.Get("nonce") == "" {
		t.Fatalf("authorization request lacks PKCE S256, state or nonce: %s", authorize)
	}
	page := s.get(t, authorize.String())
	if page.StatusCode != http.StatusOK {
		t.Fatalf("IdP sign-in page: %d %s", page.StatusCode, body(t, page))
	}
	form := url.Values{}
	for k, v := range q {
		form[k] = v
	}
	form.Set("user", user)
	authorize.RawQuery = ""
	picked, err := s.client.PostForm(authorize.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer picked.Body.Close()
	if picked.StatusCode != http.StatusFound {
		t.Fatalf("IdP did not redirect back: %d %s", picked.StatusCode, body(t, picked))
	}
	return picked.Header.Get("Location")
}

// signIn signs in all the way and returns the callback's answer.
func (s *site) signIn(t testing.TB, idp, user string) *http.Response {
	t.Helper()
	return s.get(t, s.toCallback(t, idp, user))
}

func (s *site) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.app.Pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *site) me(t *testing.T) (int, map[string]any) {
	t.Helper()
	resp := s.get(t, "/api/v1/me")
	var me map[string]any
	json.NewDecoder(resp.Body).Decode(&me)
	return resp.StatusCode, me
}

func TestSignInThroughTheADIdP(t *testing.T) {
	s := newSite(t, siteOptions{})
	principals := s.count(t, "SELECT count(*) FROM principals")
	resp := s.signIn(t, "ad", "maria.chef")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("callback: %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), body(t, resp))
	}
	var sessionCookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "behorig" {
			sessionCookie = c
		}
	}
	if sessionCookie == nil || !sessionCookie.HttpOnly || sessionCookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie not HttpOnly and SameSite=Lax: %+v", sessionCookie)
	}
	if home := body(t, s.get(t, "/")); !strings.Contains(home, "<h1>Mina ärenden</h1>") || !strings.Contains(home, "Maria Chef</a>") {
		t.Errorf("the start page is not Maria's requests:\n%s", home)
	}
	profile := body(t, s.get(t, "/me"))
	for _, want := range []string{"Maria Chef", "Hemtjänst Norr (5110)", "Särskilt boende Ekbacken (5210)"} {
		if !strings.Contains(profile, want) {
			t.Errorf("profile page lacks %q", want)
		}
	}
	status, me := s.me(t)
	if status != http.StatusOK || me["subject"] != "manager" || len(me["attests"].([]any)) != 2 {
		t.Fatalf("/api/v1/me = %d %v; want the registered manager with two units", status, me)
	}
	if n := s.count(t, "SELECT count(*) FROM principals"); n != principals {
		t.Errorf("sign-in of a registered subject made a principal: %d → %d", principals, n)
	}
	if n := s.count(t, "SELECT count(*) FROM audit_events WHERE action = 'principal.signed_in' AND actor = 'manager'"); n != 1 {
		t.Errorf("%d sign-in audit events, want 1", n)
	}
	if n := s.count(t, `SELECT count(*) FROM sessions WHERE id_token_sealed IS NOT NULL
		AND position('eyJ'::bytea in id_token_sealed) = 0`); n != 1 {
		t.Errorf("the ID token kept for logout is not sealed")
	}

	// The same browser signing in again gets a new session id; the old one is gone.
	s.signIn(t, "ad", "maria.chef")
	if n := s.count(t, "SELECT count(*) FROM sessions"); n != 1 {
		t.Errorf("%d sessions after signing in twice in one browser, want 1", n)
	}
	u, _ := url.Parse(s.url)
	for _, c := range s.client.Jar.Cookies(u) {
		if c.Name == "behorig" && c.Value == sessionCookie.Value {
			t.Error("the session id was not rotated at sign-in")
		}
	}
}

func TestGroupsClaimGivesITRoles(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signIn(t, "ad", "ivar.admin")
	status, me := s.me(t)
	roles, _ := json.Marshal(me["roles"])
	if status != http.StatusOK || string(roles) != `["requester","it_admin"]` {
		t.Fatalf("/me = %d %v; want requester and it_admin from the groups claim", status, me)
	}
	if me["subject"] != "ad:ivar.admin" {
		t.Errorf("a first sign-in made subject %v, want ad:ivar.admin", me["subject"])
	}
	if !strings.Contains(body(t, s.get(t, "/me")), "IT-administratör") {
		t.Error("the profile page does not name the role")
	}
}

func TestBankIDBrokerLinksTheProvidersManager(t *testing.T) {
	s := newSite(t, siteOptions{})
	resp := s.signIn(t, "bankid", "bid-7f3a9c")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", resp.StatusCode, body(t, resp))
	}
	status, me := s.me(t)
	unit, _ := me["unit"].(map[string]any)
	if status != http.StatusOK || me["subject"] != "omsorgsbolaget-chef" || unit["ansvarskod"] != "9110" {
		t.Fatalf("/me = %d %v; want Olle linked to the provider's unit 9110", status, me)
	}
	if n := s.count(t, "SELECT count(*) FROM principals WHERE idp = 'bankid' AND idp_subject = 'bid-7f3a9c'"); n != 1 {
		t.Fatal("the registered principal was not linked to the BankID subject")
	}
	if n := s.count(t, "SELECT count(*) FROM sessions WHERE id_token_sealed IS NULL"); n != 1 {
		t.Fatal("the ID token of a personnummer-bearing IdP was stored")
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+"/logout", nil)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	end := mustParse(t, resp.Header.Get("Location"))
	if end.Query().Has("id_token_hint") || end.Query().Get("client_id") != "behorig" {
		t.Fatalf("logout from the broker: %s; want client_id and no id_token_hint", end)
	}
}

// An IdP without a personnummer mapping that still sends one: the ID token is not kept, so
// the number never reaches the logout URL.
func TestAnUnmappedPersonnummerIsNotSentAtLogout(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.idp.AD.TamperIDToken = func(c map[string]any) { c["employee"] = map[string]any{"ssn": "19121212-1212"} }
	if resp := s.signIn(t, "ad", "maria.chef"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", resp.StatusCode, body(t, resp))
	}
	if n := s.count(t, "SELECT count(*) FROM sessions WHERE id_token_sealed IS NULL"); n != 1 {
		t.Fatal("an ID token holding a personnummer was stored")
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+"/logout", nil)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	end := mustParse(t, resp.Header.Get("Location"))
	if end.Query().Has("id_token_hint") || end.Query().Get("client_id") != "behorig" || strings.Contains(end.String(), "1212") {
		t.Fatalf("logout: %s; want client_id and no id_token_hint", end)
	}
}

func TestKnownUsersOnlyRefusesAnUnknownPerson(t *testing.T) {
	s := newSite(t, siteOptions{})
	principals := s.count(t, "SELECT count(*) FROM principals")
	resp := s.signIn(t, "bankid", "bid-2c81e0")
	page := body(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "inte registrerad") {
		t.Fatalf("unknown user: %d %s", resp.StatusCode, page)
	}
	s.assertNothingCreated(t, principals, "unknown_user")
	// "In English" keeps the reason: the link leads back to the refusal, not to the spent
	// callback (which would say "unknown sign-in") and not with the callback's code.
	m := regexp.MustCompile(`href="(/lang\?to=en[^"]*)"`).FindStringSubmatch(page)
	if m == nil || strings.Contains(m[1], "code") || strings.Contains(m[1], "state") {
		t.Fatalf("the language link of the refusal page: %v", m)
	}
	resp = s.get(t, html.UnescapeString(m[1]))
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if back != "/login?refused=unknown_user" {
		t.Fatalf("the language link leads to %q", back)
	}
	resp = s.get(t, back)
	if page := body(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "You are not registered in Behörig") {
		t.Fatalf("the refusal in English: %d %s", resp.StatusCode, page)
	}
	if page := body(t, s.get(t, "/login?refused=nonsense")); !strings.Contains(page, `href="/login/ad"`) {
		t.Errorf("an unknown refusal reason does not show the sign-in page:\n%s", page)
	}
}

// assertNothingCreated checks that a refused sign-in left no principal and no session, and
// that it was audited with its reason.
func (s *site) assertNothingCreated(t *testing.T, principals int, reason string) {
	t.Helper()
	if n := s.count(t, "SELECT count(*) FROM principals"); n != principals {
		t.Errorf("principals %d → %d", principals, n)
	}
	if n := s.count(t, "SELECT count(*) FROM sessions"); n != 0 {
		t.Errorf("%d sessions after a refused sign-in", n)
	}
	if n := s.count(t, `SELECT count(*) FROM audit_events WHERE action = 'principal.sign_in_failed'
		AND data->>'reason' LIKE $1 || '%'`, reason); n != 1 {
		t.Errorf("%d audit events with reason %s, want 1", n, reason)
	}
	if status, _ := s.me(t); status != http.StatusUnauthorized {
		t.Errorf("/me after a refused sign-in: %d", status)
	}
}

func TestRefusedSignIns(t *testing.T) {
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(f func(claims map[string]any)) func(*devidp.Issuer) {
		return func(iss *devidp.Issuer) { iss.TamperIDToken = f }
	}
	for _, tc := range []struct {
		name   string
		idp    string
		user   string
		setup  func(iss *devidp.Issuer)
		reason string
		status int
	}{
		{"wrong nonce", "ad", "maria.chef", tamper(func(c map[string]any) { c["nonce"] = "another-sign-in" }), "token_rejected", 403},
		{"another issuer", "ad", "maria.chef", tamper(func(c map[string]any) { c["iss"] = "https://evil.example" }), "token_rejected", 403},
		{"wrong audience", "ad", "maria.chef", tamper(func(c map[string]any) { c["aud"] = "another-client" }), "token_rejected", 403},
		{"expired", "ad", "maria.chef", tamper(func(c map[string]any) {
			c["iat"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
		}), "token_rejected", 403},
		{"issued in the future", "ad", "maria.chef", tamper(func(c map[string]any) {
			c["iat"], c["exp"] = time.Now().Add(10*time.Minute).Unix(), time.Now().Add(15*time.Minute).Unix()
		}), "bad_claim:iat", 403},
		{"alg none", "ad", "maria.chef", func(iss *devidp.Issuer) {
			iss.SignIDToken = func(c map[string]any) (string, error) {
				payload, _ := json.Marshal(c)
				return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
					base64.RawURLEncoding.EncodeToString(payload) + ".", nil
			}
		}, "token_rejected", 403},
		{"unknown key", "ad", "maria.chef", func(iss *devidp.Issuer) {
			_, kid := iss.Key()
			iss.SignIDToken = func(c map[string]any) (string, error) { return devidp.SignRS256(otherKey, kid, c) }
		}, "token_rejected", 403},
		{"at_hash of another access token", "ad", "maria.chef", tamper(func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }), "token_rejected", 403},
		{"personnummer that does not validate", "bankid", "bid-bad", func(iss *devidp.Issuer) {
			iss.Users = append(iss.Users, devidp.User{Subject: "bid-bad", Name: "Fel Nummer", Personnummer: "191202119151", ACR: devenv.BankIDACR})
		}, "bad_claim:personal_number", 403},
		{"missing personnummer", "bankid", "bid-none", func(iss *devidp.Issuer) {
			iss.Users = append(iss.Users, devidp.User{Subject: "bid-none", Name: "Utan Nummer", ACR: devenv.BankIDACR})
		}, "bad_claim:personal_number", 403},
		{"an eID the broker offers but the config does not accept", "bankid", "bid-freja", func(iss *devidp.Issuer) {
			iss.Users = append(iss.Users, devidp.User{Subject: "bid-freja", Name: "Olle", Personnummer: "191202119150",
				ACR: "urn:se:curity:authentication:freja"})
		}, "bad_claim:acr", 403},
		{"no acr from a broker that must name it", "bankid", "bid-noacr", func(iss *devidp.Issuer) {
			iss.Users = append(iss.Users, devidp.User{Subject: "bid-noacr", Name: "Olle", Personnummer: "191202119150"})
		}, "bad_claim:acr", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, siteOptions{})
			iss := map[string]*devidp.Issuer{"ad": s.idp.AD, "bankid": s.idp.BankID}[tc.idp]
			tc.setup(iss)
			principals := s.count(t, "SELECT count(*) FROM principals")
			resp := s.signIn(t, tc.idp, tc.user)
			if page := body(t, resp); resp.StatusCode != tc.status || strings.Contains(page, "eyJ") {
				t.Fatalf("callback: %d (want %d), page shows a token or: %s", resp.StatusCode, tc.status, page)
			}
			s.assertNothingCreated(t, principals, tc.reason)
		})
	}
}

func TestRefusedCallbacks(t *testing.T) {
	s := newSite(t, siteOptions{})
	principals := s.count(t, "SELECT count(*) FROM principals")
	callback := s.toCallback(t, "ad", "maria.chef")
	u, _ := url.Parse(callback)

	t.Run("missing state", func(t *testing.T) {
		q := u.Query()
		q.Del("state")
		resp := s.get(t, u.Scheme+"://"+u.Host+u.Path+"?"+q.Encode())
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("callback without state: %d", resp.StatusCode)
		}
	})
	t.Run("wrong state", func(t *testing.T) {
		// A fresh attempt, so the browser's cookie names a live state; the callback names another.
		other := s.toCallback(t, "ad", "maria.chef")
		ou, _ := url.Parse(other)
		q := ou.Query()
		q.Set("state", u.Query().Get("state"))
		resp := s.get(t, ou.Scheme+"://"+ou.Host+ou.Path+"?"+q.Encode())
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("callback with another state: %d", resp.StatusCode)
		}
	})
	t.Run("issuer parameter of another IdP", func(t *testing.T) {
		mixed := mustParse(t, s.toCallback(t, "ad", "maria.chef"))
		q := mixed.Query()
		q.Set("iss", s.idp.BankID.URL())
		mixed.RawQuery = q.Encode()
		issued := s.idp.AD.Issued()
		if resp := s.get(t, mixed.String()); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("a callback naming another issuer: %d", resp.StatusCode)
		}
		if s.idp.AD.Issued() != issued {
			t.Fatal("the code of a mixed-up callback was redeemed")
		}
	})
	t.Run("state from another browser", func(t *testing.T) {
		victim := newClient()
		resp, err := victim.Get(callback)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a callback opened in another browser: %d", resp.StatusCode)
		}
	})
	if n := s.count(t, "SELECT count(*) FROM sessions"); n != 0 {
		t.Fatalf("%d sessions after refused callbacks", n)
	}
	if n := s.count(t, "SELECT count(*) FROM principals"); n != principals {
		t.Fatalf("principals %d → %d", principals, n)
	}
	if n := s.count(t, "SELECT count(*) FROM audit_events WHERE action = 'principal.sign_in_failed' AND data->>'reason' = 'bad_state'"); n != 3 {
		t.Fatalf("%d bad_state audit events, want 3", n)
	}
	if n := s.count(t, "SELECT count(*) FROM audit_events WHERE action = 'principal.sign_in_failed' AND data->>'reason' = 'token_rejected'"); n != 1 {
		t.Fatalf("%d token_rejected audit events (the mix-up), want 1", n)
	}
}

func TestReplayedCodeIsRefused(t *testing.T) {
	s := newSite(t, siteOptions{})
	callback := s.toCallback(t, "ad", "maria.chef")
	// Keep the browser's sign-in cookie to replay with it, as an attacker holding the browser would.
	u, _ := url.Parse(s.url)
	saved := s.client.Jar.Cookies(u)
	if resp := s.get(t, callback); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: %d", resp.StatusCode)
	}
	issued := s.idp.AD.Issued()
	replayer := newClient()
	replayer.Jar.SetCookies(u, saved)
	resp, err := replayer.Get(callback)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d, want 400", resp.StatusCode)
	}
	if n := s.count(t, "SELECT count(*) FROM sessions"); n != 1 {
		t.Fatalf("%d sessions after a replay, want the first one only", n)
	}
	if s.idp.AD.Issued() != issued {
		t.Fatal("the replayed code was redeemed at the IdP")
	}
	// And the IdP itself redeems a code once.
	code := mustParse(t, callback).Query().Get("code")
	redeem, err := http.PostForm(s.idp.AD.URL()+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"client_id": {"behorig"}, "client_secret": {s.idp.Providers[0].ClientSecret}, "redirect_uri": {s.url + "/auth/oidc/ad/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	redeem.Body.Close()
	if redeem.StatusCode != http.StatusBadRequest {
		t.Fatalf("the dev IdP redeemed a used code: %d", redeem.StatusCode)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSessionEndsAfterIdleTimeout(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signIn(t, "ad", "rolf.bestallare")
	s.app.Clock.Advance(idle - time.Minute)
	if status, _ := s.me(t); status != http.StatusOK {
		t.Fatalf("session ended before its idle timeout: %d", status)
	}
	s.app.Clock.Advance(idle - time.Minute) // used a moment ago, so still alive
	if status, _ := s.me(t); status != http.StatusOK {
		t.Fatalf("a used session ended: %d", status)
	}
	s.app.Clock.Advance(idle + time.Second)
	resp := s.get(t, "/")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("home after the idle timeout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if status, _ := s.me(t); status != http.StatusUnauthorized {
		t.Fatalf("/me after the idle timeout: %d", status)
	}
	if n := s.count(t, "SELECT count(*) FROM sessions"); n != 0 {
		t.Fatalf("the idle session is still stored")
	}
}

func TestSessionEndsAfterAbsoluteTimeout(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signIn(t, "ad", "rolf.bestallare")
	for range 21 { // 21 × 29 min > 10 h, each within the idle timeout
		s.app.Clock.Advance(29 * time.Minute)
		s.me(t)
	}
	if status, _ := s.me(t); status != http.StatusUnauthorized {
		t.Fatalf("/me after the absolute timeout: %d", status)
	}
}

func TestCrossSitePostIsRefused(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signIn(t, "ad", "maria.chef")
	for _, header := range [][2]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
		req, _ := http.NewRequest(http.MethodPost, s.url+"/logout", nil)
		req.Header.Set(header[0], header[1])
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST with %s: %d, want 403", header[0], resp.StatusCode)
		}
	}
	// A cross-site POST to the API with the session cookie does not submit a request either.
	req, _ := http.NewRequest(http.MethodPost, s.url+"/api/v1/requests", strings.NewReader(`{}`))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site API POST: %d, want 403", resp.StatusCode)
	}
	if status, _ := s.me(t); status != http.StatusOK {
		t.Fatal("a refused cross-site logout ended the session")
	}
}

func TestSignOutEndsTheSessionHereAndAtTheIdP(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signIn(t, "ad", "maria.chef")
	req, _ := http.NewRequest(http.MethodPost, s.url+"/logout", nil)
	req.Header.Set("Origin", s.url)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	end := mustParse(t, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(end.String(), s.idp.AD.URL()+"/logout") ||
		end.Query().Get("id_token_hint") == "" {
		t.Fatalf("logout: %d to %s; want the IdP's end_session_endpoint with id_token_hint", resp.StatusCode, end)
	}
	back := s.get(t, end.String())
	if got := back.Header.Get("Location"); got != s.url+"/login?signed_out=1" {
		t.Fatalf("the IdP sent the browser to %q", got)
	}
	if page := body(t, s.get(t, "/login?signed_out=1")); !strings.Contains(page, "Du är utloggad") {
		t.Error("the sign-in page does not say the user signed out")
	}
	if status, _ := s.me(t); status != http.StatusUnauthorized {
		t.Fatalf("/me after sign-out: %d", status)
	}
	if n := s.count(t, "SELECT count(*) FROM audit_events WHERE action = 'principal.signed_out'"); n != 1 {
		t.Fatalf("%d sign-out audit events", n)
	}
}

func TestAnIdPThatIsDownDoesNotStopTheOthers(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + ln.Addr().String() + "/adfs"
	ln.Close()
	s := newSite(t, siteOptions{extraIdPs: []config.IdentityProvider{{ID: "down", Label: "Logga in med nere-IdP",
		Issuer: down, ClientID: "behorig", ClientSecret: "x", Scopes: []string{"openid"},
		Claims: config.Claims{Subject: "sub", Name: "name", Email: "email"}}}})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(body(t, s.get(t, "/login")), `href="/login/ad"`) {
		if time.Now().After(deadline) {
			t.Fatal("the AD IdP never became ready beside one that is down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	page := body(t, s.get(t, "/login"))
	if !strings.Contains(page, "Logga in med nere-IdP</span> <span class=\"hint\">(inte tillgänglig just nu)") {
		t.Errorf("the sign-in page does not show the down IdP as unavailable:\n%s", page)
	}
	if resp := s.get(t, "/login/down"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/login/down: %d, want 503", resp.StatusCode)
	}
	if resp := s.signIn(t, "ad", "maria.chef"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in through the AD IdP: %d", resp.StatusCode)
	}
	// The admin pages tell the operator which IdP does not answer, and why.
	ivar := s.as(t, "ivar.admin")
	for _, path := range []string{"/admin/units", "/admin/catalog"} {
		page := body(t, ivar.get(t, path))
		if !strings.Contains(page, "Inloggningstjänsten Logga in med nere-IdP ("+down+") svarar inte") || !strings.Contains(page, "connection refused") {
			t.Errorf("%s does not show the IdP that is down:\n%s", path, page)
		}
	}
	if page := body(t, ivar.get(t, "/admin/units")); strings.Contains(page, "Inloggningstjänsten Logga in med AD") {
		t.Error("the admin page shows the AD IdP, which answers, as down")
	}
}

func TestReturnToStaysOnTheSite(t *testing.T) {
	for raw, want := range map[string]string{"/persons/1": "/persons/1", "//evil.example/x": "/", "https://evil.example": "/",
		`/\evil.example`: "/", "": "/", "persons": "/", `/x/../\evil.example/`: "/", "/x/..//evil.example": "/x/..//evil.example",
		"/%5Cevil.example": "/%5Cevil.example", "/a\r\nLocation: x": "/"} {
		if got := session.SafeReturn(raw); got != want {
			t.Errorf("SafeReturn(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestSweepRemovesOnlyExpiredSessions(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signIn(t, "ad", "rolf.bestallare")
	s.app.Clock.Advance(idle + time.Minute)
	fresh := s.newBrowser()
	fresh.signIn(t, "ad", "maria.chef")
	sessions, err := session.New(s.app.Pool, session.Config{Idle: idle, Absolute: 10 * time.Hour, Now: s.app.Clock.Now, Box: s.app.Box})
	if err != nil {
		t.Fatal(err)
	}
	n, err := sessions.Sweep(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the one idle session", n, err)
	}
	if status, _ := fresh.me(t); status != http.StatusOK {
		t.Fatalf("the live session was swept: %d", status)
	}
}

func TestPagesSpeakTheChosenLanguage(t *testing.T) {
	s := newSite(t, siteOptions{})
	if page := body(t, s.get(t, "/login")); !strings.Contains(page, `<html lang="sv">`) || !strings.Contains(page, "<h1>Logga in</h1>") {
		t.Fatalf("the default is not Swedish:\n%s", page)
	}
	req, _ := http.NewRequest(http.MethodGet, s.url+"/login", nil)
	req.Header.Set("Accept-Language", "en-GB,en;q=0.8")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if page := body(t, resp); !strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, "<h1>Sign in</h1>") {
		t.Fatalf("Accept-Language: en did not give English:\n%s", page)
	}
	resp.Body.Close()
	switched := s.get(t, "/lang?to=en&return=/login")
	if switched.StatusCode != http.StatusSeeOther || switched.Header.Get("Location") != "/login" {
		t.Fatalf("language switch: %d to %q", switched.StatusCode, switched.Header.Get("Location"))
	}
	if page := body(t, s.get(t, "/login")); !strings.Contains(page, "<h1>Sign in</h1>") || !strings.Contains(page, "På svenska") {
		t.Fatal("the chosen language was not kept")
	}
	for _, ret := range []string{"https://evil.example", "/x/../%5Cevil.example/", "//evil.example"} {
		if loc := s.get(t, "/lang?to=en&return="+ret).Header.Get("Location"); loc != "/" {
			t.Fatalf("the language switch with return=%s redirected to %q", ret, loc)
		}
	}
}

func TestContentSecurityPolicyNamesOnlyTheIdPs(t *testing.T) {
	s := newSite(t, siteOptions{})
	csp := s.get(t, "/login").Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action 'self' "+strings.TrimSuffix(s.idp.AD.URL(), "/ad")) || strings.Contains(csp, " http: ") ||
		!strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("Content-Security-Policy: %s", csp)
	}
}

// The tab shows behorig's icon, also where the browser asks for /favicon.ico on its own.
func TestFavicon(t *testing.T) {
	s := newSite(t, siteOptions{})
	if page := body(t, s.get(t, "/login")); !strings.Contains(page, `<link rel="icon" href="/static/favicon.svg"`) {
		t.Fatal("the page names no icon")
	}
	resp := s.get(t, "/favicon.ico")
	icon, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" || !bytes.HasPrefix(icon, []byte("<svg")) {
		t.Fatalf("/favicon.ico: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), icon)
	}
}
