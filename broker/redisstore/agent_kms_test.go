package redisstore_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/tink/go/insecurecleartextkeyset"
	"github.com/google/tink/go/keyset"
	ed25519pb "github.com/google/tink/go/proto/ed25519_go_proto"
	"github.com/hyperledger/aries-framework-go/pkg/kms"
	"github.com/hyperledger/aries-framework-go/pkg/kms/localkms"
	"github.com/hyperledger/aries-framework-go/pkg/secretlock"
	"github.com/hyperledger/aries-framework-go/pkg/secretlock/local"
	kmsapi "github.com/hyperledger/aries-framework-go/spi/kms"
	spi "github.com/hyperledger/aries-framework-go/spi/storage"
	"google.golang.org/protobuf/proto"

	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// kmsProvider is what localkms needs: a key store over the agent storage and a secret lock.
type kmsProvider struct {
	store kmsapi.Store
	lock  secretlock.Service
}

func (p kmsProvider) StorageProvider() kmsapi.Store  { return p.store }
func (p kmsProvider) SecretLock() secretlock.Service { return p.lock }

// newKMS returns a localkms over storage, locked with masterKey as cmd/hearro's masterLock
// builds it (the local lock takes the key base64url-encoded).
func newKMS(t *testing.T, storage spi.Provider, masterKey []byte) *localkms.LocalKMS {
	t.Helper()
	lock, err := local.NewService(strings.NewReader(base64.URLEncoding.EncodeToString(masterKey)), nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := kms.NewAriesProviderWrapper(storage)
	if err != nil {
		t.Fatal(err)
	}
	km, err := localkms.New("local-lock://default/master/key/", kmsProvider{store: store, lock: lock})
	if err != nil {
		t.Fatal(err)
	}
	return km
}

// TestAgentKMSKeysAreEncrypted stores an Ed25519 key through aries-framework-go's localkms,
// as the DIDComm agent does, and checks what lands in Redis: a Tink encrypted keyset (its key
// material a ciphertext under the master key) that contains neither the private key nor the
// public key in any usual encoding, that another replica opens with the master key, and that
// a wrong master key cannot open.
func TestAgentKMSKeysAreEncrypted(t *testing.T) {
	replicas := openReplicas(t, redistest.Server(t).URL(), 2)
	st, other := replicas[0], replicas[1]
	master := randomSecret(t)

	km := newKMS(t, st.AgentStorage(), master)
	keyID, pub, err := km.CreateAndExportPubKeyBytes(kmsapi.ED25519Type)
	if err != nil {
		t.Fatalf("CreateAndExportPubKeyBytes = %v", err)
	}
	if len(pub) != ed25519.PublicKeySize {
		t.Fatalf("exported public key has %d bytes", len(pub))
	}
	// The private key, from the keyset handle in memory: what must never be in Redis.
	h, err := km.Get(keyID)
	if err != nil {
		t.Fatal(err)
	}
	mem := &keyset.MemReaderWriter{}
	if err := insecurecleartextkeyset.Write(h.(*keyset.Handle), mem); err != nil {
		t.Fatal(err)
	}
	var priv ed25519pb.Ed25519PrivateKey
	if err := proto.Unmarshal(mem.Keyset.Key[0].KeyData.Value, &priv); err != nil {
		t.Fatal(err)
	}
	seed := priv.KeyValue
	if !bytes.Equal(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey), pub) {
		t.Fatal("the private key read from the handle does not match the exported public key")
	}
	clearKeyset, err := proto.Marshal(mem.Keyset)
	if err != nil {
		t.Fatal(err)
	}

	// Every value the store wrote for the key store ("kmsdb"), straight from Redis.
	ctx := context.Background()
	var raws [][]byte
	iter := st.Client().Scan(ctx, 0, st.Prefix()+":a:{kmsdb/*}:r:*", 1000).Iterator()
	for iter.Next(ctx) {
		raw, err := st.Client().Get(ctx, iter.Val()).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(iter.Val(), ":r:"+keyID) {
			raws = append([][]byte{raw}, raws...)
		} else {
			raws = append(raws, raw)
		}
	}
	if len(raws) == 0 || !bytes.Contains(raws[0], []byte(`"encryptedKeyset"`)) {
		t.Fatalf("no stored record for key %s (found %d kmsdb records)", keyID, len(raws))
	}
	for _, raw := range raws {
		for name, secret := range map[string][]byte{
			"private key":               seed,
			"private key (base64)":      []byte(base64.StdEncoding.EncodeToString(seed)),
			"private key (base64url)":   []byte(base64.RawURLEncoding.EncodeToString(seed)),
			"public key":                pub,
			"public key (base64)":       []byte(base64.StdEncoding.EncodeToString(pub)),
			"public key (base64url)":    []byte(base64.RawURLEncoding.EncodeToString(pub)),
			"cleartext keyset":          clearKeyset,
			"cleartext keyset (base64)": []byte(base64.StdEncoding.EncodeToString(clearKeyset)),
		} {
			if bytes.Contains(raw, secret) {
				t.Errorf("Redis holds the %s in clear", name)
			}
		}
	}

	// The record's value is a Tink encrypted keyset: key metadata in clear, the keyset itself
	// an AEAD ciphertext that is not the cleartext keyset's size.
	value := raws[0][bytes.IndexByte(raws[0], '{'):]
	var stored struct {
		EncryptedKeyset []byte `json:"encryptedKeyset"`
		KeysetInfo      struct {
			KeyInfo []struct {
				TypeURL string `json:"typeUrl"`
			} `json:"keyInfo"`
		} `json:"keysetInfo"`
		Keyset json.RawMessage `json:"keyset"`
	}
	if err := json.Unmarshal(value, &stored); err != nil {
		t.Fatalf("stored key is not a Tink JSON keyset: %v\n%q", err, value)
	}
	if stored.Keyset != nil {
		t.Error("stored key has a cleartext keyset field")
	}
	if len(stored.KeysetInfo.KeyInfo) != 1 || !strings.HasSuffix(stored.KeysetInfo.KeyInfo[0].TypeURL, "Ed25519PrivateKey") {
		t.Errorf("keyset info = %+v, want one Ed25519 private key", stored.KeysetInfo)
	}
	if len(stored.EncryptedKeyset) <= len(clearKeyset) {
		t.Errorf("encrypted keyset has %d bytes, cleartext %d: want ciphertext with envelope overhead", len(stored.EncryptedKeyset), len(clearKeyset))
	}

	// Another replica with the master key uses the key; a wrong master key cannot.
	again, _, err := newKMS(t, other.AgentStorage(), master).ExportPubKeyBytes(keyID)
	if err != nil || !bytes.Equal(again, pub) {
		t.Errorf("other replica: ExportPubKeyBytes = %x, %v; want %x", again, err, pub)
	}
	if _, err := newKMS(t, other.AgentStorage(), randomSecret(t)).Get(keyID); err == nil {
		t.Error("a KMS with another master key opened the stored key")
	}
}
