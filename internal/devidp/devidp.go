// Package devidp is the OpenID Provider of `behorig dev` and of the tests: one server with
// several issuers (an AD-style one for staff, a BankID-style broker for external providers),
// each with demo users picked on a sign-in page. It implements discovery, JWKS, the
// authorization code flow with PKCE (S256 only), client credentials, and RP-initiated logout.
// Tokens are signed with go-jose; nothing here hand-writes JOSE.
//
// Tests reach in through Issuer.TamperIDToken and Issuer.SignIDToken to make the provider
// misbehave (a wrong nonce, another issuer, an expired or unsigned token), which a provider
// library would not let them do.
package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// User is a demo user of an issuer.
type User struct {
	Subject string
	Name    string
	Email   string
	// Title says who the user is on the sign-in page, e.g. "IT-handläggare".
	Title  string
	Groups []string
	// Personnummer is sent in the issuer's PersonnummerClaim.
	Personnummer string
	// ACR is sent as the acr claim when set, as a broker names the eID used.
	ACR string
}

// Client is an OAuth 2 client registered at an issuer.
type Client struct {
	ID, Secret string
	// RedirectURIs are the exact callback URLs allowed; PostLogoutURIs the exact return URLs
	// after logout.
	RedirectURIs   []string
	PostLogoutURIs []string
	// Audience is the aud of access tokens from the client-credentials flow.
	Audience string
}

// Issuer is one OpenID Provider under Path of the server.
type Issuer struct {
	Path  string // e.g. "/ad"
	Label string // shown on the sign-in page
	Users []User
	// PersonnummerClaim names the claim carrying the personnummer; default "personnummer".
	PersonnummerClaim string
	Clients           []Client
	// Now is the provider's clock; default time.Now.
	Now func() time.Time
	// TamperIDToken, when set, changes the claims of each ID token before it is signed.
	TamperIDToken func(claims map[string]any)
	// SignIDToken, when set, replaces the signing of ID tokens.
	SignIDToken func(claims map[string]any) (string, error)

	url    string
	key    *rsa.PrivateKey
	keyID  string
	mu     sync.Mutex
	codes  map[string]*grant
	issued int
}

type grant struct {
	client, redirectURI, nonce, challenge, scope string
	user                                         User
	expires                                      time.Time
}

// Server serves the issuers.
type Server struct {
	URL     string
	Issuers []*Issuer
	srv     *http.Server
	ln      net.Listener
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves the issuers. Issuer URLs are
// http://localhost:port + path, so that they match what browsers use.
func Start(addr string, issuers ...*Issuer) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dev IdP: listen on %s: %w", addr, err)
	}
	s := &Server{URL: "http://localhost:" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), Issuers: issuers, ln: ln}
	mux := http.NewServeMux()
	for _, iss := range issuers {
		if err := iss.init(s.URL); err != nil {
			ln.Close()
			return nil, err
		}
		iss.routes(mux)
	}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

func (iss *Issuer) init(base string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("dev IdP: make key: %w", err)
	}
	iss.key, iss.keyID, iss.url = key, rand.Text()[:12], base+iss.Path
	iss.codes = map[string]*grant{}
	if iss.PersonnummerClaim == "" {
		iss.PersonnummerClaim = "personnummer"
	}
	if iss.Now == nil {
		iss.Now = time.Now
	}
	return nil
}

// URL is the issuer identifier.
func (iss *Issuer) URL() string { return iss.url }

// Key is the issuer's signing key, for tests that forge tokens around it.
func (iss *Issuer) Key() (*rsa.PrivateKey, string) { return iss.key, iss.keyID }

// Issued counts the tokens the token endpoint has issued; a refused exchange issues none.
func (iss *Issuer) Issued() int {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return iss.issued
}

func (iss *Issuer) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+iss.Path+"/.well-known/openid-configuration", iss.discovery)
	mux.HandleFunc("GET "+iss.Path+"/jwks", iss.jwks)
	mux.HandleFunc("GET "+iss.Path+"/authorize", iss.authorizePage)
	mux.HandleFunc("POST "+iss.Path+"/authorize", iss.authorize)
	mux.HandleFunc("POST "+iss.Path+"/token", iss.token)
	mux.HandleFunc("GET "+iss.Path+"/logout", iss.logout)
}

func (iss *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss.url,
		"authorization_endpoint":                iss.url + "/authorize",
		"token_endpoint":                        iss.url + "/token",
		"jwks_uri":                              iss.url + "/jwks",
		"end_session_endpoint":                  iss.url + "/logout",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "client_credentials"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      []string{"openid", "profile", "email"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nonce", "name", "email", "groups", iss.PersonnummerClaim},
	})
}

func (iss *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &iss.key.PublicKey, KeyID: iss.keyID, Algorithm: string(jose.RS256), Use: "sig"},
	}})
}

// authorizeParams are checked before the page is shown and again when a user is picked.
func (iss *Issuer) authorizeParams(q url.Values) (*Client, error) {
	client := iss.client(q.Get("client_id"))
	switch {
	case client == nil:
		return nil, fmt.Errorf("unknown client_id %q", q.Get("client_id"))
	case !slices.Contains(client.RedirectURIs, q.Get("redirect_uri")):
		return nil, fmt.Errorf("redirect_uri %q is not registered", q.Get("redirect_uri"))
	case q.Get("response_type") != "code":
		return nil, fmt.Errorf("response_type must be code")
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		return nil, fmt.Errorf("scope must include openid")
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) < 43:
		return nil, fmt.Errorf("PKCE with S256 is required")
	}
	return client, nil
}

