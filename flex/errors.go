package flex

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/twilio/twilio-go/client"
)

// ErrCircuitOpen is wrapped by the *Error of a call the circuit breaker
// refused: Twilio failed repeatedly and calls are suspended for a while.
// Such an Error is Temporary and has no Status.
var ErrCircuitOpen = errors.New("circuit breaker open: Twilio calls suspended after repeated failures")

// ErrMisconfigured is wrapped by the errors of Check, and of OpenChat when the
// Flex Flow cannot take web chats: the Twilio account is not set up as the
// configuration says. Retrying does not help; fixing the configuration does.
var ErrMisconfigured = errors.New("the Twilio account does not match the configuration")

// errNotVisibleYet marks a chat Twilio said exists but does not show yet
// (another instance created the chat an idempotency key names; a channel
// just created): Twilio's reads lag its writes. Trying again shortly finds
// it, so such an Error is Temporary.
var errNotVisibleYet = errors.New("the chat exists but Twilio does not show it yet")

// Error is a failed call to Twilio.
//
// Status and Code are Twilio's HTTP status and error code (see
// https://www.twilio.com/docs/errors/{Code}); both are 0 when no response
// arrived, in which case Err says why (a timeout, a cancelled context, a
// network error, ErrCircuitOpen). An Error never contains a credential.
type Error struct {
	Op      string // what was attempted: "create web chat", "fetch conversation", …
	Status  int    // HTTP status of Twilio's response, 0 without a response
	Code    int    // Twilio error code, 0 when Twilio gave none
	Message string // Twilio's message, or a description of the failure
	// RetryAfter is Twilio's Retry-After, when the response had one.
	RetryAfter time.Duration
	Err        error // the underlying error, for errors.Is/As
}

func (e *Error) Error() string {
	switch {
	case e.Status != 0 && e.Code != 0:
		return fmt.Sprintf("flex: %s: twilio %d (code %d): %s", e.Op, e.Status, e.Code, e.Message)
	case e.Status != 0:
		return fmt.Sprintf("flex: %s: twilio %d: %s", e.Op, e.Status, e.Message)
	default:
		return fmt.Sprintf("flex: %s: %s", e.Op, e.Message)
	}
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether trying again later may succeed: Twilio rate
// limited the call (429), failed on its side (5xx), the call timed out, or
// the circuit breaker is open. A timed-out call may still have taken effect
// at Twilio; OpenChat is idempotent, so repeating it is safe.
func (e *Error) Temporary() bool {
	if e.Status == http.StatusTooManyRequests || e.Status >= 500 {
		return true
	}
	if errors.Is(e.Err, context.DeadlineExceeded) || errors.Is(e.Err, ErrCircuitOpen) || errors.Is(e.Err, errNotVisibleYet) {
		return true
	}
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// wrapError turns what twilio-go returned into an *Error. status is the HTTP
// status of the last response seen, used when twilio-go could not decode
// Twilio's error body; retryAfter is that response's Retry-After.
func wrapError(op string, err error, status int, retryAfter time.Duration) *Error {
	var out *Error
	var rest *client.TwilioRestError
	var restV1 *client.RestErrorV1
	switch {
	case errors.As(err, &rest):
		out = &Error{Op: op, Status: rest.Status, Code: rest.Code, Message: rest.Message, Err: err}
	case errors.As(err, &restV1):
		out = &Error{Op: op, Status: restV1.HttpStatusCode, Code: restV1.Code, Message: restV1.Message, Err: err}
	case status >= 400:
		out = &Error{Op: op, Status: status, Message: "unreadable error response", Err: err}
	default:
		return &Error{Op: op, Message: err.Error(), Err: err}
	}
	if out.Status == 0 {
		out.Status = status
	}
	out.RetryAfter = retryAfter
	return out
}

// isStatus reports whether err is an *Error with HTTP status status.
func isStatus(err error, status int) bool {
	var fe *Error
	return errors.As(err, &fe) && fe.Status == status
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It returns 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
