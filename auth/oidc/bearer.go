package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/behorig/behorig/internal/config"
)

// ErrInvalidToken covers every way an access token can fail; its text says which.
var ErrInvalidToken = errors.New("invalid access token")

// VerifyAccessToken checks an OAuth 2 access token (a JWT, RFC 9068) from an integration: the
// issuer must be a configured IdP with API clients, the signature must verify against its
// keys, aud must be the client's configured audience, it must not have expired, and its
// client_id (or azp) must be a configured API client. It returns that client.
func (rp *RP) VerifyAccessToken(ctx context.Context, raw string) (config.APIClient, error) {
	issuer, err := unverifiedIssuer(raw)
	if err != nil {
		return config.APIClient{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	var lastErr error = fmt.Errorf("%w: issuer %q is not trusted for API access", ErrInvalidToken, issuer)
	for _, client := range rp.clients {
		p, op, err := rp.provider(client.IdP)
		if err != nil || p.cfg.Issuer != issuer {
			continue
		}
		token, err := op.Verifier(&gooidc.Config{ClientID: client.Audience, Now: rp.now}).Verify(gooidc.ClientContext(ctx, rp.http), raw)
		if err != nil {
			lastErr = fmt.Errorf("%w: %v", ErrInvalidToken, err)
			continue
		}
		var claims struct {
			ClientID string `json:"client_id"`
			AZP      string `json:"azp"`
		}
		if err := token.Claims(&claims); err != nil {
			return config.APIClient{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
		}
		id := claims.ClientID
		if id == "" {
			id = claims.AZP
		}
		if id == client.ClientID {
			return client, nil
		}
		lastErr = fmt.Errorf("%w: client %q is not configured for the API", ErrInvalidToken, id)
	}
	return config.APIClient{}, lastErr
}

// unverifiedIssuer reads iss from a JWT's payload only to pick the keys to verify it with;
// nothing is trusted before the signature is checked.
func unverifiedIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("payload is not base64url")
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Issuer == "" {
		return "", errors.New("payload has no iss")
	}
	return claims.Issuer, nil
}

func urlValues(m map[string]string) string {
	v := url.Values{}
	for k, s := range m {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}
