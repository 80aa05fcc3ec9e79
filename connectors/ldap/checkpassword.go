package ldap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// maxBindConns bounds the connections CheckPassword has open at once, kept between binds: a
// gateway's burst of logins reuses them, waiting for one to come free, instead of each
// login connecting (and, to AD over ldaps, shaking hands) and closing, which cost the
// directory and this process more than the binds themselves. FreeRADIUS's rlm_ldap keeps a
// pool the same way.
const maxBindConns = 64

// bindPool holds CheckPassword's connections: idle ones, and a slot for each one open.
type bindPool struct {
	idle  chan *ldap.Conn
	slots chan struct{}
}

func newBindPool() bindPool {
	return bindPool{idle: make(chan *ldap.Conn, maxBindConns), slots: make(chan struct{}, maxBindConns)}
}

// CheckPassword binds as the account with the password on a connection that serves only
// such binds, so that the service account's connection is never bound as a person and a slow
// bind never holds the other operations up. The wait is bounded by ctx and the configured
// timeout. A bind that the directory refuses with invalidCredentials (49: wrong password, or
// a locked or disabled account, which OpenLDAP and AD both answer so) is false with no error.
func (d *Directory) CheckPassword(ctx context.Context, dn, password string) (bool, error) {
	if dn == "" {
		// The DN is the account's, as the directory gave it; one that is no DN is the
		// directory's to refuse (invalidDNSyntax), which is an error below. Parsing it here
		// on every login cost more than the bind's own encoding.
		return false, fmt.Errorf("check password: no DN")
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

// bind binds on conn, and keeps conn for the next bind when the directory answered.
func (d *Directory) bind(ctx context.Context, conn *ldap.Conn, dn, password string) (bool, error) {
	deadline, _ := ctx.Deadline()
	conn.SetTimeout(time.Until(deadline))
	// go-ldap's Bind takes no context: a cancelled ctx closes the connection, which ends
	// the bind at once.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	err := conn.Bind(dn, password)
	if !stop() {
		d.dropBindConn(conn)
		return false, context.Cause(ctx)
	}
	var lerr *ldap.Error
	switch {
	case err == nil:
		d.putBindConn(conn)
		return true, nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		d.putBindConn(conn)
		return false, nil
	case errors.As(err, &lerr) && lerr.ResultCode < ldap.ErrorNetwork:
		// Another answer of the directory (a DN that is none, busy): the connection works.
		d.putBindConn(conn)
		return false, err
	}
	d.dropBindConn(conn)
	return false, err
}

// bindConn takes an idle bind connection (pooled), or connects when fewer than
// maxBindConns are open, or waits for either within ctx.
func (d *Directory) bindConn(ctx context.Context) (conn *ldap.Conn, pooled bool, err error) {
	for {
		if err := context.Cause(ctx); err != nil {
			// Taken now, an idle connection would be closed by the bind at once.
			return nil, false, fmt.Errorf("wait for a connection to bind on: %w", err)
		}
		// An idle connection first: connecting while one is idle would open them all.
		select {
		case conn := <-d.binds.idle:
			if conn, ok := d.usable(conn); ok {
				return conn, true, nil
			}
			continue
		default:
		}
		select {
		case conn := <-d.binds.idle:
			if conn, ok := d.usable(conn); ok {
				return conn, true, nil
			}
		case d.binds.slots <- struct{}{}:
			conn, err := d.connect(ctx)
			if err != nil {
				<-d.binds.slots
				return nil, false, err
			}
			return conn, false, nil
		case <-ctx.Done():
			return nil, false, fmt.Errorf("wait for a connection to bind on: %w", context.Cause(ctx))
		}
	}
}

// usable gives back an idle connection that is still open; a closed one gives up its slot.
func (d *Directory) usable(conn *ldap.Conn) (*ldap.Conn, bool) {
	if conn.IsClosing() {
		d.dropBindConn(conn)
		return nil, false
	}
	return conn, true
}

// putBindConn keeps the connection for the next bind.
func (d *Directory) putBindConn(conn *ldap.Conn) {
	select {
	case d.binds.idle <- conn:
	default: // cannot happen (no more are open than idle holds), but must not block
		d.dropBindConn(conn)
	}
}

// dropBindConn closes a bind connection and frees its slot.
func (d *Directory) dropBindConn(conn *ldap.Conn) {
	conn.Close()
	<-d.binds.slots
}

func (d *Directory) closeBindConns() {
	for {
		select {
		case conn := <-d.binds.idle:
			d.dropBindConn(conn)
		default:
			return
		}
	}
}
