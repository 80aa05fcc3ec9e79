package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/devidp"
)

// testBaseURL is behorig's address as the test OP knows it; nothing listens there, since
// the tests hand the callback's code to Finish themselves.
const testBaseURL = "http://behorig.test"

// testOP is an RP signed in through the dev OP: an AD-style issuer without a personnummer
// mapping, which tests make misbehave through its hooks.
type testOP struct {
	rp  *RP
	iss *devidp.Issuer
}

func newTestOP(t *testing.T) *testOP {
	t.Helper()
	iss := &devidp.Issuer{Path: "/ad", Label: "AD", Users: []devidp.User{{Subject: "maria", Name: "Maria Chef"}},
		Clients: []devidp.Client{{ID: "behorig", Secret: "s3cret", RedirectURIs: []string{testBaseURL + "/auth/oidc/ad/callback"}}}}
	srv, err := devidp.Start("127.0.0.1:0", iss)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	rp := New(t.Context(), testBaseURL, []config.IdentityProvider{{ID: "ad", Issuer: iss.URL(), ClientID: "behorig",
		ClientSecret: "s3cret", Scopes: []string{"openid"}, Claims: config.Claims{Subject: "sub", Name: "name"}}}, nil, Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := rp.Ready(ctx); err != nil {
		t.Fatalf("discovery of the test OP: %v", err)
	}
	return &testOP{rp: rp, iss: iss}
}

// signIn runs the code flow as a browser would, picking the user at the OP, and finishes it.
func (op *testOP) signIn(t *testing.T, user string) (SignedIn, error) {
	t.Helper()
	authorize, attempt, err := op.rp.Begin("ad")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(authorize)
	if err != nil {
		t.Fatal(err)
	}
	form := u.Query()
	form.Set("user", user)
	u.RawQuery = ""
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(u.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("the OP did not send the browser back: %d %v", resp.StatusCode, err)
	}
	q := callback.Query()
	return op.rp.Finish(t.Context(), attempt, q.Get("code"), q.Get("iss"))
}

func TestIDTokenIssuedInTheFutureIsRefused(t *testing.T) {
	op := newTestOP(t)
	for _, tc := range []struct {
		name   string
		ahead  time.Duration
		refuse bool
	}{
		{"within the clock skew", maxClockSkew - 10*time.Second, false},
		{"beyond the clock skew", maxClockSkew + 10*time.Second, true},
		{"an hour ahead", time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op.iss.TamperIDToken = func(c map[string]any) {
				c["iat"], c["exp"] = time.Now().Add(tc.ahead).Unix(), time.Now().Add(tc.ahead+5*time.Minute).Unix()
			}
			_, err := op.signIn(t, "maria")
			var claimErr *ClaimError
			switch {
			case tc.refuse && (!errors.As(err, &claimErr) || claimErr.Claim != "iat"):
				t.Fatalf("a token issued %s ahead: %v; want a refusal naming iat", tc.ahead, err)
			case !tc.refuse && err != nil:
				t.Fatalf("a token issued %s ahead was refused: %v", tc.ahead, err)
			}
		})
	}
}

func TestIDTokenWithAPersonnummerIsNotKeptForLogout(t *testing.T) {
	op := newTestOP(t)
	if in, err := op.signIn(t, "maria"); err != nil || in.IDToken == "" {
		t.Fatalf("a token without a personnummer: kept %q, %v; want it kept for logout", in.IDToken, err)
	}
	for name, claims := range map[string]map[string]any{
		"12 digits in an unmapped claim":      {"ssn": "191212121212"},
		"with a separator":                    {"personal_number": "19121212-1212"},
		"10 digits":                           {"pnr": "121212-1212"},
		"a samordningsnummer":                 {"coordination_number": "197010632391"},
		"nested in an object and a list":      {"se": map[string]any{"ids": []any{"x", map[string]any{"value": "1212121212"}}}},
		"wrapped in a broker's URN":           {"subject_id": "urn:se:pnr:191202119150"},
		"a number":                            {"ssn": 191202119150},
		"within the mapped name claim":        {"name": "Olle 19120211-9150"},
		"beside other values in a list claim": {"groups": []any{"staff", "191202119150"}},
	} {
		t.Run(name, func(t *testing.T) {
			op.iss.TamperIDToken = func(c map[string]any) {
				for k, v := range claims {
					c[k] = v
				}
			}
			in, err := op.signIn(t, "maria")
			if err != nil {
				t.Fatal(err)
			}
			if in.IDToken != "" {
				t.Fatalf("the token with %v was kept for the logout URL", claims)
			}
		})
	}
}

func TestCarriesPersonnummerIgnoresWhatOnlyLooksLikeOne(t *testing.T) {
	now := time.Now()
	for _, claims := range []map[string]any{
		{"iat": unixNumber(now), "exp": unixNumber(now.Add(time.Hour)), "auth_time": unixNumber(now)},
		{"ssn": "19121212-1213"}, // check digit off
		{"sub": "550e8400-e29b-41d4-a716-446655440000", "email": "maria.chef@example.org"},
		{"phone": "+46 70 123 45 67", "date": "2024-01-01"},
	} {
		if carriesPersonnummer(claims, now) {
			t.Errorf("%v was taken for a personnummer", claims)
		}
	}
}

// unixNumber is a time claim as tokenClaims decodes it.
func unixNumber(t time.Time) json.Number { return json.Number(strconv.FormatInt(t.Unix(), 10)) }
