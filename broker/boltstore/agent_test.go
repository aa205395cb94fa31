package boltstore_test

import (
	"testing"

	spi "github.com/hyperledger/aries-framework-go/spi/storage"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/internal/agentspi/agentspitest"
)

// TestAgentStorage runs the agent storage suite (aries-framework-go's own, with no skips, and
// ours) on a fresh file per subtest.
func TestAgentStorage(t *testing.T) {
	agentspitest.Run(t, func(t *testing.T) (broker.Store, spi.Provider) {
		db := openDB(t)
		return db, db.AgentStorage()
	})
}

// TestAgentBatch checks what only the embedded agent storage promises: a batch is one
// transaction, so an IsNewKey on a key put earlier in the same batch fails it whole. (Redis
// is atomic per shard only: see redisstore's agentStore.Batch.)
func TestAgentBatch(t *testing.T) {
	s, err := openDB(t).AgentStorage().OpenStore("test")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("old", []byte("value-old"), spi.Tag{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	agentspitest.DuplicateChangesNothing(t, s, []spi.Operation{
		{Key: "new", Value: []byte("value-new"), Tags: []spi.Tag{{Name: "t"}}},
		{Key: "old", Value: nil},
		{Key: "new", Value: []byte("again"), PutOptions: &spi.PutOptions{IsNewKey: true}},
	}, "new")
}
