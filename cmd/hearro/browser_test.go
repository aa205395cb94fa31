package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hearro/trustbroker/flex/emulator"
	"github.com/hearro/trustbroker/identity/confirm"
)

// TestChatPageMatchesOpenAPI: the page and its assets, fetched as a browser would, match the
// API description (TestMain validates every response). Needs no browser.
func TestChatPageMatchesOpenAPI(t *testing.T) {
	s := startTestService(t)
	page := getPage(t, s.url+"/", "text/html; charset=UTF-8")
	refs := regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 || !strings.Contains(page, `data-chat-mode="emulator"`) {
		t.Fatalf("the page references %d assets; emulator mode: %v", len(refs), strings.Contains(page, `data-chat-mode="emulator"`))
	}
	for _, ref := range refs {
		getPage(t, s.url+ref[1], "")
	}
	resp, err := http.Get(s.url + "/assets/missing.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a missing asset: %d", resp.StatusCode)
	}
}

func getPage(t *testing.T, url, contentType string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || (contentType != "" && resp.Header.Get("Content-Type") != contentType) {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return string(b)
}

// TestChatPageInBrowser drives the customer's chat page in headless Chromium against the real
// service: talk to an agent, read the invitation off the page, let the demo wallet answer it,
// see "Verified", and exchange a message each way with the agent view of the Twilio emulator —
// in both kinds of Flex. A refused credential shows its reason. Screenshots go to
// $HEARRO_ARTIFACTS (else a temporary directory); HEARRO_SCREENSHOT=docs/chat-page.png also
// writes the chat's screenshot there (relative to the repository root).
func TestChatPageInBrowser(t *testing.T) {
	browser := startChromium(t)
	for _, mode := range []string{"conversations", "flexflow"} {
		t.Run(mode, func(t *testing.T) {
			s := startTestServiceWith(t, func(c *serveConfig) { c.FlexMode = mode })
			screenshot := os.Getenv("HEARRO_SCREENSHOT")
			if mode != "conversations" {
				screenshot = ""
			}
			chatInBrowser(t, browser, s, mode, screenshot)
		})
	}
	t.Run("shared emulator", func(t *testing.T) {
		// Replicas in development share one emulator (--twilio-api-url); the page and the
		// agent view reach it through the service's origin. It is what `hearro emulator` serves:
		// an account set up by `hearro flex setup`, whose Studio flow puts the verification
		// into the agent's task.
		shared := httptest.NewServer(emulator.New(devEmulatorConfig()))
		defer shared.Close()
		s := startTestServiceWith(t, func(c *serveConfig) { c.TwilioAPIURL = shared.URL + "/_twilio" })
		chatInBrowser(t, browser, s, "shared", "")
	})
	t.Run("twilio outage", func(t *testing.T) {
		// Twilio fails while the customer is verified: the page says it is still trying, keeps
		// reading the session (each read retries the chat), and opens the chat once Twilio is
		// back, long after the service's own background attempts gave up.
		s := startTestServiceWith(t, func(c *serveConfig) { c.TwilioRetryTotal, c.ChatRetryFor = time.Second, time.Second })
		s.emulator.InjectFault(emulator.Fault{Op: "*", Service: "flex-api", Status: 500})
		tab, closeTab := chromedp.NewContext(browser)
		defer closeTab()
		console := watchConsole(t, tab)
		inTab(t, tab, "start a session", chromedp.Navigate(s.url+"/"), chromedp.Click(chromedp.ID("start")))
		invitation := readTab(t, tab, chromedp.Poll[string](`document.getElementById('invitation-link').value`, pollEvery))
		if _, progress, err := runWallet(t, t.TempDir(), invitation, nil); err != nil {
			t.Fatalf("wallet: %v\n%s", err, progress)
		}
		inTab(t, tab, "see that the chat is late",
			chromedp.Poll[chromedp.Void](`document.getElementById('status').textContent.includes('still trying')`, pollEvery))
		time.Sleep(2 * time.Second) // the service's background attempts give up
		s.emulator.ClearFaults()
		inTab(t, tab, "see the chat open",
			chromedp.Poll[chromedp.Void](`!document.getElementById('chat').hidden && !document.getElementById('message').disabled`, pollEvery))
		for _, m := range console() {
			t.Errorf("browser console: %s", m)
		}
	})
	t.Run("refused", func(t *testing.T) {
		s := startTestService(t)
		start := time.Now()
		tab, closeTab := chromedp.NewContext(browser)
		defer closeTab()
		console := watchConsole(t, tab)
		inTab(t, tab, "start a session",
			chromedp.EmulateViewport(412, 860, chromedp.EmulateMobile),
			chromedp.Navigate(s.url+"/"),
			chromedp.Click(chromedp.ID("start")),
		)
		invitation := readTab(t, tab, chromedp.Poll[string](`document.getElementById('invitation-link').value`, pollEvery))
		if _, _, err := runWallet(t, t.TempDir(), invitation, func(w *walletConfig) { w.SelfIssued = true }); err == nil {
			t.Fatal("a self-issued credential was accepted")
		}
		problem := readTab(t, tab, chromedp.Poll[string](`!document.getElementById('problem').hidden && document.getElementById('problem-text').textContent`, pollEvery))
		if !strings.Contains(problem, "We could not verify you") || !strings.Contains(problem, "untrusted_issuer") {
			t.Errorf("refusal on the page: %q", problem)
		}
		if visible := readTab(t, tab, chromedp.Evaluate[bool](`!document.getElementById('invitation').hidden || !document.getElementById('chat').hidden`)); visible {
			t.Error("the invitation or the chat is still shown after the refusal")
		}
		saveScreenshot(t, "chat-page-refused.png", readTab(t, tab, chromedp.FullScreenshot(100)), "")
		t.Logf("%s: the refusal is shown", time.Since(start).Round(time.Millisecond))
		for _, m := range console() {
			t.Errorf("browser console: %s", m)
		}
	})
}

// chatInBrowser runs the page from the greeting to a message each way with the agent.
func chatInBrowser(t *testing.T, browser context.Context, s *testService, name, screenshot string) {
	start := time.Now()
	customer, closeCustomer := chromedp.NewContext(browser)
	defer closeCustomer()
	console := watchConsole(t, customer)
	inTab(t, customer, "open the page",
		chromedp.EmulateViewport(412, 860, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(s.url+"/"),
		chromedp.WaitVisible(chromedp.Search(`//button[normalize-space()="Talk to an agent"]`)),
	)
	greeting := readTab(t, customer, chromedp.Text(chromedp.CSS(".from-bot")))
	if !strings.Contains(greeting, "put you through to one of our agents") {
		t.Errorf("greeting %q", greeting)
	}

	// "Talk to an agent", by keyboard: the button takes focus and Enter presses it.
	inTab(t, customer, "talk to an agent",
		chromedp.Focus(chromedp.ID("start")),
		chromedp.KeyEvent(kb.Enter),
	)
	invitation := readTab(t, customer, chromedp.Poll[string](`document.getElementById('invitation-link').value`, pollEvery))
	if !strings.HasPrefix(invitation, s.url+"/i/") {
		t.Fatalf("invitation on the page: %q", invitation)
	}
	deepLink := readTab(t, customer, chromedp.Evaluate[string](`document.getElementById('deep-link').href`))
	if !strings.HasPrefix(deepLink, "didcomm://invite?oob=") {
		t.Errorf("deep link %q", deepLink)
	}
	// The confirmation code, shown for the customer to compare with their wallet's.
	code := readTab(t, customer, chromedp.Poll[string](`!document.getElementById('confirmation').hidden && document.getElementById('confirmation-code').textContent`, pollEvery))
	if !confirm.Valid(code) {
		t.Fatalf("the page shows confirmation code %q", code)
	}
	inTab(t, customer, "see the QR code and the status",
		chromedp.Poll[chromedp.Void](`document.getElementById('qr').complete && document.getElementById('qr').naturalWidth > 0`, pollEvery),
		chromedp.Poll[chromedp.Void](`document.getElementById('status').textContent === 'Waiting for your wallet…'`, pollEvery),
	)
	t.Logf("%s: the page shows the invitation", time.Since(start).Round(time.Millisecond))
	saveScreenshot(t, "chat-page-"+name+"-invitation.png", readTab(t, customer, chromedp.FullScreenshot(100)), "")

	// The customer's phone: the demo wallet answers the invitation read off the page, expecting
	// the code the page shows (it presents only if the invitation and the request carry it).
	sum, progress, err := runWallet(t, t.TempDir(), invitation, func(w *walletConfig) {
		w.Claims = "givenName=Ada,familyName=Lovelace,memberId=12345"
		w.ExpectCode = code
	})
	if err != nil || sum.Status != "acknowledged" {
		t.Fatalf("wallet: %v %+v\n%s", err, sum.Outcome, progress)
	}
	inTab(t, customer, "see Verified and the chat",
		chromedp.WaitVisible(chromedp.ID("chat")),
		chromedp.Poll[chromedp.Void](`document.querySelector('#chat .badge').textContent.includes('Verified') &&
			document.getElementById('step-verified').classList.contains('done') && !document.getElementById('message').disabled`, pollEvery),
	)
	if status := readTab(t, customer, chromedp.Text(chromedp.ID("status"))); !strings.Contains(status, "Verified") {
		t.Errorf("status %q", status)
	}
	t.Logf("%s: verified, the chat is open", time.Since(start).Round(time.Millisecond))

	// The customer writes; the message is sent with Enter.
	const hello, reply = "Hello, my card was blocked this morning.", "Hello Ada, I can see you are verified. Let me unblock it for you."
	inTab(t, customer, "send a message",
		chromedp.SendKeys(chromedp.ID("message"), hello+kb.Enter),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`[...document.querySelectorAll('#messages .from-me')].some(m => m.textContent.includes(%q))`, hello), pollEvery),
	)

	// The agent, in a second tab: the message arrived; reply from the agent view's form.
	agent, closeAgent := chromedp.NewContext(browser)
	defer closeAgent()
	inTab(t, agent, "read the message in the agent view",
		chromedp.Navigate(s.url+"/_twilio/agent"),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.body.innerText.includes(%q)`, hello), pollEvery),
	)
	agentView := readTab(t, agent, chromedp.Text(chromedp.CSS("main")))
	for _, want := range []string{"Ada Lovelace", "Verified customer", "VerifiedCustomer"} {
		if !strings.Contains(agentView, want) {
			t.Errorf("the agent view lacks %q", want)
		}
	}
	inTab(t, agent, "type a reply", chromedp.SendKeys(chromedp.CSS(`textarea[name="body"]`), reply))
	if resp, err := chromedp.RunResponse(agent, chromedp.Click(chromedp.CSS(`form[action$="/reply"] button[type="submit"]`))); err != nil {
		t.Fatalf("send the reply: %v", explain(agent, err))
	} else if resp.Status != http.StatusOK {
		t.Fatalf("send the reply: HTTP %d %s", resp.Status, resp.URL)
	}
	inTab(t, agent, "see the reply in the agent view",
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.body.innerText.includes(%q)`, reply), pollEvery))

	// The customer sees the reply.
	inTab(t, customer, "read the reply",
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`[...document.querySelectorAll('#messages .from-agent')].some(m => m.textContent.includes(%q))`, reply), pollEvery),
	)
	t.Logf("%s: a message each way", time.Since(start).Round(time.Millisecond))
	saveScreenshot(t, "chat-page-"+name+".png", readTab(t, customer, chromedp.FullScreenshot(100)), screenshot)
	for _, m := range console() {
		t.Errorf("browser console: %s", m)
	}
}

