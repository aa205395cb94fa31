package redisstore_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// forms returns the ways a secret could show up in a dump: its bytes, hex and base64.
func forms(secret []byte) []string {
	return []string{string(secret), hex.EncodeToString(secret), strings.ToUpper(hex.EncodeToString(secret)),
		base64.StdEncoding.EncodeToString(secret), base64.RawStdEncoding.EncodeToString(secret),
		base64.URLEncoding.EncodeToString(secret), base64.RawURLEncoding.EncodeToString(secret)}
}

// dumpStrings returns every string value under the store's prefix, by key.
func dumpStrings(t *testing.T, st *redisstore.Store) map[string][]byte {
	t.Helper()
	ctx, c := t.Context(), st.Client()
	out := map[string][]byte{}
	iter := c.Scan(ctx, 0, st.Prefix()+":*", 1000).Iterator()
	for iter.Next(ctx) {
		if typ, _ := c.Type(ctx, iter.Val()).Result(); typ == "string" {
			v, err := c.Get(ctx, iter.Val()).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			out[iter.Val()] = v
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func randomSecret(t *testing.T) []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSecretsSealed: a secret is in Redis only sealed — its bytes, hex or base64 are nowhere —
// and only a store with the same master key opens it.
func TestSecretsSealed(t *testing.T) {
	srv := redistest.Server(t)
	prefix := newPrefix()
	st := open(t, srv.URL(), prefix)
	ctx := t.Context()
	secret := randomSecret(t)
	got, err := st.Secret(ctx, "pseudonym-key", func() ([]byte, error) { return secret, nil })
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Secret = %x, %v; want the generated %x", got, err, secret)
	}
	dump := dumpStrings(t, st)
	stored, ok := dump[prefix+":{b}:secret:pseudonym-key"]
	if !ok {
		t.Fatalf("no secret key in %v", dump)
	}
	if !bytes.HasPrefix(stored, []byte("hearro:sealed:v1:")) || len(stored) != len("hearro:sealed:v1:")+12+32+16 {
		t.Errorf("stored secret %q is not sealed (magic, nonce, ciphertext, tag)", stored)
	}
	for key, v := range dump {
		for _, f := range forms(secret) {
			if bytes.Contains(v, []byte(f)) || strings.Contains(key, f) {
				t.Errorf("the secret (as %q) is in Redis at %s", f, key)
			}
		}
	}

	// A second store with the same master key (another replica) reads it; one with another
	// key fails without replacing it or calling the generator, and so does one without a key.
	if again, err := open(t, srv.URL(), prefix).Secret(ctx, "pseudonym-key", nil); err != nil || !bytes.Equal(again, secret) {
		t.Errorf("another replica's Secret = %x, %v", again, err)
	}
	wrong, err := redisstore.Open(ctx, srv.URL(), redisstore.Options{Prefix: prefix, MasterKey: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	_, err = wrong.Secret(ctx, "pseudonym-key", func() ([]byte, error) {
		t.Error("generate called although a secret is stored")
		return randomSecret(t), nil
	})
	if !errors.Is(err, redisstore.ErrMasterKey) || !strings.Contains(err.Error(), "master key") {
		t.Errorf("Secret with another master key = %v, want an error matching ErrMasterKey naming the master key", err)
	}
	if now := dumpStrings(t, st)[prefix+":{b}:secret:pseudonym-key"]; !bytes.Equal(now, stored) {
		t.Error("a store with the wrong master key changed the stored secret")
	}
	none, err := redisstore.Open(ctx, srv.URL(), redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer none.Close()
	if _, err := none.Secret(ctx, "pseudonym-key", nil); !errors.Is(err, redisstore.ErrNoMasterKey) {
		t.Errorf("Secret without a master key = %v, want ErrNoMasterKey", err)
	}
	if _, err := none.Secret(ctx, "new", func() ([]byte, error) { return secret, nil }); !errors.Is(err, redisstore.ErrNoMasterKey) {
		t.Errorf("Secret without a master key, new secret = %v, want ErrNoMasterKey", err)
	}
	if _, err := redisstore.Open(ctx, srv.URL(), redisstore.Options{Prefix: prefix, MasterKey: []byte("short")}); err == nil {
		t.Error("Open with a 5-byte master key = nil error")
	}

	// The name is bound in: a sealed value copied under another name does not open.
	c := st.Client()
	if err := c.Set(ctx, prefix+":{b}:secret:session-token-key", stored, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Secret(ctx, "session-token-key", nil); !errors.Is(err, redisstore.ErrMasterKey) {
		t.Errorf("a sealed value moved to another name opened: %v", err)
	}
	// Neither does one altered by a bit.
	altered := bytes.Clone(stored)
	altered[len(altered)-1] ^= 1
	if err := c.Set(ctx, prefix+":{b}:secret:pseudonym-key", altered, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Secret(ctx, "pseudonym-key", nil); !errors.Is(err, redisstore.ErrMasterKey) {
		t.Errorf("an altered sealed value opened: %v", err)
	}
}

// TestSecretPlaintextMigration: a plaintext secret an earlier version stored is returned
// unchanged (so pseudonyms and tokens stay valid) and sealed in place, once, even by racing
// replicas.
func TestSecretPlaintextMigration(t *testing.T) {
	srv := redistest.Server(t)
	ctx := t.Context()
	replicas := openReplicas(t, srv.URL(), 8)
	prefix := replicas[0].Prefix()
	c := replicas[0].Client()
	for round := range 3 {
		name := fmt.Sprint("legacy-", round)
		legacy := randomSecret(t)
		key := prefix + ":{b}:secret:" + name
		if err := c.Set(ctx, key, legacy, 0).Err(); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		got := make([][]byte, len(replicas))
		errs := make([]error, len(replicas))
		for i, st := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = st.Secret(ctx, name, func() ([]byte, error) {
					return nil, errors.New("generate called although a secret is stored")
				})
			}()
		}
		wg.Wait()
		for i := range replicas {
			if errs[i] != nil || !bytes.Equal(got[i], legacy) {
				t.Fatalf("replica %d: Secret = %x, %v; want the plaintext value %x", i, got[i], errs[i], legacy)
			}
		}
		stored, err := c.Get(ctx, key).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(stored, []byte("hearro:sealed:v1:")) {
			t.Fatalf("the plaintext secret was not sealed: %q", stored)
		}
		for _, f := range forms(legacy) {
			if bytes.Contains(stored, []byte(f)) {
				t.Errorf("the sealed value still holds the secret as %q", f)
			}
		}
		if again, err := replicas[0].Secret(ctx, name, nil); err != nil || !bytes.Equal(again, legacy) {
			t.Errorf("Secret after sealing = %x, %v", again, err)
		}
		if now, _ := c.Get(ctx, key).Bytes(); !bytes.Equal(now, stored) {
			t.Error("reading a sealed secret rewrote it")
		}
	}
}
