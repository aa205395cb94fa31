package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/hyperledger/aries-framework-go/spi/storage"

	"github.com/hearro/trustbroker/api"
	"github.com/hearro/trustbroker/api/admin"
	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/boltstore"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/identity"
)

// backend is where a service keeps its state: the embedded file (one node) or Redis (any
// number of replicas). Everything that must be shared between replicas comes from here.
type backend struct {
	store  broker.Store
	outbox broker.Outbox
	agent  storage.Provider
	events broker.Events
	replay identity.ReplayGuard // nil: the verifier's in-process guard (one node)
	// webhookReplay remembers Twilio webhooks already handled; nil: in-process (one node).
	webhookReplay flex.ReplayGuard
	limiter       api.Limiter // nil: no rate limit
	signing       *api.SigningKey
	ping          func(context.Context) error
	close         func() error

	// pseudonymKey keys customers' chat pseudonyms; tokenSeed keys session tokens.
	pseudonymKey, tokenSeed []byte

	// bolt is set on the embedded store (tests read its file).
	bolt *boltstore.DB
	// metrics count what the service's parts report (admin.go: measure).
	metrics *admin.Metrics
}

const signingKeySecret = "api-signing-key"

// openBackend opens the store the settings name and reads (the first time: creates) the
// service's secrets in it.
func openBackend(ctx context.Context, set settings, log *slog.Logger) (b *backend, err error) {
	if set.RedisURL != "" {
		b, err = openRedisBackend(ctx, set, log)
	} else {
		b, err = openEmbeddedBackend(set, log)
	}
	if err != nil {
		return nil, err
	}
	if b.pseudonymKey, err = b.store.Secret(ctx, pseudonymKeySecret, randomBytes(32)); err != nil {
		b.close()
		return nil, fmt.Errorf("pseudonym key: %w", err)
	}
	if b.tokenSeed, err = b.store.Secret(ctx, sessionTokenKeySecret, randomBytes(32)); err != nil {
		b.close()
		return nil, fmt.Errorf("session token key: %w", err)
	}
	return b, nil
}

func openEmbeddedBackend(set settings, log *slog.Logger) (*backend, error) {
	db, err := boltstore.Open(filepath.Join(set.DataDir, "hearro.db"), boltstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("open the embedded store in %s: %w", set.DataDir, err)
	}
	b := &backend{store: db, outbox: db, agent: db.AgentStorage(), events: broker.NewLocalEvents(), ping: db.Ping, close: db.Close, bolt: db}
	if set.SessionRate > 0 {
		b.limiter = api.NewLocalLimiter(set.SessionRate, set.SessionBurst, 0)
	}
	signing, created, err := loadSigningKey(set.DataDir)
	if err != nil {
		db.Close()
		return nil, err
	}
	if created {
		log.Info("created the API signing key", "path", filepath.Join(set.DataDir, signingKeyFile))
	}
	b.signing = signing
	return b, nil
}

func openRedisBackend(ctx context.Context, set settings, log *slog.Logger) (*backend, error) {
	st, err := redisstore.Open(ctx, set.RedisURL, redisstore.Options{Prefix: set.RedisPrefix, Logger: log, MasterKey: set.masterKey})
	if err != nil {
		return nil, fmt.Errorf("--redis-url: %w", err)
	}
	events := redisstore.NewEvents(st, redisstore.EventsOptions{})
	b := &backend{
		store: st, outbox: st, agent: st.AgentStorage(), events: events, replay: redisstore.NewReplayGuard(st),
		webhookReplay: webhookReplay{redisstore.NewReplayGuard(st)},
		ping: func(ctx context.Context) error {
			return errors.Join(st.Ping(ctx), events.Ready(ctx))
		},
		close: func() error { return errors.Join(events.Close(), st.Close()) },
	}
	if set.SessionRate > 0 {
		b.limiter = redisstore.NewLimiter(st, set.SessionRate, set.SessionBurst)
	}
	// Every secret already stored must open with this master key before any is created: a
	// replica started with the wrong key must not seal a new secret under it.
	if err := checkSecrets(ctx, st); err != nil {
		b.close()
		return nil, err
	}
	seed, err := st.Secret(ctx, signingKeySecret, randomBytes(32))
	if err != nil {
		b.close()
		return nil, secretError("API signing key", err)
	}
	if b.signing, err = api.NewSigningKey(seed); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// serviceSecrets are the names of the secrets the service keeps in the store: the API signing
// key and the pseudonym and session-token keys.
var serviceSecrets = []string{signingKeySecret, pseudonymKeySecret, sessionTokenKeySecret}

// Names of the service secrets in the store.
const (
	pseudonymKeySecret    = "pseudonym-key"
	sessionTokenKeySecret = "session-token-key"
)

// checkSecrets opens every service secret already in Redis, so that a wrong master key fails
// the start before anything is written.
func checkSecrets(ctx context.Context, st *redisstore.Store) error {
	for _, name := range serviceSecrets {
		if _, err := st.Secret(ctx, name, nil); err != nil && !errors.Is(err, broker.ErrNotFound) {
			return secretError(name, err)
		}
	}
	return nil
}

// secretError explains a secret that does not open: the master key is not the one that
// sealed it.
func secretError(name string, err error) error {
	if errors.Is(err, redisstore.ErrMasterKey) {
		return fmt.Errorf("--master-key does not open the service's secrets in Redis: it is not the master key they were "+
			"sealed with (every replica, and `hearro token`, needs the same --master-key); nothing was changed: %s: %w", name, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// signingKeyFor returns the API signing key the service with these settings uses, for
// `hearro token`: from Redis when redisURL is set (sealed there under the service's master
// key), otherwise from the data directory.
func signingKeyFor(ctx context.Context, dataDir, redisURL, redisPrefix, masterKey string) (key *api.SigningKey, created bool, err error) {
	if redisURL == "" {
		return loadSigningKey(dataDir)
	}
	if masterKey == "" {
		return nil, false, errors.New("--master-key is required with --redis-url: the API signing key is sealed in Redis under the service's master key")
	}
	master, ok := decodeMasterKey(masterKey)
	if !ok {
		return nil, false, errors.New("--master-key: want 32 bytes, base64-encoded")
	}
	st, err := redisstore.Open(ctx, redisURL, redisstore.Options{Prefix: redisPrefix, MasterKey: master})
	if err != nil {
		return nil, false, fmt.Errorf("--redis-url: %w", err)
	}
	defer st.Close()
	if err := checkSecrets(ctx, st); err != nil {
		return nil, false, err
	}
	fresh := false
	seed, err := st.Secret(ctx, signingKeySecret, func() ([]byte, error) { fresh = true; return randomBytes(32)() })
	if err != nil {
		return nil, false, secretError("API signing key", err)
	}
	key, err = api.NewSigningKey(seed)
	return key, fresh, err
}

// webhookReplay shares the memory of accepted Twilio webhooks between replicas. When Redis
// cannot answer, it says so: the webhook is answered 503 and Twilio retries it later.
type webhookReplay struct{ g *redisstore.ReplayGuard }

func (w webhookReplay) FirstSeen(ctx context.Context, key string, now time.Time, ttl time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return w.g.Use(ctx, "twilio-webhook:"+key, now.Add(ttl))
}

func (w webhookReplay) Forget(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	return w.g.Release(ctx, "twilio-webhook:"+key)
}
