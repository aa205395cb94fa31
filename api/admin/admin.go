// Package admin is the service's operations surface, served on its own listener
// (--admin-addr), never on the public port: Prometheus metrics at /metrics and the Go
// profiler at /debug/pprof/.
//
// Metrics is the one adapter from the meters the other packages declare in their own words
// (broker.Meter, flex.Meter, api.Metrics, the stores' Meter) to Prometheus; those packages do
// not import Prometheus. Every label value comes from a fixed vocabulary (policy names,
// outcomes, reason codes, formats, route patterns, command names): none carries a DID, a
// claim, an id, a phone number or a raw path.
package admin

import (
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hearro/trustbroker/api"
	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/boltstore"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/flex"
)

// Namespace prefixes every metric family of the service.
const Namespace = "hearro"

// Metrics counts what the service's packages report, in a registry of its own. It is safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	sessionsEnded  *prometheus.CounterVec
	verification   *prometheus.HistogramVec
	didcomm        *prometheus.CounterVec
	webhooks       *prometheus.CounterVec
	twilioRequests *prometheus.CounterVec
	twilioRetries  *prometheus.CounterVec
	breaker        prometheus.Gauge
	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	sseOpen        prometheus.Gauge
	rateLimited    *prometheus.CounterVec
	storeDuration  *prometheus.HistogramVec
	storeErrors    *prometheus.CounterVec
}

var (
	_ broker.Meter     = (*Metrics)(nil)
	_ flex.Meter       = (*Metrics)(nil)
	_ api.Metrics      = (*Metrics)(nil)
	_ boltstore.Meter  = (*Metrics)(nil)
	_ redisstore.Meter = (*Metrics)(nil)
)

// New returns Metrics in a new registry that also holds the Go runtime and process
// collectors and hearro_build_info{version,go_version} = 1.
func New(version string) *Metrics {
	if version == "" {
		version = "unknown"
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		sessionsEnded: counter("sessions_ended_total",
			"Verification sessions by policy and outcome (bound, rejected, expired) and reason code (none when there is none).",
			"policy", "outcome", "reason"),
		verification: histogram("verification_duration_seconds",
			"Time to verify a presentation, by credential format and result (verified, rejected, error).",
			[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "format", "result"),
		didcomm: counter("didcomm_messages_total",
			"DIDComm messages from wallets the broker acted on, by message type and result (accepted, refused, ignored).",
			"type", "result"),
		webhooks: counter("webhook_deliveries_total",
			"CRM webhook delivery steps: queued, delivered, retried, dead (kept as a dead letter).", "step"),
		twilioRequests: counter("twilio_requests_total",
			"HTTP calls to Twilio by API operation and status answered (0: no answer).", "api", "status"),
		twilioRetries: counter("twilio_retries_total",
			"Retries of Twilio calls after a temporary failure, by API operation.", "api"),
		breaker: gauge("twilio_circuit_breaker_state",
			"State of the circuit breaker of Twilio calls: 0 closed, 1 half-open, 2 open."),
		httpRequests: counter("http_requests_total",
			"HTTP requests answered on the public port, by method, route pattern (unmatched: no route) and status.",
			"method", "route", "status"),
		httpDuration: histogram("http_request_duration_seconds",
			"Time to answer an HTTP request on the public port, by method and route pattern (event streams: their whole life).",
			prometheus.DefBuckets, "method", "route"),
		sseOpen: gauge("sse_streams_open", "Server-Sent Events streams open now."),
		rateLimited: counter("rate_limited_total",
			"Requests refused by a rate limit, by route pattern.", "route"),
		storeDuration: histogram("store_operation_duration_seconds",
			"Time of store operations (Redis commands and pipelines, embedded store transactions) by operation and result.",
			[]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}, "op", "result"),
		storeErrors: counter("store_errors_total",
			"Store operations that failed (not counting not-found and conflict answers), by operation.", "op"),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info",
		Help: "Build of the running service; always 1."}, []string{"version", "go_version"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		m.sessionsEnded, m.verification, m.didcomm, m.webhooks, m.twilioRequests, m.twilioRetries, m.breaker,
		m.httpRequests, m.httpDuration, m.sseOpen, m.rateLimited, m.storeDuration, m.storeErrors,
	)
	// Series whose labels are known in advance start at zero, so that rates and alerts see
	// them before the first event.
	for _, step := range []string{broker.WebhookQueued, broker.WebhookDelivered, broker.WebhookRetried, broker.WebhookDead} {
		m.webhooks.WithLabelValues(step)
	}
	for _, kind := range []string{broker.WalletMessageConnectionComplete, broker.WalletMessagePresentation, broker.WalletMessageProblemReport} {
		for _, result := range []string{broker.MessageAccepted, broker.MessageRefused, broker.MessageIgnored} {
			m.didcomm.WithLabelValues(kind, result)
		}
	}
	return m
}

// Registry is the registry the metrics are in (to add collectors, or to gather in tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SessionEnded implements broker.Meter.
func (m *Metrics) SessionEnded(policy, outcome, reason string) {
	if reason == "" {
		reason = "none"
	}
	m.sessionsEnded.WithLabelValues(policy, outcome, reason).Inc()
}

// PresentationVerified implements broker.Meter.
func (m *Metrics) PresentationVerified(format, result string, took time.Duration) {
	m.verification.WithLabelValues(format, result).Observe(took.Seconds())
}

// WalletMessage implements broker.Meter.
func (m *Metrics) WalletMessage(kind, result string) { m.didcomm.WithLabelValues(kind, result).Inc() }

// WebhookDelivery implements broker.Meter.
func (m *Metrics) WebhookDelivery(step string) { m.webhooks.WithLabelValues(step).Inc() }

// TwilioCall implements flex.Meter. The operation's retry series starts at zero with its
// first call.
func (m *Metrics) TwilioCall(op string, status int) {
	m.twilioRequests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	m.twilioRetries.WithLabelValues(op)
}

// TwilioRetry implements flex.Meter.
func (m *Metrics) TwilioRetry(op string) { m.twilioRetries.WithLabelValues(op).Inc() }

// BreakerState implements flex.Meter: closed is 0, half-open 1, open 2.
func (m *Metrics) BreakerState(state string) {
	switch state {
	case "open":
		m.breaker.Set(2)
	case "half-open":
		m.breaker.Set(1)
	default:
		m.breaker.Set(0)
	}
}

// Request implements api.Metrics. Methods outside HTTP's own are counted as OTHER: the
// method is the client's to choose.
func (m *Metrics) Request(method, route string, status int, took time.Duration) {
	method = knownMethod(method)
	m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(took.Seconds())
}

// StreamOpened implements api.Metrics.
func (m *Metrics) StreamOpened() { m.sseOpen.Inc() }

// StreamClosed implements api.Metrics.
func (m *Metrics) StreamClosed() { m.sseOpen.Dec() }

// RateLimited implements api.Metrics.
func (m *Metrics) RateLimited(route string) { m.rateLimited.WithLabelValues(route).Inc() }

// StoreOperation implements the stores' Meter. The operation's error series starts at zero
// with its first use.
func (m *Metrics) StoreOperation(op, result string, took time.Duration) {
	m.storeDuration.WithLabelValues(op, result).Observe(took.Seconds())
	errs := m.storeErrors.WithLabelValues(op)
	if result == "error" {
		errs.Inc()
	}
}

func knownMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// Handler serves /metrics (m's registry, in Prometheus' text or OpenMetrics format) and the
// Go profiler under /debug/pprof/, on a mux of its own: never http.DefaultServeMux, and meant
// for the admin listener only. Anything else is 404.
func Handler(m *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
