package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/auth/radius"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/radiusserver"
	"github.com/behorig/behorig/internal/store"
)

// radiusConnections is the RADIUS server's own pool. A login holds a connection for a few
// short statements at a time (never while the directory checks the password or an SMS goes
// out), and the logins in flight share their account reads and their records (at most two
// of each at once, remoteaccess's group.go), so ten keep up with thousands of logins a
// second; 6 and 16 were slower in the benchmark. A burst of logins cannot take the web's
// connections, nor a burst of page views stall the gateways.
const radiusConnections = 10

// gatewayServer is the RADIUS server for the VPN and Citrix gateways, bound and ready to
// serve.
type gatewayServer struct {
	pool   *pgxpool.Pool
	server *radius.Server
	conn   net.PacketConn
	logger *slog.Logger
}

// openRADIUS binds the RADIUS port, so that a port in use stops the start, and assembles
// the server on a pool of its own; nil when the config has no listen address.
func openRADIUS(ctx context.Context, cfg *config.Config, st *stack, logger *slog.Logger) (_ *gatewayServer, err error) {
	c := cfg.RemoteAccess.RADIUS
	if c.Listen == "" {
		return nil, nil
	}
	g := &gatewayServer{logger: logger}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	if g.pool, err = store.OpenSized(ctx, cfg.DatabaseURL, radiusConnections); err != nil {
		return nil, fmt.Errorf("radius: %w", err)
	}
	if g.server, err = radiusserver.New(c, st.remote.OnPool(g.pool), logger); err != nil {
		return nil, err
	}
	addr := radiusserver.ListenAddr(c.Listen)
	if g.conn, err = (&net.ListenConfig{}).ListenPacket(ctx, "udp", addr); err != nil {
		return nil, fmt.Errorf("radius: listen on %s: %w", addr, err)
	}
	return g, nil
}

// addr is where the server listens.
func (g *gatewayServer) addr() string { return g.conn.LocalAddr().String() }

// start serves until ctx ends or stop is called; stop returns once the requests in flight
// are answered.
func (g *gatewayServer) start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	g.logger.Info("radius: serving", "addr", g.addr())
	go func() {
		defer close(done)
		if err := g.server.Serve(ctx, g.conn); err != nil {
			g.logger.Error("radius: serve", "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func (g *gatewayServer) close() {
	if g == nil {
		return
	}
	if g.conn != nil {
		g.conn.Close()
	}
	if g.pool != nil {
		g.pool.Close()
	}
}