var pickPage = template.Must(template.New("pick").Parse(`<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Label}} – dev-IdP</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
button{display:block;width:100%;text-align:left;margin:.5rem 0;padding:.75rem;font:inherit;border:1px solid #555;
border-radius:.4rem;background:#fff;cursor:pointer}button:focus{outline:3px solid #1d4ed8;outline-offset:2px}
small{color:#444}</style></head>
<body><main><h1>{{.Label}}</h1><p>Utvecklingsinloggning. Välj en demoanvändare.</p>
<form method="post">{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
{{range .Users}}<button name="user" value="{{.Subject}}">{{.Name}}<br><small>{{.Title}}</small></button>{{end}}
</form></main></body></html>`))

func (iss *Issuer) authorizePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if _, err := iss.authorizeParams(q); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	params := map[string]string{}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method"} {
		params[k] = q.Get(k)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pickPage.Execute(w, map[string]any{"Label": iss.Label, "Users": iss.Users, "Params": params})
}

func (iss *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.PostForm
	client, err := iss.authorizeParams(q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	i := slices.IndexFunc(iss.Users, func(u User) bool { return u.Subject == q.Get("user") })
	if i < 0 {
		http.Error(w, "pick a user", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	iss.mu.Lock()
	iss.codes[code] = &grant{client: client.ID, redirectURI: q.Get("redirect_uri"), nonce: q.Get("nonce"),
		challenge: q.Get("code_challenge"), scope: q.Get("scope"), user: iss.Users[i], expires: iss.Now().Add(time.Minute)}
	iss.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	v.Set("iss", iss.url) // RFC 9207
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (iss *Issuer) client(id string) *Client {
	for i := range iss.Clients {
		if iss.Clients[i].ID == id {
			return &iss.Clients[i]
		}
	}
	return nil
}

// authenticate checks client_secret_basic or client_secret_post.
func (iss *Issuer) authenticate(r *http.Request) *Client {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	c := iss.client(id)
	if c == nil || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return nil
	}
	return c
}

func (iss *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	client := iss.authenticate(r)
	if client == nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="dev IdP"`)
		tokenError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		iss.exchangeCode(w, r, client)
	case "client_credentials":
		iss.clientCredentials(w, client)
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", r.PostForm.Get("grant_type"))
	}
}

func (iss *Issuer) exchangeCode(w http.ResponseWriter, r *http.Request, client *Client) {
	code := r.PostForm.Get("code")
	iss.mu.Lock()
	g := iss.codes[code]
	delete(iss.codes, code) // a code is used once, whatever happens next
	iss.mu.Unlock()
	now := iss.Now()
	switch {
	case g == nil || now.After(g.expires):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown, used or expired code")
		return
	case g.client != client.ID || g.redirectURI != r.PostForm.Get("redirect_uri"):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code was issued to another client or redirect_uri")
		return
	case !pkceMatches(g.challenge, r.PostForm.Get("code_verifier")):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
		return
	}
	access, err := iss.sign(map[string]any{"iss": iss.url, "sub": g.user.Subject, "aud": client.ID, "client_id": client.ID,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "scope": g.scope, "jti": rand.Text()})
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	claims := map[string]any{"iss": iss.url, "sub": g.user.Subject, "aud": client.ID, "iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "auth_time": now.Unix(), "nonce": g.nonce, "at_hash": atHash(access),
		"name": g.user.Name, "email": g.user.Email}
	if len(g.user.Groups) > 0 {
		claims["groups"] = g.user.Groups
	}
	if g.user.Personnummer != "" {
		claims[iss.PersonnummerClaim] = g.user.Personnummer
	}
	if g.user.ACR != "" {
		claims["acr"] = g.user.ACR
	}
	if iss.TamperIDToken != nil {
		iss.TamperIDToken(claims)
	}
	sign := iss.sign
	if iss.SignIDToken != nil {
		sign = iss.SignIDToken
	}
	idToken, err := sign(claims)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	iss.countIssued()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": idToken})
}

func (iss *Issuer) clientCredentials(w http.ResponseWriter, client *Client) {
	if client.Audience == "" {
		tokenError(w, http.StatusBadRequest, "unauthorized_client", "client may not use client_credentials")
		return
	}
	now := iss.Now()
	access, err := iss.sign(map[string]any{"iss": iss.url, "sub": client.ID, "aud": client.Audience, "client_id": client.ID,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": rand.Text()})
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	iss.countIssued()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 300})
}

func (iss *Issuer) countIssued() {
	iss.mu.Lock()
	iss.issued++
	iss.mu.Unlock()
}

func (iss *Issuer) logout(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, c := range iss.Clients {
		if slices.Contains(c.PostLogoutURIs, q.Get("post_logout_redirect_uri")) {
			back, _ := url.Parse(q.Get("post_logout_redirect_uri"))
			if s := q.Get("state"); s != "" {
				v := back.Query()
				v.Set("state", s)
				back.RawQuery = v.Encode()
			}
			http.Redirect(w, r, back.String(), http.StatusFound)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "Du är utloggad från", iss.Label)
}

// Sign signs claims with the issuer's key (RS256), as the token endpoint does.
func (iss *Issuer) Sign(claims map[string]any) (string, error) { return iss.sign(claims) }

func (iss *Issuer) sign(claims map[string]any) (string, error) {
	return SignRS256(iss.key, iss.keyID, claims)
}

// SignRS256 signs claims as a compact JWS with the key.
func SignRS256(key *rsa.PrivateKey, keyID string, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", keyID))
	if err != nil {
		return "", fmt.Errorf("make signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

func pkceMatches(challenge, verifier string) bool {
	sum := sha256.Sum256([]byte(verifier))
	return verifier != "" && subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// atHash is the left half of the SHA-256 of the access token (OIDC Core 3.1.3.6).
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func tokenError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
