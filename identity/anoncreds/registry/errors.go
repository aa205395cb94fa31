package registry

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error a Registry returns wraps exactly one of them (test with
// errors.Is) and names the identifier it was about; none carries response bodies.
var (
	// ErrNotFound: the source answered, and it does not hold an object with that id.
	ErrNotFound = errors.New("not found")
	// ErrMalformedID: the id is not one this package can parse, or too long.
	ErrMalformedID = errors.New("malformed identifier")
	// ErrUnavailable: the source could not answer (unreachable, timed out, HTTP 5xx, an
	// answer cut off); asking again later may succeed.
	ErrUnavailable = errors.New("source unavailable")
	// ErrInvalidObject: the source answered with something that is not a valid object of
	// the kind asked for (bad JSON, too large, limits exceeded), or with an object whose own
	// id, issuer, name, version or tag differs from what the requested id says.
	ErrInvalidObject = errors.New("invalid object")
	// ErrUnsupported: no configured source can answer this kind of question for this id
	// (a method with no source, a status list at a time the source cannot look up).
	ErrUnsupported = errors.New("not supported")
)

// fail wraps sentinel with the id and a detail, as "registry: <what> <id>: <sentinel>: <detail>".
func fail(sentinel error, what, id, format string, args ...any) error {
	detail := fmt.Sprintf(format, args...)
	if detail == "" {
		return fmt.Errorf("registry: %s %q: %w", what, clip(id), sentinel)
	}
	return fmt.Errorf("registry: %s %q: %w: %s", what, clip(id), sentinel, detail)
}

// clip bounds an identifier quoted in an error, so a hostile id cannot flood logs.
func clip(s string) string {
	const max = 160
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
