package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnvName(t *testing.T) {
	for _, tc := range []struct{ prefix, flag, want string }{
		{"HEARRO_", "public-url", "HEARRO_PUBLIC_URL"},
		{"HEARRO_", "twilio-account-sid", "HEARRO_TWILIO_ACCOUNT_SID"},
		{"HEARRO_WALLET_", "wallet-dir", "HEARRO_WALLET_DIR"},
		{"HEARRO_WALLET_", "self-issued", "HEARRO_WALLET_SELF_ISSUED"},
	} {
		if got := envName(tc.prefix, tc.flag); got != tc.want {
			t.Errorf("envName(%q, %q) = %q, want %q", tc.prefix, tc.flag, got, tc.want)
		}
	}
}

// Every serve flag takes its value from its environment twin unless given on the command line.
func TestServeFlagsFromEnvironment(t *testing.T) {
	cmd := newServeCmd()
	env := map[string]string{
		"HEARRO_PUBLIC_URL":  "https://verify.example.com",
		"HEARRO_SESSION_TTL": "3m",
		"HEARRO_DEV":         "false",
		"HEARRO_ADDR":        ":9999", // overridden by the flag below

		"HEARRO_OAUTH_MAX_TOKEN_LIFETIME": "2h",
		"HEARRO_FLEX_ORIGINS":             "https://flex.twilio.com,https://acme.example.com",
	}
	if err := cmd.Flags().Parse([]string{"--addr", ":7000"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(cmd.Flags(), "HEARRO_", func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	get := func(name string) string { return cmd.Flags().Lookup(name).Value.String() }
	if get("public-url") != "https://verify.example.com" || get("session-ttl") != (3*time.Minute).String() || get("dev") != "false" || get("addr") != ":7000" {
		t.Errorf("flags: public-url=%s session-ttl=%s dev=%s addr=%s", get("public-url"), get("session-ttl"), get("dev"), get("addr"))
	}
	if get("oauth-max-token-lifetime") != (2 * time.Hour).String() {
		t.Errorf("--oauth-max-token-lifetime = %s from HEARRO_OAUTH_MAX_TOKEN_LIFETIME=2h", get("oauth-max-token-lifetime"))
	}
	if got := get("flex-origins"); got != "[https://flex.twilio.com,https://acme.example.com]" {
		t.Errorf("--flex-origins = %s from HEARRO_FLEX_ORIGINS", got)
	}
	if !strings.Contains(cmd.Flags().Lookup("data-dir").Usage, "HEARRO_DATA_DIR") {
		t.Errorf("help text does not name the environment twin: %q", cmd.Flags().Lookup("data-dir").Usage)
	}
}

func TestBadEnvironmentValueIsNamed(t *testing.T) {
	cmd := newServeCmd()
	err := applyEnv(cmd.Flags(), "HEARRO_", func(k string) (string, bool) {
		if k == "HEARRO_SESSION_TTL" {
			return "ten minutes", true
		}
		return "", false
	})
	if err == nil || !strings.Contains(err.Error(), "HEARRO_SESSION_TTL") {
		t.Fatalf("error %v does not name the variable", err)
	}
}

func TestServeConfigValidate(t *testing.T) {
	good := defaultServeConfig(t)
	if err := good.Validate(); err != nil {
		t.Fatalf("default configuration: %v", err)
	}
	for name, tc := range map[string]struct {
		mutate func(*serveConfig)
		want   string
	}{
		"public url with a path":         {func(c *serveConfig) { c.PublicURL = "https://x.example.com/app" }, "--public-url"},
		"public url not http":            {func(c *serveConfig) { c.PublicURL = "ftp://x" }, "--public-url"},
		"session ttl too short":          {func(c *serveConfig) { c.SessionTTL = time.Second }, "--session-ttl"},
		"chat token ttl too long":        {func(c *serveConfig) { c.ChatTokenTTL = 48 * time.Hour }, "--chat-token-ttl"},
		"bad master key":                 {func(c *serveConfig) { c.MasterKey = "short" }, "--master-key"},
		"production without key":         {func(c *serveConfig) { c.Dev = false }, "--master-key is required"},
		"production without twilio":      {func(c *serveConfig) { c.Dev = false }, "--twilio-account-sid"},
		"external tokens unbounded":      {func(c *serveConfig) { c.OAuthMaxLifetime = 0 }, "--oauth-max-token-lifetime"},
		"external tokens for a year":     {func(c *serveConfig) { c.OAuthMaxLifetime = 365 * 24 * time.Hour }, "--oauth-max-token-lifetime"},
		"flex origin with a path":        {func(c *serveConfig) { c.FlexOrigins = []string{"https://flex.twilio.com/agent-desktop"} }, "--flex-origins"},
		"flex origin wildcard":           {func(c *serveConfig) { c.FlexOrigins = []string{"*"} }, "--flex-origins"},
		"flex origin http in production": {func(c *serveConfig) { c.Dev = false; c.FlexOrigins = []string{"http://flex.example.com"} }, "--flex-origins"},
	} {
		t.Run(name, func(t *testing.T) {
			c := good
			tc.mutate(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestPolicyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `policies:
  - name: gold
    purpose: Prove you are a gold customer.
    assurance: substantial
    credentials:
      - type: VerifiedCustomer
        issuers: ["did:key:z6MkiMCCuUTBB4wN4wdkWkabdQ6SkU2SdrCJDs4EkvTpC67F"]
    required_claims: [memberId]
    display_claims: [givenName]
`)
	cfg := defaultServeConfig(t)
	cfg.PolicyFile = good
	policies, err := loadPolicies(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if policies["gold"] == nil || policies["default"] == nil {
		t.Fatalf("policies %v: want the file's and, in development, the built-in default", policies)
	}
	cfg.Dev, cfg.DefaultPolicy = false, "gold"
	if policies, err = loadPolicies(cfg); err != nil || policies["default"] != nil {
		t.Fatalf("production: %v %v", policies, err)
	}
	cfg.DefaultPolicy = "silver"
	if _, err := loadPolicies(cfg); err == nil || !strings.Contains(err.Error(), `"silver"`) {
		t.Fatalf("unknown default policy: %v", err)
	}

	cfg.DefaultPolicy = "default"
	cfg.Dev = true
	cfg.PolicyFile = write("bad.yaml", "policies:\n  - name: broken\n    assurance: low\n    credentials:\n      - type: X\n        issuers: [did:key:z6Mk]\n    display_claims: id\n")
	if _, err := loadPolicies(cfg); err == nil || !strings.Contains(err.Error(), "[7:") {
		t.Fatalf("a broken policy file must fail naming its line (7): %v", err)
	}
}
