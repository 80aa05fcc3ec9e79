package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/behorig/behorig/internal/config"
)

// ErrInvalidToken covers every way an access token can fail; its text says which.
var ErrInvalidToken = errors.New("invalid access token")

// VerifyAccessToken checks an OAuth 2 access token (a JWT, RFC 9068) from an integration: the
// issuer must be a configured IdP with API clients, the signature must verify against its
// keys (once, whatever the number of clients), it must not have expired, aud must hold the
// client's configured audience, and the client's claim (client_id, or what the client's
// config names, e.g. azp for Entra ID) must name a configured API client. A token with a
// nonce is an ID token and is refused, so a user's sign-in never passes for an integration.
func (rp *RP) VerifyAccessToken(ctx context.Context, raw string) (config.APIClient, error) {
	issuer, err := unverifiedIssuer(raw)
	if err != nil {
		return config.APIClient{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	var op *provider
	for _, client := range rp.clients {
		if p, _, err := rp.provider(client.IdP); err == nil && p.cfg.Issuer == issuer {
			op = p
			break
		}
	}
	if op == nil {
		return config.APIClient{}, fmt.Errorf("%w: issuer %q is not trusted for API access", ErrInvalidToken, issuer)
	}
	token, err := op.verifier(&gooidc.Config{SkipClientIDCheck: true, Now: rp.now}).Verify(ctx, raw)
	if err != nil {
		return config.APIClient{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	var claims map[string]any
	if err := token.Claims(&claims); err != nil {
		return config.APIClient{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if _, isIDToken := claims["nonce"]; isIDToken {
		return config.APIClient{}, fmt.Errorf("%w: an ID token is not an access token", ErrInvalidToken)
	}
	for _, client := range rp.clients {
		p, _, err := rp.provider(client.IdP)
		if err != nil || p.cfg.Issuer != issuer || !slices.Contains(token.Audience, client.Audience) {
			continue
		}
		claim := client.ClientClaim
		if claim == "" {
			claim = "client_id"
		}
		if id, _ := claims[claim].(string); id != "" && id == client.ClientID {
			return client, nil
		}
	}
	return config.APIClient{}, fmt.Errorf("%w: no configured API client has audience %v and this client", ErrInvalidToken, token.Audience)
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
