package broker

import (
	"crypto/rand"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// idSource makes ULIDs: sortable by creation time, and strictly increasing within this
// process even inside one millisecond (monotonic entropy), with 80 bits from crypto/rand so
// that IDs cannot be guessed. IDs made by other replicas in the same millisecond interleave.
type idSource struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
}

func newIDSource() *idSource { return &idSource{entropy: ulid.Monotonic(rand.Reader, 0)} }

func (s *idSource) next(at time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ulid.MustNew(ulid.Timestamp(at), s.entropy).String()
}
