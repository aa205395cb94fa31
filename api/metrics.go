package api

import (
	"time"

	"github.com/labstack/echo/v4"
)

// Metrics receives the HTTP surface's measurements. It is declared here so that api does not
// know which monitoring system counts them (api/admin adapts it to Prometheus). route is
// always a route pattern as registered (/v1/sessions/:id), or RouteUnmatched: never a raw
// path, which would carry ids. Implementations must be safe for concurrent use and must not
// block.
type Metrics interface {
	// Request counts and times one answered request.
	Request(method, route string, status int, took time.Duration)
	// StreamOpened and StreamClosed follow the Server-Sent Events streams open.
	StreamOpened()
	StreamClosed()
	// RateLimited counts one request refused by a rate limit.
	RateLimited(route string)
}

// RouteUnmatched is the route of a request that matched no route.
const RouteUnmatched = "unmatched"

// noMetrics measures nothing: the Metrics of a server configured without any.
type noMetrics struct{}

func (noMetrics) Request(string, string, int, time.Duration) {}
func (noMetrics) StreamOpened()                              {}
func (noMetrics) StreamClosed()                              {}
func (noMetrics) RateLimited(string)                         {}

func (s *server) metrics() Metrics {
	if s.cfg.Metrics == nil {
		return noMetrics{}
	}
	return s.cfg.Metrics
}

// routePatterns returns the set of route patterns e serves; call it once every route is
// registered.
func routePatterns(e *echo.Echo) map[string]bool {
	out := map[string]bool{}
	for _, r := range e.Routes() {
		out[r.Path] = true
	}
	return out
}

// route is the pattern of the route c matched, or RouteUnmatched: Echo names the path it
// searched when nothing matched, which is the raw path, so only registered patterns are kept.
func (s *server) route(c echo.Context) string {
	if p := c.Path(); p != "" && s.routes[p] {
		return p
	}
	return RouteUnmatched
}
