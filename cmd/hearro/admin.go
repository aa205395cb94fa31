package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/hearro/trustbroker/api/admin"
	"github.com/hearro/trustbroker/broker/redisstore"
)

// adminListener serves the operations surface (api/admin: /metrics and pprof) on
// --admin-addr, apart from the public port. A nil *adminListener (no --admin-addr) serves
// nothing; its methods do nothing.
type adminListener struct {
	ln  net.Listener
	srv *http.Server
}

// checkAdminAddr validates --admin-addr: empty (off), or host:port other than --addr.
func checkAdminAddr(c *serveConfig) error {
	if c.AdminAddr == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(c.AdminAddr); err != nil || port == "" {
		return fmt.Errorf("--admin-addr %q: want host:port, e.g. 127.0.0.1:9090 or :9090", c.AdminAddr)
	}
	if c.AdminAddr == c.Addr {
		return fmt.Errorf("--admin-addr %q: must differ from --addr: metrics and profiles never go on the public port", c.AdminAddr)
	}
	return nil
}

// newMetrics returns the service's metrics, labelled with this build's version.
func newMetrics() *admin.Metrics {
	version := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
	}
	return admin.New(version)
}

// measure makes the backend's store report its operations to m.
func (b *backend) measure(m *admin.Metrics) {
	b.metrics = m
	if b.bolt != nil {
		b.bolt.Measure(m)
	}
	if st, ok := b.store.(*redisstore.Store); ok {
		st.Measure(m)
	}
}

// listenAdmin opens --admin-addr for m's handler; nil without --admin-addr.
func listenAdmin(set settings, m *admin.Metrics) (*adminListener, error) {
	if set.AdminAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", set.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("--admin-addr: %w", err)
	}
	return &adminListener{ln: ln, srv: &http.Server{
		Handler:           admin.Handler(m),
		ReadHeaderTimeout: 10 * time.Second,
		// Profiles take as long as asked (/debug/pprof/profile?seconds=30): no write timeout.
		IdleTimeout: 2 * time.Minute,
	}}, nil
}

// addr is where the admin listener listens; "" when off.
func (a *adminListener) addr() string {
	if a == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// serve serves until shutdown; a failure of the listener is returned.
func (a *adminListener) serve() error {
	if a == nil {
		return nil
	}
	if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin listener: %w", err)
	}
	return nil
}

// shutdown stops the admin listener (started or not), waiting for scrapes under way until ctx
// ends.
func (a *adminListener) shutdown(ctx context.Context) error {
	if a == nil {
		return nil
	}
	err := a.srv.Shutdown(ctx)
	a.ln.Close() // never served: Shutdown did not know it
	return err
}
