package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault makes the emulator misbehave like Twilio does on a bad day, for the
// next Times requests of an operation.
type Fault struct {
	// Op is the Twilio operationId the fault applies to (CreateWebChannel,
	// CreateChannel, FetchConversation, ListParticipantConversation, …), or
	// "*" for every operation. Service, when set, narrows it to one host
	// label (flex-api, conversations, chat, taskrouter): CreateWebChannel is
	// both Flex v2 WebChats and Flex v1 WebChannels.
	Op      string `json:"op"`
	Service string `json:"service,omitempty"`
	// Status is the HTTP status answered instead (429, 500, 503, …), with
	// Twilio's error body (code 20000+Status). 0 answers normally, after
	// Delay.
	Status int `json:"status,omitempty"`
	// RetryAfter, with a Status, is sent as Retry-After (whole seconds).
	RetryAfter time.Duration `json:"-"`
	// Delay holds the response back (or until the client hangs up).
	Delay time.Duration `json:"-"`
	// Apply performs the operation before failing: Twilio did it but the
	// client never learns (with Status: an error instead of the result; with
	// Delay and no Status: the result too late for a client's timeout).
	Apply bool `json:"apply,omitempty"`
	// Times is how many matching requests the fault affects; 0 means every
	// one until ClearFaults.
	Times int `json:"times,omitempty"`
}

// faultJSON is a Fault on the wire of the control endpoint.
type faultJSON struct {
	Fault
	RetryAfterSeconds int   `json:"retry_after_seconds,omitempty"`
	DelayMS           int64 `json:"delay_ms,omitempty"`
}

func (f Fault) wire() faultJSON {
	return faultJSON{Fault: f, RetryAfterSeconds: int(f.RetryAfter / time.Second), DelayMS: f.Delay.Milliseconds()}
}

func (f faultJSON) fault() Fault {
	out := f.Fault
	out.RetryAfter = time.Duration(f.RetryAfterSeconds) * time.Second
	out.Delay = time.Duration(f.DelayMS) * time.Millisecond
	return out
}

func (f Fault) check() error {
	switch {
	case f.Op == "":
		return errors.New("op is required (a Twilio operationId, or *)")
	case f.Status != 0 && (f.Status < 400 || f.Status > 599):
		return errors.New("status must be an HTTP error status (4xx or 5xx)")
	case f.Status == 0 && f.Delay <= 0:
		return errors.New("a fault needs a status or a delay")
	case f.Times < 0 || f.RetryAfter < 0 || f.Delay < 0:
		return errors.New("times, retry_after_seconds and delay_ms must not be negative")
	}
	return nil
}

// InjectFault adds f; faults are matched in the order they were added. It
// panics on a fault that makes no sense (no Op, no Status and no Delay).
func (e *Emulator) InjectFault(f Fault) {
	if err := f.check(); err != nil {
		panic("emulator: InjectFault: " + err.Error())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, &f)
}

// ClearFaults removes every fault.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = nil
}

// Faults returns the faults still in force, Times counting what is left.
func (e *Emulator) Faults() []Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Fault, 0, len(e.faults))
	for _, f := range e.faults {
		out = append(out, *f)
	}
	return out
}

// takeFault returns the first fault matching rt, using up one of its times.
func (e *Emulator) takeFault(rt route) (Fault, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, f := range e.faults {
		if f.Op != "*" && f.Op != rt.op || f.Service != "" && f.Service != rt.service {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				e.faults = append(e.faults[:i:i], e.faults[i+1:]...)
			}
		}
		return *f, true
	}
	return Fault{}, false
}

// serveFault answers r as f says.
func (e *Emulator) serveFault(w http.ResponseWriter, r *http.Request, f Fault) {
	var done *recorder
	if f.Apply {
		done = &recorder{header: http.Header{}, code: http.StatusOK}
		e.mux.ServeHTTP(done, r)
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case f.Status != 0:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
		}
		writeError(w, f.Status, 20000+f.Status, faultMessage(f.Status))
	case done != nil:
		for k, v := range done.header {
			w.Header()[k] = v
		}
		w.WriteHeader(done.code)
		_, _ = w.Write(done.body.Bytes())
	default:
		e.mux.ServeHTTP(w, r)
	}
}

