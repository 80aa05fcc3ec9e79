package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// minKeyRefetch is how often at most an IdP's keys are fetched again because a token named a
// key we do not have. go-oidc's own key set fetches on every token it cannot verify, so
// anyone could make behorig fetch an IdP's JWKS once per request by sending made-up tokens:
// a load on the IdP, and, while the IdP is slow, on our sign-ins. A real key rotation is
// seen within this interval.
const minKeyRefetch = 30 * time.Second

// keyFetchTimeout bounds a fetch of an IdP's keys, which no asker can cancel.
const keyFetchTimeout = 10 * time.Second

// signingAlgs are the JWS algorithms behorig accepts, as go-oidc does; the IdP's discovery
// document narrows them.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512,
	jose.PS256, jose.PS384, jose.PS512, jose.EdDSA}

// keySet is an IdP's JSON Web Key Set, fetched when a token names a key it does not hold, at
// most once per minKeyRefetch. Concurrent verifications that miss wait for one fetch.
type keySet struct {
	url  string
	http *http.Client
	now  func() time.Time

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time     // of the last fetch, answered or not
	inflight  chan struct{} // closed when the fetch under way ends
}

var _ gooidc.KeySet = (*keySet)(nil)

// VerifySignature checks the JWS against the keys held, and against freshly fetched keys
// when none verifies and the last fetch is older than minKeyRefetch.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, signingAlgs)
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("a jwt must have one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	if payload, ok := verifyWith(jws, kid, k.cached()); ok {
		return payload, nil
	}
	keys, err := k.refetch(ctx)
	if err != nil {
		return nil, err
	}
	if payload, ok := verifyWith(jws, kid, keys); ok {
		return payload, nil
	}
	return nil, errors.New("failed to verify the token's signature")
}

func verifyWith(jws *jose.JSONWebSignature, kid string, keys []jose.JSONWebKey) ([]byte, bool) {
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		if payload, err := jws.Verify(&key); err == nil {
			return payload, true
		}
	}
	return nil, false
}

func (k *keySet) cached() []jose.JSONWebKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys
}

// refetch fetches the keys unless a fetch is under way (then it waits for it) or the last
// one was less than minKeyRefetch ago (then it refuses: the token names a key the IdP did
// not have a moment ago).
func (k *keySet) refetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	if wait := k.inflight; wait != nil {
		k.mu.Unlock()
		select {
		case <-wait:
			return k.cached(), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if !k.fetchedAt.IsZero() && k.now().Sub(k.fetchedAt) < minKeyRefetch {
		k.mu.Unlock()
		return nil, fmt.Errorf("the token's key is not among the IdP's keys, fetched less than %s ago", minKeyRefetch)
	}
	done := make(chan struct{})
	k.inflight, k.fetchedAt = done, k.now()
	k.mu.Unlock()

	// The fetch serves every verification until the next, not only this one: it must not end
	// when the asker hangs up, or anyone could abort it with a made-up token and keep a
	// rotated key unfetched. It is bounded on its own instead.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyFetchTimeout)
	keys, err := k.fetch(fctx)
	cancel()
	k.mu.Lock()
	if err == nil {
		k.keys = keys
	}
	k.inflight = nil
	close(done)
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return keys, nil
}

func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch keys from %s: %w", k.url, err)
	}
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := k.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch keys from %s: %w", k.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch keys from %s: %w", k.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch keys from %s: %s", k.url, resp.Status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("keys from %s: %w", k.url, err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(raw); err != nil {
			if errors.Is(err, jose.ErrUnsupportedKeyType) {
				continue // RFC 7517 5: ignore key types not understood
			}
			return nil, fmt.Errorf("keys from %s: %w", k.url, err)
		}
		if key.Use == "" || key.Use == "sig" {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// idTokenAlgs are the algorithms of the IdP's discovery document that behorig accepts, or
// RS256 when it names none (as go-oidc does).
func idTokenAlgs(offered []string) []string {
	var algs []string
	for _, a := range offered {
		if slices.Contains(signingAlgs, jose.SignatureAlgorithm(a)) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		return []string{string(jose.RS256)}
	}
	return algs
}
