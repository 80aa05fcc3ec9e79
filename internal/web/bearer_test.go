package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/internal/devidp"
)

// clientCredentials gets an access token from the dev IdP the way an HR system would.
func clientCredentials(t *testing.T, s *site) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.idp.AD.URL()+"/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(devenv.HRClientID, s.idp.HRSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var token struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&token); err != nil || token.AccessToken == "" {
		t.Fatalf("client credentials: %d %v", resp.StatusCode, err)
	}
	return token.AccessToken
}

func callMe(t *testing.T, s *site, token string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var me map[string]any
	json.NewDecoder(resp.Body).Decode(&me)
	return resp, me
}

func TestClientCredentialsTokenGetsItsMappedRole(t *testing.T) {
	s := newSite(t, siteOptions{})
	resp, me := callMe(t, s, clientCredentials(t, s))
	roles, _ := json.Marshal(me["roles"])
	if resp.StatusCode != http.StatusOK || me["subject"] != "client:ad:hr-system" || string(roles) != `["requester"]` {
		t.Fatalf("/me with an HR system's token: %d %v", resp.StatusCode, me)
	}
}

func TestRefusedAccessTokens(t *testing.T) {
	s := newSite(t, siteOptions{})
	now := time.Now()
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{"iss": s.idp.AD.URL(), "sub": devenv.HRClientID, "client_id": devenv.HRClientID,
			"aud": "behorig-api", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		change(c)
		return c
	}
	sign := func(iss *devidp.Issuer, c map[string]any) string {
		token, err := iss.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	for name, token := range map[string]string{
		"expired": sign(s.idp.AD, claims(func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-30*time.Minute).Unix()
		})),
		"wrong audience":               sign(s.idp.AD, claims(func(c map[string]any) { c["aud"] = "payroll-api" })),
		"issuer not trusted for API":   sign(s.idp.BankID, claims(func(c map[string]any) { c["iss"] = s.idp.BankID.URL() })),
		"unknown issuer":               sign(s.idp.AD, claims(func(c map[string]any) { c["iss"] = "https://evil.example" })),
		"signed by another issuer":     sign(s.idp.BankID, claims(func(map[string]any) {})),
		"client not configured":        sign(s.idp.AD, claims(func(c map[string]any) { c["client_id"] = "payroll" })),
		"not a JWT":                    "not-a-token",
		"an ID token, not for the API": sign(s.idp.AD, claims(func(c map[string]any) { c["aud"] = "behorig" })),
		"a user's ID token with the API's audience": sign(s.idp.AD, claims(func(c map[string]any) {
			delete(c, "client_id")
			c["sub"], c["azp"], c["aud"], c["nonce"] = "maria.chef", devenv.HRClientID, []string{devenv.HRClientID, "behorig-api"}, "n"
		})),
		"azp instead of client_id": sign(s.idp.AD, claims(func(c map[string]any) {
			delete(c, "client_id")
			c["azp"] = devenv.HRClientID
		})),
		"nonce beside a valid client_id": sign(s.idp.AD, claims(func(c map[string]any) { c["nonce"] = "n" })),
	} {
		t.Run(name, func(t *testing.T) {
			resp, _ := callMe(t, s, token)
			challenge := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer ") {
				t.Fatalf("%d with WWW-Authenticate %q; want 401 with a Bearer challenge", resp.StatusCode, challenge)
			}
			if !strings.Contains(challenge, `error="invalid_token"`) {
				t.Errorf("challenge %q does not say invalid_token", challenge)
			}
		})
	}
	if resp, _ := callMe(t, s, clientCredentials(t, s)); resp.StatusCode != http.StatusOK {
		t.Fatalf("a valid token after the refused ones: %d", resp.StatusCode)
	}
}
