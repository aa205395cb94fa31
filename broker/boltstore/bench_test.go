package boltstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
	spi "github.com/hyperledger/aries-framework-go/spi/storage"
)

// BenchmarkTransition measures one conditional session write (read, check, Apply, write,
// commit with fsync), the store's hot path.
func BenchmarkTransition(b *testing.B) {
	db := openDB(b)
	ctx := b.Context()
	if err := db.CreateSession(ctx, &broker.Session{ID: "s1", Status: broker.StatusRequested, InvitationID: "inv-1"}); err != nil {
		b.Fatal(err)
	}
	tr := broker.Transition{
		From:  []broker.Status{broker.StatusRequested},
		To:    broker.StatusRequested,
		Apply: func(s *broker.Session) { s.ConnectionID = "conn-1" },
	}
	now := time.Now()
	for b.Loop() {
		if _, err := db.Transition(ctx, "s1", tr, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAgentPut measures one aries-framework-go store Put of a new key with two tags.
func BenchmarkAgentPut(b *testing.B) {
	s, err := openDB(b).AgentStorage().OpenStore("connections")
	if err != nil {
		b.Fatal(err)
	}
	value := []byte(`{"ConnectionID":"c","State":"completed","TheirDID":"did:peer:1z","MyDID":"did:peer:1y"}`)
	i := 0
	for b.Loop() {
		i++
		key := fmt.Sprintf("conn_%d", i)
		if err := s.Put(key, value, spi.Tag{Name: "conn_"}, spi.Tag{Name: "state", Value: "completed"}); err != nil {
			b.Fatal(err)
		}
	}
}
