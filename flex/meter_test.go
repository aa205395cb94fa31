package flex_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// recordingMeter keeps what a Client reports.
type recordingMeter struct {
	mu      sync.Mutex
	calls   map[string]int // "op status" → calls
	retries map[string]int
	states  []string
}

func newRecordingMeter() *recordingMeter {
	return &recordingMeter{calls: map[string]int{}, retries: map[string]int{}}
}

func (m *recordingMeter) TwilioCall(op string, status int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[op+" "+http.StatusText(status)]++
}

func (m *recordingMeter) TwilioRetry(op string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.retries[op]++
}

func (m *recordingMeter) BreakerState(state string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states = append(m.states, state)
}

// Every call to Twilio is counted once with the status it got and every retry once;
// operations are fixed snake-case names.
func TestMeterSeesCallsAndRetries(t *testing.T) {
	m := newRecordingMeter()
	c, emu, _ := setup(t, nil, func(c *flex.Config) {
		c.Meter = m
		c.Retry.MaxAttempts = 3
		c.Breaker.Failures = 100
	})
	emu.InjectFault(emulator.Fault{Op: "CreateWebChannel", Status: http.StatusInternalServerError})
	if _, err := c.OpenChat(context.Background(), request("hr_metered", "s1")); err == nil {
		t.Fatal("OpenChat succeeded against a failing Twilio")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if got, want := m.calls["create_web_chat Internal Server Error"], count(emu.Requests(), "CreateWebChannel"); got != 3 || got != want {
		t.Errorf("create_web_chat 500 counted %d times; Twilio saw %d calls, want 3", got, want)
	}
	if m.retries["create_web_chat"] != 2 {
		t.Errorf("retries %v, want create_web_chat: 2", m.retries)
	}
	name := regexp.MustCompile(`^[a-z]+(_[a-z]+)* `)
	for k := range m.calls {
		if !name.MatchString(k) {
			t.Errorf("operation %q is not a fixed snake-case name", k)
		}
	}
}

// The meter follows the breaker: closed, open while Twilio fails, half-open for a trial
// call after OpenFor, closed again once Twilio answers.
func TestMeterSeesTheBreaker(t *testing.T) {
	m := newRecordingMeter()
	c, emu, _ := setup(t, nil, func(c *flex.Config) {
		c.Meter = m
		c.Retry.MaxAttempts = 2
		c.Breaker = flex.Breaker{Failures: 3, OpenFor: 100 * time.Millisecond}
	})
	emu.InjectFault(emulator.Fault{Op: "*", Status: http.StatusServiceUnavailable})
	var err error
	for i := 0; i < 5 && !errors.Is(err, flex.ErrCircuitOpen); i++ {
		_, err = c.OpenChat(context.Background(), request("hr_breaker", fmt.Sprint("s", i)))
	}
	if !errors.Is(err, flex.ErrCircuitOpen) {
		t.Fatalf("the breaker did not open: %v", err)
	}
	emu.ClearFaults()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err = c.OpenChat(context.Background(), request("hr_breaker", "s9")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after recovery: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.Equal(m.states, []string{"closed", "open", "half-open", "closed"}) {
		t.Errorf("breaker states %v, want [closed open half-open closed]", m.states)
	}
}
