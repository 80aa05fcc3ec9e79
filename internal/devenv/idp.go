package devenv

import (
	"crypto/rand"
	"net"
	"strconv"

	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/devidp"
)

// preferredIdPPort keeps the dev IdP's issuer URLs the same between runs when it is free.
const preferredIdPPort = 5556

// BankIDACR is the acr the dev broker gives a BankID sign-in, as brokers name the eID used.
const BankIDACR = "urn:se:curity:authentication:bankid"

// HRClientID is the dev IdP's client-credentials client, standing in for an HR system.
const HRClientID = "hr-system"

// IdP is the running dev OpenID Provider and the configuration behorig signs in with.
type IdP struct {
	Server     *devidp.Server
	AD, BankID *devidp.Issuer
	Providers  []config.IdentityProvider
	APIClients []config.APIClient
	HRSecret   string
}

// StartIdP starts the dev IdP on host (port 0 for any; else near the preferred port) with an
// AD-style issuer for staff and a BankID-style broker for external providers, whose users
// carry Skatteverket test numbers. baseURL is behorig's, for the registered redirect URIs.
func StartIdP(host string, port int, baseURL string) (*IdP, error) {
	if port < 0 {
		p, err := portNear(preferredIdPPort)
		if err != nil {
			return nil, err
		}
		port = p
	}
	adSecret, bankIDSecret, hrSecret := rand.Text(), rand.Text(), rand.Text()
	client := func(id, secret string) devidp.Client {
		return devidp.Client{ID: "behorig", Secret: secret,
			RedirectURIs:   []string{baseURL + "/auth/oidc/" + id + "/callback"},
			PostLogoutURIs: []string{baseURL + "/login?signed_out=1"}}
	}
	ad := &devidp.Issuer{Path: "/ad", Label: "Kommunens AD (dev)", Clients: []devidp.Client{client("ad", adSecret),
		{ID: HRClientID, Secret: hrSecret, Audience: "behorig-api"}},
		Users: []devidp.User{
			{Subject: "maria.chef", Name: "Maria Chef", Email: "maria.chef@example.org", Title: "Chef med attesträtt, Hemtjänst Norr och Ekbacken"},
			{Subject: "rolf.bestallare", Name: "Rolf Beställare", Email: "rolf.bestallare@example.org", Title: "Beställare, Hemtjänst Norr"},
			{Subject: "ingrid.it", Name: "Ingrid IT-handläggare", Email: "ingrid.it@example.org", Title: "IT-handläggare",
				Groups: []string{"behorig-it-handlaggare"}},
			{Subject: "ivar.admin", Name: "Ivar IT-administratör", Email: "ivar.admin@example.org", Title: "IT-administratör",
				Groups: []string{"behorig-it-admin"}},
		}}
	bankID := &devidp.Issuer{Path: "/bankid", Label: "BankID-broker (dev)", PersonnummerClaim: "personal_number",
		Clients: []devidp.Client{client("bankid", bankIDSecret)},
		Users: []devidp.User{
			{Subject: "bid-7f3a9c", Name: "Olle Omsorgschef", Title: "Chef hos Omsorgsbolaget AB (extern utförare), 19120211-9150",
				Personnummer: "191202119150", ACR: BankIDACR},
			{Subject: "bid-2c81e0", Name: "Tova Testsson", Title: "Inte registrerad i Behörig, 19850113-9995",
				Personnummer: "198501139995", ACR: BankIDACR},
		}}
	srv, err := devidp.Start(net.JoinHostPort(host, strconv.Itoa(port)), ad, bankID)
	if err != nil {
		return nil, err
	}
	return &IdP{Server: srv, AD: ad, BankID: bankID, HRSecret: hrSecret,
		Providers: []config.IdentityProvider{
			{ID: "ad", Label: "Logga in med AD-konto", Issuer: ad.URL(), ClientID: "behorig", ClientSecret: adSecret,
				Scopes: []string{"openid", "profile", "email"}, DefaultRoles: []string{"requester"},
				Claims: config.Claims{Subject: "sub", Name: "name", Email: "email", Groups: "groups"},
				Roles:  map[string]string{"behorig-it-handlaggare": "it_handler", "behorig-it-admin": "it_admin"}},
			{ID: "bankid", Label: "Logga in med BankID", Issuer: bankID.URL(), ClientID: "behorig", ClientSecret: bankIDSecret,
				Scopes: []string{"openid", "profile"}, DefaultRoles: []string{"requester"}, KnownUsersOnly: true,
				ACRValues: []string{BankIDACR},
				Claims:    config.Claims{Subject: "sub", Name: "name", Email: "email", Personnummer: "personal_number"}},
		},
		APIClients: []config.APIClient{{IdP: "ad", Audience: "behorig-api", ClientID: HRClientID, Role: "requester", Name: "HR-systemet (dev)"}},
	}, nil
}
