package flex

import "strings"

// Meter receives the Client's measurements of its calls to Twilio. It is declared here so
// that flex does not know which monitoring system counts them (api/admin adapts it to
// Prometheus). op is the call's fixed name in snake case (create_web_chat, fetch_conversation,
// …), never a SID or an identity. Implementations must be safe for concurrent use and must not
// block.
type Meter interface {
	// TwilioCall counts one HTTP call to Twilio and the status it answered; 0 when no answer
	// came (a network error or timeout).
	TwilioCall(op string, status int)
	// TwilioRetry counts one retry of a call Twilio answered with a temporary failure.
	TwilioRetry(op string)
	// BreakerState reports the state the circuit breaker of Twilio's calls is in now:
	// closed, half-open or open.
	BreakerState(state string)
}

// noopMeter measures nothing: the Meter of a Client configured without one.
type noopMeter struct{}

func (noopMeter) TwilioCall(string, int) {}
func (noopMeter) TwilioRetry(string)     {}
func (noopMeter) BreakerState(string)    {}

func meterOrNoop(m Meter) Meter {
	if m == nil {
		return noopMeter{}
	}
	return m
}

// metricOp is a call's name as measurements carry it: "create web chat" → "create_web_chat".
func metricOp(op string) string { return strings.ReplaceAll(op, " ", "_") }
