// Package oidc signs people in through OpenID Providers: staff through the organisation's
// AD-backed IdP, external providers' managers through a BankID-backed broker. It runs the
// authorization code flow with PKCE (S256), state and nonce; go-oidc verifies the ID token
// (signature against the provider's JWKS, issuer, audience, expiry) and this package checks
// the nonce, at_hash and iat and maps the claims to a provisioning.Identity. It also verifies
// the OAuth 2 access tokens integrations send to the API.
//
// An IdP that cannot be reached at start is retried in the background, so it does not stop
// the other IdPs or the API from serving.
package oidc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/personnummer"
	"github.com/behorig/behorig/provisioning"
)

// Errors callers tell apart.
var (
	ErrUnknownIdP = errors.New("no such identity provider")
	ErrNotReady   = errors.New("the identity provider has not answered yet")
)

// maxClockSkew is how far in our future an ID token's iat may lie. The OP's clock and ours
// differ by seconds, on a badly kept server by a minute; two minutes forgives that and no
// more. A token issued further ahead comes from an OP whose clock is wrong or that minted it
// ahead of its use, and then its exp no longer bounds how long it lives. go-oidc checks exp
// and nbf but not iat.
const maxClockSkew = 2 * time.Minute

// ClaimError says an ID token lacked a claim or carried a bad value; the sign-in is refused.
type ClaimError struct{ Claim, Problem string }

func (e *ClaimError) Error() string { return fmt.Sprintf("claim %q %s", e.Claim, e.Problem) }

// RP is behorig as a relying party of the configured IdPs.
type RP struct {
	baseURL   string
	providers map[string]*provider
	order     []string
	clients   []config.APIClient
	http      *http.Client
	now       func() time.Time
	log       *slog.Logger
}

type provider struct {
	cfg config.IdentityProvider

	mu         sync.RWMutex
	oidc       *gooidc.Provider
	endSession string
	lastErr    error
	keys       *keySet  // the IdP's keys, refetched at most every minKeyRefetch
	issuer     string   // as discovery named it
	algs       []string // the ID token algorithms discovery offered that behorig accepts
}

// verifier verifies the IdP's tokens against its keys (keySet, not go-oidc's, which would
// fetch the keys again for every token it cannot verify).
func (p *provider) verifier(c *gooidc.Config) *gooidc.IDTokenVerifier {
	p.mu.RLock()
	defer p.mu.RUnlock()
	cfg := *c
	if len(cfg.SupportedSigningAlgs) == 0 {
		cfg.SupportedSigningAlgs = p.algs
	}
	return gooidc.NewVerifier(p.issuer, p.keys, &cfg)
}

// Options change how an RP works; the zero value is right for production.
type Options struct {
	HTTPClient *http.Client     // default: 10 s timeout
	Now        func() time.Time // clock for token expiry; default time.Now
	Logger     *slog.Logger
}

// New starts discovery of every IdP in the background and returns at once. ctx bounds the
// RP's life: discovery retries and key refreshes stop with it.
func New(ctx context.Context, baseURL string, idps []config.IdentityProvider, clients []config.APIClient, opts Options) *RP {
	rp := &RP{baseURL: strings.TrimRight(baseURL, "/"), providers: map[string]*provider{}, clients: clients,
		http: opts.HTTPClient, now: opts.Now, log: opts.Logger}
	if rp.http == nil {
		rp.http = &http.Client{Timeout: 10 * time.Second}
	}
	if rp.now == nil {
		rp.now = time.Now
	}
	if rp.log == nil {
		rp.log = slog.Default()
	}
	for _, cfg := range idps {
		p := &provider{cfg: cfg}
		rp.providers[cfg.ID] = p
		rp.order = append(rp.order, cfg.ID)
		go rp.discover(ctx, p)
	}
	return rp
}

// UnsupportedClaims returns the mapped claims an IdP does not list in its discovery
// document's claims_supported. The list is optional, so an empty one says nothing.
func UnsupportedClaims(m config.Claims, supported []string) []string {
	if len(supported) == 0 {
		return nil
	}
	var missing []string
	for _, c := range []string{m.Subject, m.Name, m.Email, m.Personnummer, m.Groups} {
		if c != "" && !slices.Contains(supported, c) {
			missing = append(missing, c)
		}
	}
	return missing
}

