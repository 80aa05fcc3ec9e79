package ldap

import (
	"context"
	"fmt"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// idleBindConns is how many connections CheckPassword keeps open between binds: a burst of
// logins from the gateways reuses them instead of connecting for each (as FreeRADIUS's
// rlm_ldap keeps a pool), and more than this at once connect and close.
const idleBindConns = 32

// CheckPassword binds as the account with the password on a connection that serves only
// such binds, so that the service account's connection is never bound as a person and a slow
// bind never holds the other operations up. The wait is bounded by ctx and the configured
// timeout. A bind that the directory refuses with invalidCredentials (49: wrong password, or
// a locked or disabled account, which OpenLDAP and AD both answer so) is false with no error.
func (d *Directory) CheckPassword(ctx context.Context, dn, password string) (bool, error) {
	if _, err := ldap.ParseDN(dn); err != nil || dn == "" {
		return false, fmt.Errorf("check password of %q: not a DN", dn)
	}
	if password == "" {
		// An empty password makes a simple bind an unauthenticated one (RFC 4513 §5.1.2),
		// which succeeds whoever the DN names.
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	for {
		conn, pooled, err := d.bindConn(ctx)
		if err != nil {
			return false, fmt.Errorf("check password of %s: %w", dn, err)
		}
		ok, err := d.bind(ctx, conn, dn, password)
		if err != nil && pooled && ldap.IsErrorWithCode(err, ldap.ErrorNetwork) && ctx.Err() == nil {
			continue // an idle connection the server had closed meanwhile: take the next
		}
		if err != nil {
			return false, fmt.Errorf("check password of %s: %w", dn, err)
		}
		return ok, nil
	}
}

// bind binds on conn and keeps conn for the next bind when the directory answered.
func (d *Directory) bind(ctx context.Context, conn *ldap.Conn, dn, password string) (bool, error) {
	deadline, _ := ctx.Deadline()
	conn.SetTimeout(time.Until(deadline))
	// go-ldap's Bind takes no context: a cancelled ctx closes the connection, which ends
	// the bind at once.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	err := conn.Bind(dn, password)
	if !stop() {
		return false, context.Cause(ctx)
	}
	switch {
	case err == nil:
		d.putBindConn(conn)
		return true, nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		d.putBindConn(conn)
		return false, nil
	}
	conn.Close()
	return false, err
}

// bindConn takes an idle bind connection (pooled) or makes one.
func (d *Directory) bindConn(ctx context.Context) (conn *ldap.Conn, pooled bool, err error) {
	for {
		select {
		case conn := <-d.binds:
			if !conn.IsClosing() {
				return conn, true, nil
			}
		default:
			conn, err := d.connect(ctx)
			return conn, false, err
		}
	}
}

// putBindConn keeps the connection for the next bind, or closes it when enough are idle.
func (d *Directory) putBindConn(conn *ldap.Conn) {
	select {
	case d.binds <- conn:
	default:
		conn.Close()
	}
}

func (d *Directory) closeBindConns() {
	for {
		select {
		case conn := <-d.binds:
			conn.Close()
		default:
			return
		}
	}
}
