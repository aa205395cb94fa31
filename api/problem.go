package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hearro/trustbroker/broker"
)

// Problem is an RFC 9457 problem detail. Code is stable and machine-readable; clients switch on
// it, never on Title or Detail.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// problemTypeBase prefixes a problem's code to make its type URI.
const problemTypeBase = "https://hearro.dev/problems/"

// apiError is an error a handler returns to be rendered as a problem.
type apiError struct {
	status int
	code   string
	detail string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.detail) }

func problem(status int, code, format string, args ...any) error {
	return &apiError{status: status, code: code, detail: fmt.Sprintf(format, args...)}
}

// errorHandler is the one place errors become HTTP responses.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p := toProblem(err)
		p.Instance = c.Request().URL.Path
		p.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
		if p.Status >= 500 {
			log.Error("request failed", "request_id", p.RequestID, "method", c.Request().Method, "path", p.Instance, "err", err)
		}
		if p.Status == http.StatusServiceUnavailable {
			c.Response().Header().Set("Retry-After", "5")
		}
		c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(p.Status)
			return
		}
		_ = c.JSON(p.Status, p) // keeps the problem+json content type set above
	}
}

func toProblem(err error) Problem {
	var ae *apiError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		return newProblem(ae.status, ae.code, ae.detail)
	case errors.Is(err, broker.ErrNotFound):
		return newProblem(http.StatusNotFound, "not_found", "no such resource")
	case errors.Is(err, broker.ErrUnknownPolicy):
		return newProblem(http.StatusUnprocessableEntity, "unknown_policy", err.Error())
	case errors.Is(err, broker.ErrNoChat):
		return newProblem(http.StatusConflict, "no_chat", "the session has no chat")
	case errors.Is(err, broker.ErrIdentityGone):
		return newProblem(http.StatusGone, "identity_erased", "the verified identity was erased")
	case errors.Is(err, broker.ErrIdentityExpired):
		return newProblem(http.StatusConflict, "identity_expired", "the verified credential has expired; verify again")
	case errors.Is(err, broker.ErrInvalidInput):
		return newProblem(http.StatusUnprocessableEntity, "invalid_input", err.Error())
	case errors.Is(err, broker.ErrConflict):
		return newProblem(http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, broker.ErrUnavailable):
		return newProblem(http.StatusServiceUnavailable, "unavailable", "a backing service is unavailable; retry shortly")

	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			return newProblem(he.Code, "not_found", "no such route")
		case http.StatusMethodNotAllowed:
			return newProblem(he.Code, "method_not_allowed", "method not allowed on this route")
		case http.StatusRequestEntityTooLarge:
			return newProblem(he.Code, "payload_too_large", "request body too large")
		case http.StatusUnsupportedMediaType:
			return newProblem(he.Code, "unsupported_media_type", "use application/json")
		case http.StatusBadRequest:
			return newProblem(he.Code, "invalid_request", fmt.Sprint(he.Message))
		case http.StatusUnauthorized:
			return newProblem(he.Code, "unauthorized", "missing or invalid credentials")
		}
		if he.Code < 500 {
			return newProblem(he.Code, "invalid_request", http.StatusText(he.Code))
		}
	}
	if p, ok := didcommProblem(err); ok {
		return p
	}
	return newProblem(http.StatusInternalServerError, "internal_error", "the server could not complete the request; quote the request id when reporting it")
}

func newProblem(status int, code, detail string) Problem {
	return Problem{Type: problemTypeBase + code, Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
}