// discover fetches the provider's metadata, retrying with backoff until it answers.
func (rp *RP) discover(ctx context.Context, p *provider) {
	ctx = gooidc.ClientContext(ctx, rp.http)
	wait := time.Second
	for {
		op, err := gooidc.NewProvider(ctx, p.cfg.Issuer)
		if err == nil {
			var meta struct {
				Issuer          string   `json:"issuer"`
				JWKSURI         string   `json:"jwks_uri"`
				Algs            []string `json:"id_token_signing_alg_values_supported"`
				EndSession      string   `json:"end_session_endpoint"`
				ClaimsSupported []string `json:"claims_supported"`
			}
			op.Claims(&meta)
			p.mu.Lock()
			p.oidc, p.endSession, p.lastErr = op, meta.EndSession, nil
			p.keys = &keySet{url: meta.JWKSURI, http: rp.http, now: time.Now}
			p.issuer, p.algs = meta.Issuer, idTokenAlgs(meta.Algs)
			p.mu.Unlock()
			rp.log.Info("identity provider ready", "idp", p.cfg.ID, "issuer", p.cfg.Issuer)
			for _, claim := range UnsupportedClaims(p.cfg.Claims, meta.ClaimsSupported) {
				rp.log.Warn("claim mapping names a claim the identity provider does not list in claims_supported; sign-ins will fail if it never sends it",
					"idp", p.cfg.ID, "claim", claim)
			}
			return
		}
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		rp.log.Warn("identity provider unreachable; retrying", "idp", p.cfg.ID, "issuer", p.cfg.Issuer, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

func (rp *RP) provider(id string) (*provider, *gooidc.Provider, error) {
	p, ok := rp.providers[id]
	if !ok {
		return nil, nil, fmt.Errorf("%q: %w", id, ErrUnknownIdP)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.oidc == nil {
		return p, nil, fmt.Errorf("%s (%s): %w", id, p.cfg.Issuer, ErrNotReady)
	}
	return p, p.oidc, nil
}

// IdP is a configured provider as the sign-in page lists it. Issuer and Error are for the
// operator: an IdP whose discovery fails (a typo in the issuer) is shown on /readyz and in
// the admin pages with why, not only logged.
type IdP struct {
	ID, Label string
	Ready     bool
	Issuer    string
	Error     string // the last discovery error while not Ready; empty before the first answer
}

// IdPs lists the providers in config order.
func (rp *RP) IdPs() []IdP {
	out := make([]IdP, 0, len(rp.order))
	for _, id := range rp.order {
		p := rp.providers[id]
		p.mu.RLock()
		idp := IdP{ID: id, Label: p.cfg.Label, Ready: p.oidc != nil, Issuer: p.cfg.Issuer}
		if !idp.Ready && p.lastErr != nil {
			idp.Error = p.lastErr.Error()
		}
		p.mu.RUnlock()
		out = append(out, idp)
	}
	return out
}

// DiscoveryError tells why the IdP cannot sign anyone in yet: nil once discovery has
// answered. It is a readiness probe's check (one per IdP, never deciding: the other IdPs and
// the API still serve).
func (rp *RP) DiscoveryError(id string) error {
	p, ok := rp.providers[id]
	if !ok {
		return fmt.Errorf("%q: %w", id, ErrUnknownIdP)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	switch {
	case p.oidc != nil:
		return nil
	case p.lastErr != nil:
		return fmt.Errorf("discovery of %s failed, retrying: %w", p.cfg.Issuer, p.lastErr)
	default:
		return fmt.Errorf("discovery of %s has not answered yet: %w", p.cfg.Issuer, ErrNotReady)
	}
}

// Ready waits until every provider has answered discovery or ctx ends; for tests and start-up
// messages, not for serving.
func (rp *RP) Ready(ctx context.Context) error {
	for {
		ready := true
		for _, idp := range rp.IdPs() {
			ready = ready && idp.Ready
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RedirectURL is the callback URL registered at the IdP.
func (rp *RP) RedirectURL(idp string) string { return rp.baseURL + "/auth/oidc/" + idp + "/callback" }

func (rp *RP) oauth2Config(p *provider, op *gooidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, Endpoint: op.Endpoint(),
		RedirectURL: rp.RedirectURL(p.cfg.ID), Scopes: p.cfg.Scopes}
}

// Attempt is a sign-in under way: what the callback must see again. The caller keeps it on
// the server side, keyed by State, and hands it back to Finish once.
type Attempt struct {
	IdP, State, Nonce, Verifier string
}

// Begin starts a sign-in with the IdP and returns the URL to send the browser to.
func (rp *RP) Begin(idp string) (string, Attempt, error) {
	p, op, err := rp.provider(idp)
	if err != nil {
		return "", Attempt{}, err
	}
	a := Attempt{IdP: idp, State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
	opts := []oauth2.AuthCodeOption{gooidc.Nonce(a.Nonce), oauth2.S256ChallengeOption(a.Verifier)}
	if len(p.cfg.ACRValues) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", strings.Join(p.cfg.ACRValues, " ")))
	}
	return rp.oauth2Config(p, op).AuthCodeURL(a.State, opts...), a, nil
}

// SignedIn is the outcome of a verified sign-in.
type SignedIn struct {
	Identity provisioning.Identity
	// IDToken is kept for RP-initiated logout (id_token_hint); empty when any of its claims
	// holds a personnummer, so the number is neither stored nor put in a logout URL.
	IDToken string
}

// Finish redeems the code of the callback and verifies what the IdP answered: the ID token's
// signature, issuer, audience, expiry, that it was not issued in the future, the nonce of
// the attempt, at_hash, and the acr when the IdP's config requires one. It maps the claims
// to an identity. iss is the callback's issuer parameter (RFC 9207), checked when the IdP
// sends it.
func (rp *RP) Finish(ctx context.Context, a Attempt, code, iss string) (SignedIn, error) {
	p, op, err := rp.provider(a.IdP)
	if err != nil {
		return SignedIn{}, err
	}
	if iss != "" && iss != p.cfg.Issuer {
		return SignedIn{}, fmt.Errorf("callback for %s names issuer %q: a mix-up, not redeemed", p.cfg.ID, iss)
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, rp.http)
	token, err := rp.oauth2Config(p, op).Exchange(ctx, code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		return SignedIn{}, fmt.Errorf("redeem code at %s: %w", p.cfg.ID, err)
	}
	raw, ok := token.Extra("id_token").(string)
	if !ok || raw == "" {
		return SignedIn{}, fmt.Errorf("%s answered without an id_token", p.cfg.ID)
	}
	idToken, err := p.verifier(&gooidc.Config{ClientID: p.cfg.ClientID, Now: rp.now}).Verify(ctx, raw)
	if err != nil {
		return SignedIn{}, fmt.Errorf("verify ID token from %s: %w", p.cfg.ID, err)
	}
	if ahead := idToken.IssuedAt.Sub(rp.now()); ahead > maxClockSkew {
		return SignedIn{}, &ClaimError{"iat", fmt.Sprintf("lies %s in the future, more than the %s clocks may differ",
			ahead.Round(time.Second), maxClockSkew)}
	}
	if subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(a.Nonce)) != 1 {
		return SignedIn{}, fmt.Errorf("ID token from %s: nonce does not match the sign-in", p.cfg.ID)
	}
	if idToken.AccessTokenHash != "" {
		if err := idToken.VerifyAccessToken(token.AccessToken); err != nil {
			return SignedIn{}, fmt.Errorf("ID token from %s: %w", p.cfg.ID, err)
		}
	}
	claims, err := tokenClaims(idToken)
	if err != nil {
		return SignedIn{}, fmt.Errorf("ID token claims from %s: %w", p.cfg.ID, err)
	}
	if acr, _ := claims["acr"].(string); len(p.cfg.ACRValues) > 0 && !slices.Contains(p.cfg.ACRValues, acr) {
		return SignedIn{}, &ClaimError{"acr", fmt.Sprintf("is %q, not one of the required %v", acr, p.cfg.ACRValues)}
	}
	identity, err := rp.identity(p.cfg, claims)
	if err != nil {
		return SignedIn{}, err
	}
	// Decided by what the token holds, not by the claim mapping: an IdP may send a
	// personnummer in a claim behorig does not map.
	if carriesPersonnummer(claims, rp.now()) {
		raw = ""
	}
	return SignedIn{Identity: identity, IDToken: raw}, nil
}

// tokenClaims decodes the claims with numbers as written, so that a number-typed claim keeps
// its digits for carriesPersonnummer.
func tokenClaims(idToken *gooidc.IDToken) (map[string]any, error) {
	var payload json.RawMessage
	if err := idToken.Claims(&payload); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("decode claims: %w", err)
	}
	return claims, nil
}

// carriesPersonnummer tells whether a claim value, at any depth of objects and lists, holds a
// valid personnummer or samordningsnummer: a string that is one, or has one between
// characters other than digits and separators (a broker's "urn:se:pnr:191202119150"), or a
// 12-digit number. A 10-digit number is not read as one: iat, exp and auth_time look like
// that. A false alarm only costs the id_token_hint at logout.
func carriesPersonnummer(v any, now time.Time) bool {
	switch v := v.(type) {
	case string:
		for _, field := range strings.FieldsFunc(v, func(r rune) bool { return (r < '0' || r > '9') && r != '-' && r != '+' }) {
			if _, err := personnummer.Parse(strings.Trim(field, "-+"), now); err == nil {
				return true
			}
		}
	case json.Number:
		if len(v) == 12 {
			return carriesPersonnummer(string(v), now)
		}
	case []any:
		return slices.ContainsFunc(v, func(x any) bool { return carriesPersonnummer(x, now) })
	case map[string]any:
		for _, x := range v {
			if carriesPersonnummer(x, now) {
				return true
			}
		}
	}
	return false
}

// identity maps claims as the IdP's claim mapping says.
func (rp *RP) identity(cfg config.IdentityProvider, claims map[string]any) (provisioning.Identity, error) {
	str := func(name string) string {
		s, _ := claims[name].(string)
		return strings.TrimSpace(s)
	}
	id := provisioning.Identity{IdP: cfg.ID, Subject: str(cfg.Claims.Subject), Name: str(cfg.Claims.Name),
		Email: str(cfg.Claims.Email), Unit: cfg.Unit, KnownUsersOnly: cfg.KnownUsersOnly}
	if id.Subject == "" {
		return id, &ClaimError{cfg.Claims.Subject, "is missing: it must identify the user"}
	}
	if id.Name == "" {
		id.Name = id.Subject
	}
	if cfg.Claims.Personnummer != "" {
		value := str(cfg.Claims.Personnummer)
		if value == "" {
			return id, &ClaimError{cfg.Claims.Personnummer, "is missing"}
		}
		n, err := personnummer.Parse(value, rp.now())
		if err != nil {
			return id, &ClaimError{cfg.Claims.Personnummer, "is not a valid personnummer"}
		}
		id.Personnummer = n.String()
	}
	roles := map[provisioning.Role]bool{}
	for _, r := range cfg.DefaultRoles {
		roles[provisioning.Role(r)] = true
	}
	if cfg.Claims.Groups != "" {
		for _, g := range stringList(claims[cfg.Claims.Groups]) {
			if r, ok := cfg.Roles[g]; ok {
				roles[provisioning.Role(r)] = true
			}
		}
	}
	for _, r := range []provisioning.Role{provisioning.RoleRequester, provisioning.RoleITHandler, provisioning.RoleITAdmin} {
		if roles[r] {
			id.Roles = append(id.Roles, r)
		}
	}
	return id, nil
}

// stringList reads a claim that is a list of strings or one string.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// FormActionOrigins are the origins a form post may end up at after redirects: the IdPs'
// issuers and logout endpoints, for the content security policy's form-action.
func (rp *RP) FormActionOrigins() []string {
	var origins []string
	add := func(raw string) {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			if o := u.Scheme + "://" + u.Host; !slices.Contains(origins, o) {
				origins = append(origins, o)
			}
		}
	}
	for _, id := range rp.order {
		p := rp.providers[id]
		p.mu.RLock()
		add(p.cfg.Issuer)
		add(p.endSession)
		p.mu.RUnlock()
	}
	return origins
}

// EndSessionURL is where to send the browser to end the session at the IdP too, or "" when
// the IdP offers no end_session_endpoint.
func (rp *RP) EndSessionURL(idp, idTokenHint, returnTo string) string {
	p, _, err := rp.provider(idp)
	if err != nil || p.endSession == "" {
		return ""
	}
	u, err := url.Parse(p.endSession)
	if err != nil {
		return ""
	}
	q := u.Query() // some IdPs' endpoints carry their own parameters (Azure B2C: ?p=)
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	q.Set("client_id", p.cfg.ClientID)
	q.Set("post_logout_redirect_uri", returnTo)
	u.RawQuery = q.Encode()
	return u.String()
}
