// Package bolttest reads a bbolt file whole, for tests that must see everything a store wrote
// to it (such as "an erasure leaves no trace"). It depends on bbolt and the standard library
// only; it must not depend on the store packages it helps to test.
package bolttest

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Dump returns every key of the bbolt file at path, in every bucket, nested or not, as
// "bucket/…/key", with its value as text. The file must not be open in this process: bbolt
// locks it. It reads the buckets, not the file's bytes (bbolt does not clear freed pages).
func Dump(t testing.TB, path string) map[string]string {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolttest: bolt.Open(%s) = %v", path, err)
	}
	defer b.Close()
	out := map[string]string{}
	var walk func(name string, bucket *bolt.Bucket) error
	walk = func(name string, bucket *bolt.Bucket) error {
		return bucket.ForEach(func(k, v []byte) error {
			key := name + "/" + string(k)
			if v == nil {
				if nested := bucket.Bucket(k); nested != nil {
					return walk(key, nested)
				}
			}
			out[key] = string(v)
			return nil
		})
	}
	err = b.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bucket *bolt.Bucket) error { return walk(string(name), bucket) })
	})
	if err != nil {
		t.Fatalf("bolttest: reading %s: %v", path, err)
	}
	return out
}
