package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// A token naming a key we do not hold makes behorig fetch the IdP's keys at most once per
// minKeyRefetch, however many such tokens come and however many at once; a rotated key is
// found once the interval has passed.
func TestKeyRefetchHasAMinimumInterval(t *testing.T) {
	newKey := func(kid string) (*ecdsa.PrivateKey, jose.JSONWebKey) {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return priv, jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}
	}
	privA, pubA := newKey("a")
	privB, pubB := newKey("b")
	var mu sync.Mutex
	published := []jose.JSONWebKey{pubA}
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		time.Sleep(50 * time.Millisecond) // a fetch takes a while: concurrent misses overlap it
		mu.Lock()
		defer mu.Unlock()
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: published})
	}))
	defer srv.Close()
	sign := func(priv *ecdsa.PrivateKey, kid string) string { return signedWith(t, priv, kid) }
	var clockMu sync.Mutex
	now := time.Now()
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); defer clockMu.Unlock(); now = now.Add(d) }
	keys := &keySet{url: srv.URL, http: srv.Client(), now: clock}
	ctx := t.Context()

	if _, err := keys.VerifySignature(ctx, sign(privA, "a")); err != nil {
		t.Fatalf("a token signed with the published key: %v", err)
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for the first token, want 1", n)
	}
	// The IdP rotates to key b; tokens with it (and forged ones) come at once.
	mu.Lock()
	published = []jose.JSONWebKey{pubA, pubB}
	mu.Unlock()
	for range 20 {
		if _, err := keys.VerifySignature(ctx, sign(privB, "b")); err == nil {
			t.Fatal("a token with an unknown key verified without a fetch")
		}
		if _, err := keys.VerifySignature(ctx, sign(privB, "a")); err == nil {
			t.Fatal("a token claiming key a but signed with another verified")
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within %s, want 1", n, minKeyRefetch)
	}
	advance(minKeyRefetch + time.Second)
	var wg sync.WaitGroup
	var verified atomic.Int32
	for range 10 {
		wg.Go(func() {
			if _, err := keys.VerifySignature(ctx, sign(privB, "b")); err == nil {
				verified.Add(1)
			}
		})
	}
	wg.Wait()
	if n := fetches.Load(); n != 2 || verified.Load() != 10 {
		t.Fatalf("after the interval: %d fetches (want 2), %d of 10 tokens with the rotated key verified", n, verified.Load())
	}
	if _, err := keys.VerifySignature(ctx, sign(privA, "a")); err != nil {
		t.Fatalf("the old key after rotation: %v", err)
	}
}

// A fetch is not the asker's: a client that sends a token with a made-up key and hangs up at
// once must not abort the fetch, which would leave the rotated keys unfetched for another
// interval (and, repeated, for good) while sign-ins with the new key fail.
func TestKeyRefetchOutlivesTheAskersCancel(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var published atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set := jose.JSONWebKeySet{}
		if published.Load() {
			set.Keys = []jose.JSONWebKey{{Key: priv.Public(), KeyID: "b", Algorithm: string(jose.ES256), Use: "sig"}}
		}
		json.NewEncoder(w).Encode(set)
	}))
	defer srv.Close()
	raw := signedWith(t, priv, "b")
	keys := &keySet{url: srv.URL, http: srv.Client(), now: time.Now}
	published.Store(true) // the IdP has rotated to b
	gone, cancel := context.WithCancel(t.Context())
	cancel() // the attacker has hung up
	keys.VerifySignature(gone, raw)
	if _, err := keys.VerifySignature(t.Context(), raw); err != nil {
		t.Fatalf("a token with the rotated key after an aborted request's fetch: %v", err)
	}
}

// signedWith is a compact JWS of a small payload, signed with priv under kid.
func signedWith(t *testing.T, priv *ecdsa.PrivateKey, kid string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{}).WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(`{"sub":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