// recorder keeps a response to send later.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
	wrote  bool
}

func (rec *recorder) Header() http.Header { return rec.header }
func (rec *recorder) Write(b []byte) (int, error) {
	rec.wrote = true
	return rec.body.Write(b)
}
func (rec *recorder) WriteHeader(code int) {
	if !rec.wrote {
		rec.code, rec.wrote = code, true
	}
}

func faultMessage(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "Too Many Requests"
	case http.StatusServiceUnavailable:
		return "Service Unavailable"
	}
	if text := http.StatusText(status); text != "" {
		return text
	}
	return "Error"
}

// serveControl serves the emulator's own endpoints under ControlPath,
// authenticated like the API (the account or the API key):
//
//	GET    /_twilio/_emulator/faults  the faults in force
//	POST   /_twilio/_emulator/faults  add a fault, or an array of them (JSON:
//	       op, service, status, retry_after_seconds, delay_ms, apply, times)
//	DELETE /_twilio/_emulator/faults  remove them all
//	GET    /_twilio/_emulator/clock   the emulator's time (JSON: now)
//	POST   /_twilio/_emulator/clock   move it on (JSON: advance_seconds), applying
//	       conversation timers that fall due
func (e *Emulator) serveControl(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || !e.authenticated(user, pass) {
		unauthorized(w, "Twilio emulator")
		return
	}
	if strings.TrimPrefix(r.URL.Path, ControlPath) == "agent-token" && r.Method == http.MethodPost {
		// A Flex token of the agent, valid for an hour: what the Flex UI would hand a plugin.
		exp := e.now().Add(time.Hour)
		writeJSON(w, http.StatusCreated, map[string]any{"token": e.AgentToken(exp), "identity": e.cfg.AgentIdentity,
			"expires_at": exp.Format(time.RFC3339)})
		return
	}
	if strings.TrimPrefix(r.URL.Path, ControlPath) == "clock" {
		e.serveClock(w, r)
		return
	}
	if strings.TrimPrefix(r.URL.Path, ControlPath) != "faults" {
		notFound(w, r)
		return
	}
	list := func(status int) {
		faults := e.Faults()
		out := make([]faultJSON, 0, len(faults))
		for _, f := range faults {
			out = append(out, f.wire())
		}
		writeJSON(w, status, map[string]any{"faults": out})
	}
	switch r.Method {
	case http.MethodGet:
		list(http.StatusOK)
	case http.MethodDelete:
		e.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPost:
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, codeInvalidParameter, "Request body too large")
			return
		}
		var many []faultJSON
		if err := json.Unmarshal(body, &many); err != nil {
			var one faultJSON
			if err := json.Unmarshal(body, &one); err != nil {
				writeError(w, http.StatusBadRequest, codeInvalidParameter, "Body must be a JSON fault or array of faults")
				return
			}
			many = []faultJSON{one}
		}
		for _, f := range many {
			if err := f.fault().check(); err != nil {
				writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid fault: "+err.Error())
				return
			}
		}
		for _, f := range many {
			e.InjectFault(f.fault())
		}
		list(http.StatusCreated)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeError(w, http.StatusMethodNotAllowed, codeInvalidParameter, "Method not allowed")
	}
}

// serveClock serves the clock control endpoint (see serveControl).
func (e *Emulator) serveClock(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		var body struct {
			AdvanceSeconds int64 `json:"advance_seconds"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&body); err != nil || body.AdvanceSeconds <= 0 {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Body must be JSON with a positive advance_seconds")
			return
		}
		e.Advance(time.Duration(body.AdvanceSeconds) * time.Second)
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, codeInvalidParameter, "Method not allowed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"now": timestamp(e.now())})
}
