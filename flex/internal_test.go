package flex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
)

func TestBaseClientTarget(t *testing.T) {
	const account = "ACde000000000000000000000000000001"
	tests := []struct {
		name, base, in, want, err string
	}{
		{name: "live/unchanged", in: "https://flex-api.twilio.com/v2/WebChats", want: "https://flex-api.twilio.com/v2/WebChats"},
		{name: "live/edge host unchanged", in: "https://conversations.sydney.au1.twilio.com/v1/Conversations", want: "https://conversations.sydney.au1.twilio.com/v1/Conversations"},
		{name: "emulator/flex-api", base: "http://127.0.0.1:8080/_twilio", in: "https://flex-api.twilio.com/v2/WebChats",
			want: "http://127.0.0.1:8080/_twilio/flex-api/v2/WebChats"},
		{name: "emulator/trailing slash in BaseURL", base: "http://127.0.0.1:8080/_twilio/", in: "https://conversations.twilio.com/v1/Conversations/CH1",
			want: "http://127.0.0.1:8080/_twilio/conversations/v1/Conversations/CH1"},
		{name: "emulator/query kept", base: "http://localhost/_twilio", in: "https://conversations.twilio.com/v1/Conversations?PageSize=2&Page=1&PageToken=PT2",
			want: "http://localhost/_twilio/conversations/v1/Conversations?PageSize=2&Page=1&PageToken=PT2"},
		{name: "emulator/region host", base: "http://localhost/_twilio", in: "https://conversations.us1.twilio.com/v1/Users/hr_x",
			want: "http://localhost/_twilio/conversations/v1/Users/hr_x"},
		{name: "emulator/escaped path kept", base: "http://localhost/_twilio", in: "https://conversations.twilio.com/v1/Users/a%20b",
			want: "http://localhost/_twilio/conversations/v1/Users/a%20b"},
		{name: "emulator/emulator URL passes", base: "http://localhost/_twilio", in: "http://localhost/_twilio/conversations/v1/Conversations",
			want: "http://localhost/_twilio/conversations/v1/Conversations"},
		{name: "emulator/foreign host refused", base: "http://localhost/_twilio", in: "https://evil.example/v1/Conversations", err: "refusing"},
		{name: "emulator/lookalike host refused", base: "http://localhost/_twilio", in: "https://twilio.com.evil.example/v1", err: "refusing"},
		{name: "emulator/base prefix lookalike refused", base: "http://localhost/_twilio", in: "http://localhost/_twilioX/v1", err: "refusing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bc, err := NewBaseClient(Config{AccountSID: account, AuthToken: "devAuthTokenPublicNotSecret00000", BaseURL: tt.base})
			if err != nil {
				t.Fatal(err)
			}
			got, err := bc.target(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("target = %q, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("target = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestHTTPClientAlwaysHasATimeout(t *testing.T) {
	if c := httpClient(nil); c == http.DefaultClient || c.Timeout != DefaultTimeout {
		t.Errorf("default client = %+v", c)
	}
	mine := &http.Client{}
	c := httpClient(mine)
	if c == mine || c.Timeout != DefaultTimeout || mine.Timeout != 0 {
		t.Errorf("client without timeout: got %v, caller's now %v", c.Timeout, mine.Timeout)
	}
	if c := httpClient(&http.Client{Timeout: time.Second}); c.Timeout != time.Second {
		t.Errorf("timeout = %v, want the caller's 1s", c.Timeout)
	}
	bc, err := NewBaseClient(Config{AccountSID: "ACde000000000000000000000000000001", AuthToken: "devAuthTokenPublicNotSecret00000", HTTPClient: mine})
	if err != nil {
		t.Fatal(err)
	}
	bc.SetTimeout(time.Minute) // what twilio.RestClient.SetTimeout does
	if mine.Timeout != 0 {
		t.Error("SetTimeout changed the caller's http.Client")
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestErrorTemporary(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want bool
	}{
		{"429/rate limited", wrapError("op", &client.TwilioRestError{Status: 429, Code: 20429, Message: "Too Many Requests"}, 429, 0), true},
		{"500/twilio failed", wrapError("op", &client.TwilioRestError{Status: 500, Code: 20500}, 500, 0), true},
		{"503/unreadable body", wrapError("op", errors.New("error decoding the response for an HTTP error code: 503"), 503, 0), true},
		{"404/not found", wrapError("op", &client.TwilioRestError{Status: 404, Code: 20404}, 404, 0), false},
		{"401/authentication", wrapError("op", &client.TwilioRestError{Status: 401, Code: 20003}, 401, 0), false},
		{"timeout/net error", wrapError("op", &url.Error{Op: "Post", URL: "https://flex-api.twilio.com/v2/WebChats", Err: timeoutErr{}}, 0, 0), true},
		{"timeout/deadline", wrapError("op", fmt.Errorf("post: %w", context.DeadlineExceeded), 0, 0), true},
		{"canceled", wrapError("op", context.Canceled, 0, 0), false},
		{"network/refused", wrapError("op", errors.New("connection refused"), 0, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Temporary(); got != tt.want {
				t.Errorf("Temporary() = %v, want %v (%v)", got, tt.want, tt.err)
			}
		})
	}
}

func TestMergeVerification(t *testing.T) {
	tests := []struct {
		name, existing, want string
		wantErr              bool
	}{
		{name: "empty", existing: "", want: `{"verification":{"v":1}}`},
		{name: "null", existing: "null", want: `{"verification":{"v":1}}`},
		{name: "empty object", existing: "{}", want: `{"verification":{"v":1}}`},
		{name: "Flex attributes kept", existing: `{"from":"A","pre_engagement_data":{"x":[1,2]}}`,
			want: `{"from":"A","pre_engagement_data":{"x":[1,2]},"verification":{"v":1}}`},
		{name: "old verification replaced", existing: `{"verification":"old"}`, want: `{"verification":{"v":1}}`},
		{name: "array refused", existing: `[1]`, wantErr: true},
		{name: "string refused", existing: `"x"`, wantErr: true},
		{name: "garbage refused", existing: `{`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mergeVerification(tt.existing, json.RawMessage(`{"v":1}`))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("mergeVerification(%q) = %q, %v; want %q", tt.existing, got, err, tt.want)
			}
		})
	}
}

// FuzzMergeVerification: whatever attributes Twilio returns, the result is
// either an error or a JSON object holding the summary and every other
// attribute unchanged.
func FuzzMergeVerification(f *testing.F) {
	for _, seed := range []string{"", "null", "{}", `{"from":"A"}`, `{"verification":1,"a":{"b":[null]}}`, `[]`, `{"a":1,"a":2}`, "\"\\u0000\""} {
		f.Add(seed)
	}
	summary := json.RawMessage(`{"verified":true}`)
	f.Fuzz(func(t *testing.T, existing string) {
		merged, err := mergeVerification(existing, summary)
		if err != nil {
			return
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal([]byte(merged), &got); err != nil {
			t.Fatalf("merged %q is not an object: %v", merged, err)
		}
		if string(got[VerificationKey]) != string(summary) {
			t.Fatalf("verification = %s", got[VerificationKey])
		}
		var before map[string]any
		_ = json.Unmarshal([]byte(existing), &before)
		for k, v := range before {
			if k == VerificationKey {
				continue
			}
			var after any
			if err := json.Unmarshal(got[k], &after); err != nil || !reflect.DeepEqual(after, v) {
				t.Fatalf("attribute %q changed: %v -> %s", k, v, got[k])
			}
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"1":                             time.Second,
		"120":                           2 * time.Minute,
		"-3":                            0,
		"soon":                          0,
		"1.5":                           0,
		"Thu, 02 Jan 2025 03:04:35 GMT": 30 * time.Second,
		"Thu, 02 Jan 2025 03:00:00 GMT": 0, // in the past
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestKeyedLocks(t *testing.T) {
	var k keyedLocks
	unlock, err := k.lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// Another key is free.
	unlockB, err := k.lock(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	unlockB()
	// The same key waits, until the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := k.lock(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("lock of a held key = %v", err)
	}
	unlock()
	unlock2, err := k.lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
	if len(k.locks) != 0 {
		t.Errorf("%d locks left behind", len(k.locks))
	}
}

func TestMemoryGuard(t *testing.T) {
	g := newMemoryGuard(3)
	now := time.Now()
	ctx := t.Context()
	first := func(k string, at time.Time) bool {
		t.Helper()
		fresh, err := g.FirstSeen(ctx, k, at, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	for _, k := range []string{"a", "b", "c"} {
		if !first(k, now) {
			t.Fatalf("%s seen before", k)
		}
	}
	if first("a", now) {
		t.Error("a replay was not caught")
	}
	// Full: the oldest is forgotten to remember a new one.
	if !first("d", now) || len(g.seen) > 3 {
		t.Errorf("remembering d: %d entries", len(g.seen))
	}
	// Expired entries are forgotten.
	if !first("b", now.Add(2*time.Minute)) {
		t.Error("b was remembered past its window")
	}
	// A released key is new again, and remembered again.
	if err := g.Forget(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if !first("d", now) || first("d", now) {
		t.Error("d: not new once released, or not remembered again")
	}
}

func TestSigningParamsSignWhatTwilioSigns(t *testing.T) {
	form := url.Values{"A": {"2", "1", "2"}, "B": {"x"}, "C": {""}}
	const token = "devAuthTokenPublicNotSecret00000"
	v := client.NewRequestValidator(token)
	sig := SignWebhook(token, "https://example.com/h", form)
	if !v.Validate("https://example.com/h", signingParams(form), sig) {
		t.Error("signingParams does not reproduce Twilio's signing of repeated values")
	}
}
