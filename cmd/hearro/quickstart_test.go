package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestQuickStart runs the README's flow with the real binary, as a newcomer would: `hearro
// serve` with its defaults (only the port differs, to stay out of the way of a running
// service), POST /v1/sessions, `hearro wallet accept <invitation_url>` — verified and exit 0 —
// then `--self-issued` — rejected and exit 2 — and SIGTERM — a clean exit.
func TestQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildHearro(t)

	serve := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	serve.Dir = dir // ./data lands here, as it does in a newcomer's checkout
	serve.Env = append(os.Environ(), "HEARRO_LOG_LEVEL=info")
	stderr, _ := serve.StderrPipe()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	logs := bufio.NewScanner(stderr)
	var base string
	var devWarning bool
	for base == "" && logs.Scan() {
		var line struct {
			Level     string `json:"level"`
			Msg       string `json:"msg"`
			PublicURL string `json:"public_url"`
		}
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", logs.Text())
		}
		if line.Level == "WARN" && strings.Contains(line.Msg, "development issuer") && strings.Contains(line.Msg, "TRUSTED") {
			devWarning = true
		}
		if line.Msg == "hearro serving" {
			base = line.PublicURL
		}
	}
	if base == "" {
		t.Fatal("the service never said where it serves")
	}
	if !devWarning {
		t.Error("the service did not warn loudly that the development issuer is trusted")
	}
	go io.Copy(io.Discard, stderr)
	if _, err := os.Stat(filepath.Join(dir, "data", "hearro.db")); err != nil {
		t.Errorf("the embedded store is not in ./data: %v", err)
	}

	session := func() (id, invitationURL, token string) {
		resp, err := http.Post(base+"/v1/sessions", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var c createdSession
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != 201 {
			t.Fatalf("POST /v1/sessions: %d %v", resp.StatusCode, err)
		}
		return c.ID, c.InvitationURL, c.SessionToken
	}
	wallet := func(url string, flags ...string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"wallet", "accept", url}, flags...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}

	id, url, token := session()
	code, out := wallet(url, "--claims", "givenName=Ada,familyName=Lovelace,memberId=12345")
	t.Logf("hearro wallet accept:\n%s", out)
	if code != 0 || !strings.Contains(out, "verifier acknowledged the presentation") {
		t.Fatalf("wallet exit %d", code)
	}
	var st sessionState
	for deadline := time.Now().Add(10 * time.Second); st.Status != "bound" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		getJSON(t, base+"/v1/sessions/"+id, "Bearer "+token, &st)
	}
	if st.Status != "bound" || st.Chat == nil || st.Chat.Token == "" {
		t.Fatalf("session after the wallet: %+v", st)
	}

	_, url, _ = session()
	code, out = wallet(url, "--self-issued", "--json")
	if code != 2 || !strings.Contains(out, `"reason": "untrusted_issuer"`) {
		t.Fatalf("self-issued: exit %d\n%s", code, out)
	}

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop within 15 s of SIGTERM")
	}
}
