package flex

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/twilio/twilio-go/client"
)

// Error is a failed call to Twilio.
//
// Status and Code are Twilio's HTTP status and error code (see
// https://www.twilio.com/docs/errors/{Code}); both are 0 when no response
// arrived, in which case Err says why (a timeout, a cancelled context, a
// network error). An Error never contains a credential.
type Error struct {
	Op      string // what was attempted: "create web chat", "fetch conversation", …
	Status  int    // HTTP status of Twilio's response, 0 without a response
	Code    int    // Twilio error code, 0 when Twilio gave none
	Message string // Twilio's message, or a description of the failure
	Err     error  // the underlying error, for errors.Is/As
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
// limited the call (429), failed on its side (5xx), or the call timed out.
// A timed-out call may still have taken effect at Twilio.
func (e *Error) Temporary() bool {
	if e.Status == http.StatusTooManyRequests || e.Status >= 500 {
		return true
	}
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// wrapError turns what twilio-go returned into an *Error. status is the HTTP
// status of the last response seen, used when twilio-go could not decode
// Twilio's error body.
func wrapError(op string, err error, status int) *Error {
	var rest *client.TwilioRestError
	if errors.As(err, &rest) {
		return &Error{Op: op, Status: rest.Status, Code: rest.Code, Message: rest.Message, Err: err}
	}
	var restV1 *client.RestErrorV1
	if errors.As(err, &restV1) {
		return &Error{Op: op, Status: restV1.HttpStatusCode, Code: restV1.Code, Message: restV1.Message, Err: err}
	}
	if status >= 400 {
		return &Error{Op: op, Status: status, Message: "unreadable error response", Err: err}
	}
	return &Error{Op: op, Message: err.Error(), Err: err}
}