var pollEvery = chromedp.WithPollingInterval(25 * time.Millisecond)

// startChromium starts headless Chromium (Debian's package) for the test, or skips the test
// where it is not installed — unless HEARRO_REQUIRE_CHROMIUM=1 (CI), where that fails it.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			path = p
		} else if os.Getenv("HEARRO_REQUIRE_CHROMIUM") == "1" {
			t.Fatal("HEARRO_REQUIRE_CHROMIUM=1 but Chromium is not installed (/usr/bin/chromium): apt-get install chromium")
		} else {
			t.Skip("Chromium is not installed (/usr/bin/chromium): apt-get install chromium to run the browser test")
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTimeout := context.WithTimeout(alloc, 60*time.Second)
	browser, cancelBrowser := chromedp.NewContext(ctx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelTimeout()
		cancelAlloc()
	})
	if err := chromedp.Do(browser); err != nil { // start the browser now
		t.Fatalf("start %s: %v", path, err)
	}
	return browser
}

// watchConsole collects what the page writes to the console and the browser logs about it
// (exceptions, refused resources, Content-Security-Policy violations).
func watchConsole(t *testing.T, ctx context.Context) func() []string {
	t.Helper()
	var mu sync.Mutex
	var got []string
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				mu.Lock()
				got = append(got, m.String())
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

func inTab(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", step, explain(ctx, err))
	}
}

func readTab[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%v", explain(ctx, err))
	}
	return v
}

// explain adds what the page says to an error of a step.
func explain(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, chromedp.ErrPollingTimeout) {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if text, terr := chromedp.Run(sctx, chromedp.Evaluate[string](`document.body.innerText`)); terr == nil {
			return fmt.Errorf("%w; the page says:\n%s", err, text)
		}
	}
	return err
}

// saveScreenshot writes a PNG to $HEARRO_ARTIFACTS (else the test's temporary directory) and,
// if also is set, there too (a relative path is from the repository root).
func saveScreenshot(t *testing.T, name string, png []byte, also string) {
	t.Helper()
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s is not a PNG", name)
	}
	dir := os.Getenv("HEARRO_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	paths := []string{filepath.Join(dir, name)}
	if also != "" {
		if !filepath.IsAbs(also) {
			also = filepath.Join("..", "..", also) // the test runs in cmd/hearro
		}
		paths = append(paths, also)
	}
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(p)
		t.Logf("screenshot: %s (%d KB)", abs, len(png)/1024)
	}
}
