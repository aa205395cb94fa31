package broker

import (
	"fmt"
	"testing"
	"time"
)

func cachedTestIdentity(id string) *Identity {
	return &Identity{ID: id, FlexIdentity: "hr_" + id, Claims: map[string]any{"memberId": "m-" + id}}
}

// TestIdentityCacheGeneration: a read that began before an invalidation is not cached, and
// nothing is cached while changes are not followed.
func TestIdentityCacheGeneration(t *testing.T) {
	now := time.Now()
	c := newIdentityCache(time.Second, func() time.Time { return now })
	ident := cachedTestIdentity("a")

	c.put(ident, c.generation())
	if _, ok := c.get("a"); ok {
		t.Fatal("cached while changes are not followed")
	}
	c.reset(true)

	gen := c.generation()
	c.drop("other") // any invalidation during the read
	c.put(ident, gen)
	if _, ok := c.get("a"); ok {
		t.Fatal("a read that raced with an invalidation was cached")
	}

	c.put(ident, c.generation())
	got, ok := c.get("a")
	if !ok || got.ID != "a" {
		t.Fatalf("get = %+v, %v", got, ok)
	}
	if got, ok := c.getByFlex("hr_a"); !ok || got.ID != "a" {
		t.Fatalf("getByFlex = %+v, %v", got, ok)
	}
	got.Claims["memberId"] = "changed by a caller"
	if again, _ := c.get("a"); again.Claims["memberId"] != "m-a" {
		t.Fatal("a caller's change reached the cache")
	}

	now = now.Add(time.Second)
	if _, ok := c.get("a"); ok {
		t.Fatal("served after its TTL")
	}
	c.put(ident, c.generation())
	c.drop("a")
	if _, ok := c.getByFlex("hr_a"); ok {
		t.Fatal("served by pseudonym after drop")
	}
	c.put(ident, c.generation())
	c.reset(false)
	if _, ok := c.get("a"); ok {
		t.Fatal("served after reset")
	}
}

// TestIdentityCacheBounded: the cache never holds more than maxCachedIdentities.
func TestIdentityCacheBounded(t *testing.T) {
	now := time.Now()
	c := newIdentityCache(time.Minute, func() time.Time { return now })
	c.reset(true)
	for i := range maxCachedIdentities + 10 {
		c.put(cachedTestIdentity(fmt.Sprint(i)), c.generation())
		if len(c.byID) > maxCachedIdentities || len(c.flex) != len(c.byID) {
			t.Fatalf("after %d puts: %d entries, %d pseudonyms", i+1, len(c.byID), len(c.flex))
		}
	}
}
