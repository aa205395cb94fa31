package redisstore

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/hearro/trustbroker/broker/internal/storekit"
)

// Service secrets (the API signing key, the pseudonym key, the session-token key) are kept
// at prefix:{b}:secret:<name>, sealed: anyone who can read Redis (a replica, a backup, an RDB
// or AOF file, a MONITOR session) must not be able to mint tokens or link pseudonyms with
// them. A sealed value is
//
//	sealedMagic | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// under a key derived from the master key (Options.MasterKey) by HKDF-SHA256 with the info
// secretKeyInfo, which nothing else uses (the DIDComm agent's key lock uses the master key
// itself), and the secret's name as additional data, so that a sealed value moved to another
// name does not open.
//
// A value without the magic is a plaintext secret an earlier version wrote: Secret returns it
// unchanged (pseudonyms and tokens stay valid) and replaces it with its sealed form, only if it
// is still the value read (a compare-and-set script), logging that it did.

// sealedMagic starts every sealed secret. An earlier version's plaintext secret (32 random
// bytes) starts with it with probability 2^-136.
var sealedMagic = []byte("hearro:sealed:v1:")

// secretKeyInfo is the HKDF info of the key that seals the service secrets.
const secretKeyInfo = "hearro redisstore service secrets v1"

// MasterKeySize is the length of Options.MasterKey.
const MasterKeySize = 32

// ErrMasterKey is matched by the errors of Secret when a stored secret does not open with the
// configured master key: it was sealed under another one (or altered). Secret never replaces
// such a secret.
var ErrMasterKey = errors.New("the master key does not open the stored secret")

// ErrNoMasterKey is matched by the errors of Secret on a store opened without
// Options.MasterKey: secrets are only ever stored sealed.
var ErrNoMasterKey = errors.New("no master key configured (Options.MasterKey)")

// newSecretAEAD derives the sealing key from the master key.
func newSecretAEAD(master []byte) (cipher.AEAD, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("redisstore: master key: want %d bytes, got %d", MasterKeySize, len(master))
	}
	key, err := hkdf.Key(sha256.New, master, nil, secretKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("redisstore: master key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("redisstore: master key: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal returns the sealed form of a secret.
func (s *Store) seal(name string, plain []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(bytes.Clone(sealedMagic), nonce...)
	return s.aead.Seal(out, nonce, plain, []byte(name)), nil
}

// open returns the secret in a stored value, and whether the value was sealed (otherwise it is
// an earlier version's plaintext, returned as it is).
func (s *Store) open(name string, stored []byte) (plain []byte, sealed bool, err error) {
	body, ok := bytes.CutPrefix(stored, sealedMagic)
	if !ok {
		return bytes.Clone(stored), false, nil
	}
	n := s.aead.NonceSize()
	if len(body) < n+s.aead.Overhead() {
		return nil, true, fmt.Errorf("redisstore: secret %q: sealed value is truncated: %w", name, ErrMasterKey)
	}
	plain, err = s.aead.Open(nil, body[:n], body[n:], []byte(name))
	if err != nil {
		return nil, true, fmt.Errorf("redisstore: secret %q is sealed under another master key (or was altered); "+
			"it is left as it is: start with the master key that sealed it: %w", name, ErrMasterKey)
	}
	return plain, true, nil
}

// scriptSwap replaces a value only if it is still the one read.
//
//	KEYS: the key
//	ARGV: value read, new value
//	→ 1 if replaced, 0 if the value changed meanwhile
var scriptSwap = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`)

// Secret returns the secret stored under name, creating it with generate the first time:
// GET, and if missing, SET NX GET of the sealed generated value, so that concurrent first
// callers (in any process) may each run generate but all get the value written first. Once the
// secret exists generate is never called. Secrets never expire. The returned slice is the
// caller's.
//
// Secrets are stored sealed under the master key (see above); a store opened without
// Options.MasterKey refuses (ErrNoMasterKey). A stored secret that does not open with the
// master key fails with an error matching ErrMasterKey and is neither replaced nor
// regenerated: a new pseudonym key would change every customer's pseudonym. A plaintext secret
// of an earlier version is returned as it is and sealed in place.
func (s *Store) Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	if name == "" {
		return nil, errors.New("redisstore: secret: empty name")
	}
	if s.aead == nil {
		return nil, fmt.Errorf("redisstore: secret %q: %w", name, ErrNoMasterKey)
	}
	key := s.keys.secret(name)
	for range maxAttempts {
		got, err := s.client.Get(ctx, key).Bytes()
		switch {
		case err == nil:
			plain, sealed, err := s.open(name, got)
			if err != nil || sealed {
				return plain, err
			}
			if len(plain) == 0 {
				return nil, fmt.Errorf("redisstore: secret %q: the stored value is empty", name)
			}
			if ok, err := s.sealInPlace(ctx, key, name, got, plain); err != nil || !ok {
				if err != nil {
					return nil, err
				}
				continue // changed meanwhile (another replica sealed it): read again
			}
			return plain, nil
		case !errors.Is(err, redis.Nil):
			return nil, s.errf(err, "secret %q", name)
		}
		fresh, err := storekit.NewSecret(name, generate)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		sealed, err := s.seal(name, fresh)
		if err != nil {
			return nil, fmt.Errorf("redisstore: secret %q: seal: %w", name, err)
		}
		err = s.client.SetArgs(ctx, key, sealed, redis.SetArgs{Mode: "NX", Get: true}).Err()
		switch {
		case errors.Is(err, redis.Nil): // not set before: ours is stored
			return fresh, nil
		case err != nil:
			return nil, s.errf(err, "secret %q", name)
		}
		// Another caller stored it first: read theirs (sealed, or plaintext from an earlier
		// version still running) on the next round.
	}
	return nil, fmt.Errorf("redisstore: secret %q: %w", name, ErrContention)
}

// sealInPlace replaces an earlier version's plaintext secret with its sealed form, if the
// stored value is still stored; it reports whether it replaced it.
func (s *Store) sealInPlace(ctx context.Context, key, name string, stored, plain []byte) (bool, error) {
	sealed, err := s.seal(name, plain)
	if err != nil {
		return false, fmt.Errorf("redisstore: secret %q: seal: %w", name, err)
	}
	n, err := scriptSwap.Run(ctx, s.client, []string{key}, stored, sealed).Int()
	if err != nil {
		return false, s.errf(err, "secret %q: seal the plaintext value of an earlier version", name)
	}
	if n == 1 {
		s.log.Warn("redisstore: sealed a service secret an earlier version stored in plaintext; "+
			"copies of the plaintext may remain in RDB/AOF files and backups made before now",
			"secret", name, "key", key)
	}
	return n == 1, nil
}
