// Package radiusserver is behorig's RADIUS server as serve runs it: the protocol of
// auth/radius answering with the login decisions of remoteaccess, for the gateways in the
// config. It is the adapter between the two, as internal/web is between HTTP and the domain:
// auth/radius knows nothing of persons and grants, remoteaccess nothing of packets.
package radiusserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/behorig/behorig/auth/radius"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/remoteaccess"
)

// DefaultPort is RADIUS's authentication port (RFC 2865 §3).
const DefaultPort = "1812"

// New returns the server for the configured gateways, deciding with logins.
func New(c config.RADIUS, logins *remoteaccess.Service, logger *slog.Logger) (*radius.Server, error) {
	clients, err := Clients(c.Clients)
	if err != nil {
		return nil, err
	}
	return radius.New(radius.Config{Clients: clients, Authenticator: Authenticator{Logins: logins}, Logger: logger})
}

// Clients turns the configured gateways into auth/radius's clients.
func Clients(configured []config.RADIUSClient) ([]radius.Client, error) {
	clients := make([]radius.Client, 0, len(configured))
	for _, c := range configured {
		prefix, err := c.Prefix()
		if err != nil {
			return nil, fmt.Errorf("radius client %q: %w", c.Name, err)
		}
		clients = append(clients, radius.Client{Name: c.Name, Prefix: prefix, Secret: []byte(c.Secret),
			AllowMissingMessageAuthenticator: c.AllowMissingMessageAuthenticator})
	}
	return clients, nil
}

// ListenAddr completes the configured listen address with the default port.
func ListenAddr(listen string) string {
	if _, _, err := net.SplitHostPort(listen); err == nil {
		return listen
	}
	return net.JoinHostPort(listen, DefaultPort)
}

// Authenticator answers auth/radius's requests with remoteaccess's login decisions.
type Authenticator struct {
	Logins *remoteaccess.Service
}

var _ radius.Authenticator = Authenticator{}

// Authenticate relays the request to Login and its result back.
func (a Authenticator) Authenticate(ctx context.Context, r radius.Request) (radius.Decision, error) {
	nas := r.NASIdentifier
	if nas == "" && r.NASIPAddress.IsValid() {
		nas = r.NASIPAddress.String()
	}
	res, err := a.Logins.Login(ctx, remoteaccess.LoginAttempt{Client: r.Client, NAS: nas, Username: r.Username,
		Password: r.Password, State: r.State})
	if err != nil {
		return radius.Decision{}, err
	}
	d := radius.Decision{ReplyMessage: res.Message, State: res.State}
	switch res.Outcome {
	case remoteaccess.LoginAccepted:
		d.Result = radius.Accept
		// Whole seconds, rounded down: never past the grant's end.
		d.SessionTimeout = res.SessionTimeout.Truncate(time.Second)
	case remoteaccess.LoginChallenged:
		d.Result = radius.Challenge
	default:
		d.Result = radius.Reject
	}
	return d, nil
}
