package emulator

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// Conversation timers and the emulator's clock. Twilio moves a conversation
// to inactive, then closed, when the durations set as Timers.Inactive and
// Timers.Closed (ISO 8601, at least 1 and 10 minutes) have passed since they
// were set or since the conversation's last message. The emulator applies
// them by its own clock, which tests move on with Advance.

// Twilio's minimum timer values (twilio_conversations_v1.json).
const (
	minInactiveTimer = time.Minute
	minClosedTimer   = 10 * time.Minute
)

// timers are a conversation's timers: the durations set and the dates they
// fall due (zero: none).
type timers struct {
	inactive, closed         time.Duration
	dateInactive, dateClosed time.Time
}

// arm sets the due dates from now; e.mu must be held.
func (t *timers) arm(now time.Time) {
	t.dateInactive, t.dateClosed = time.Time{}, time.Time{}
	if t.inactive > 0 {
		t.dateInactive = now.Add(t.inactive)
	}
	if t.closed > 0 {
		t.dateClosed = now.Add(t.closed)
	}
}

// json is the timers as Twilio shows them.
func (t *timers) json(state string) map[string]string {
	out := map[string]string{}
	if !t.dateInactive.IsZero() && state == "active" {
		out["date_inactive"] = timestamp(t.dateInactive)
	}
	if !t.dateClosed.IsZero() && state != "closed" {
		out["date_closed"] = timestamp(t.dateClosed)
	}
	return out
}

var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// parseISODuration reads the ISO 8601 durations Twilio's timers take:
// PnDTnHnMnS, each part optional.
func parseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s[len(s)-1] == 'T' {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		d += time.Duration(n) * unit
	}
	return d, nil
}

// timersForm reads Timers.Inactive and Timers.Closed from an update's form
// into t; on a bad value it answers 400 and returns false. set reports
// whether the form had either.
func timersForm(w http.ResponseWriter, f url.Values, t *timers) (set, ok bool) {
	for _, p := range []struct {
		name string
		min  time.Duration
		dst  *time.Duration
	}{{"Timers.Inactive", minInactiveTimer, &t.inactive}, {"Timers.Closed", minClosedTimer, &t.closed}} {
		v, present := f[p.name]
		if !present {
			continue
		}
		set = true
		d, err := parseISODuration(v[0])
		if err != nil || d < p.min {
			writeError(w, http.StatusBadRequest, codeInvalidParameter,
				fmt.Sprintf("Invalid %s: %q must be an ISO 8601 duration of at least %v", p.name, v[0], p.min))
			return set, false
		}
		*p.dst = d
	}
	return set, true
}

// Advance moves the emulator's clock on by d and applies the conversation
// timers that fell due: each such conversation becomes inactive or closed,
// with the onConversationStateUpdated webhook (Reason TIMER) Twilio sends.
func (e *Emulator) Advance(d time.Duration) {
	e.clock.Add(int64(d))
	e.mu.Lock()
	defer e.mu.Unlock()
	e.applyTimers()
}

// applyTimers moves conversations whose timers fell due; e.mu must be held.
func (e *Emulator) applyTimers() {
	now := e.now()
	for _, c := range e.conversations.all() {
		switch {
		case c.state == "closed":
		case !c.timers.dateClosed.IsZero() && !now.Before(c.timers.dateClosed):
			e.setConversationState(c, "closed", "TIMER", true)
		case c.state == "active" && !c.timers.dateInactive.IsZero() && !now.Before(c.timers.dateInactive):
			e.setConversationState(c, "inactive", "TIMER", true)
		}
	}
}
