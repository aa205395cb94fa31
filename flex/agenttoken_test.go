package flex_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// The validator against the emulator's token validation endpoint, through the real HTTP path.
func TestValidateAgentToken(t *testing.T) {
	dev := emulator.DevConfig()
	emu := emulator.New(dev)
	srv := httptest.NewServer(emu)
	defer srv.Close()
	cfg := flex.Config{AccountSID: dev.AccountSID, AuthToken: dev.AuthToken, BaseURL: srv.URL + "/_twilio"}
	v, err := flex.NewTokenValidator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("valid", func(t *testing.T) {
		exp := time.Now().Add(time.Hour).Truncate(time.Second)
		a, err := v.ValidateAgentToken(ctx, emu.AgentToken(exp))
		if err != nil {
			t.Fatal(err)
		}
		if a.Identity != dev.AgentIdentity || !strings.HasPrefix(a.WorkerSID, "WK") || !a.ExpiresAt.Equal(exp) {
			t.Fatalf("agent %+v", a)
		}
		last := emu.Requests()[len(emu.Requests())-1]
		if last.Operation != "ValidateToken" || last.Path != "/_twilio/iam/v1/Accounts/"+dev.AccountSID+"/Tokens/validate" || last.AuthUser != dev.AccountSID {
			t.Fatalf("request %s %s as %s", last.Operation, last.Path, last.AuthUser)
		}
	})
	t.Run("api key", func(t *testing.T) {
		c := cfg
		c.AuthToken, c.APIKeySID, c.APIKeySecret = "", dev.APIKeySID, dev.APIKeySecret
		kv, err := flex.NewTokenValidator(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.ValidateAgentToken(ctx, emu.AgentToken(time.Now().Add(time.Minute))); err != nil {
			t.Fatal(err)
		}
	})

	other := emulator.New(emulator.Config{AccountSID: "AC" + strings.Repeat("9", 32), AuthToken: strings.Repeat("x", 32)})
	good := emu.AgentToken(time.Now().Add(time.Hour))
	for name, token := range map[string]string{
		"missing":         "",
		"blank":           "   ",
		"malformed":       "not-a-token",
		"expired":         emu.AgentToken(time.Now().Add(-time.Second)),
		"another account": other.AgentToken(time.Now().Add(time.Hour)),
		"tampered":        good[:len(good)-2] + "AA",
		"too long":        strings.Repeat("a", 20000),
	} {
		t.Run(name, func(t *testing.T) {
			a, err := v.ValidateAgentToken(ctx, token)
			if !errors.Is(err, flex.ErrAgentTokenInvalid) || a != nil {
				t.Fatalf("got %+v, %v; want ErrAgentTokenInvalid", a, err)
			}
		})
	}

	t.Run("wrong credentials are Twilio unavailable, not an invalid token", func(t *testing.T) {
		c := cfg
		c.AuthToken = strings.Repeat("z", 32)
		bad, _ := flex.NewTokenValidator(c)
		_, err := bad.ValidateAgentToken(ctx, good)
		if !errors.Is(err, flex.ErrAgentTokenUnavailable) || errors.Is(err, flex.ErrAgentTokenInvalid) {
			t.Fatalf("err %v", err)
		}
		if strings.Contains(err.Error(), good) || strings.Contains(err.Error(), c.AuthToken) {
			t.Fatalf("the error leaks a secret: %v", err)
		}
	})
	t.Run("Twilio failing", func(t *testing.T) {
		emu.InjectFault(emulator.Fault{Op: "ValidateToken", Service: "iam", Status: http.StatusServiceUnavailable, Times: 1})
		_, err := v.ValidateAgentToken(ctx, good)
		if !errors.Is(err, flex.ErrAgentTokenUnavailable) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("Twilio unreachable", func(t *testing.T) {
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		c := cfg
		c.BaseURL = gone.URL
		uv, _ := flex.NewTokenValidator(c)
		_, err := uv.ValidateAgentToken(ctx, good)
		if !errors.Is(err, flex.ErrAgentTokenUnavailable) || strings.Contains(err.Error(), good) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("malformed account", func(t *testing.T) {
		if _, err := flex.NewTokenValidator(flex.Config{AccountSID: "nope", AuthToken: dev.AuthToken}); err == nil {
			t.Fatal("a malformed account was accepted")
		}
	})
}
