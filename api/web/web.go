// Package web is the customer's chat page: the HTML, CSS and JavaScript a browser loads from
// GET / and /assets/, embedded in the binary. The page runs the whole flow — a bot greeting,
// "Talk to an agent", the wallet invitation, the session's progress, then the chat — against
// the service's own REST API, and chats through the built-in Twilio emulator's Conversations
// API in development or Twilio's Conversations JavaScript SDK in live mode.
//
// It has no build step and no external asset, except Twilio's SDK in live mode. It depends on
// nothing in this module: package api serves it.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"path"
)

//go:embed index.html assets
var files embed.FS

// ChatMode says which chat client the page uses once the customer is verified.
type ChatMode string

const (
	// ChatEmulator: the built-in Twilio emulator's Conversations REST API, polled from the
	// page with the customer's access token (development).
	ChatEmulator ChatMode = "emulator"
	// ChatTwilio: Twilio's Conversations JavaScript SDK, loaded from Twilio's CDN only then.
	ChatTwilio ChatMode = "twilio"
)

// Twilio's Conversations JavaScript SDK, pinned with its Subresource Integrity hash (Twilio's
// changelog gives it; it is the SHA-256 of builds/twilio-conversations.min.js in the npm
// package @twilio/conversations@2.6.2).
const (
	TwilioSDKURL       = "https://sdk.twilio.com/js/conversations/releases/2.6.2/twilio-conversations.min.js"
	TwilioSDKIntegrity = "sha256-V5Ed2AkRSkVVlFhtk5lzCHhaW6YapKUFCi9APY5Pqqs="
)

// Page is what the chat page is rendered with.
type Page struct {
	// Chat is the chat client the page uses.
	Chat ChatMode
	// EmulatorPath is where the Twilio emulator is served (ChatEmulator), e.g. "/_twilio".
	EmulatorPath string
}

var pageTemplate = template.Must(template.ParseFS(files, "index.html"))

// Render writes the chat page.
func Render(w io.Writer, p Page) error {
	if p.Chat != ChatEmulator && p.Chat != ChatTwilio {
		return fmt.Errorf("web: unknown chat mode %q", p.Chat)
	}
	data := struct {
		Page
		SDKURL, SDKIntegrity string
	}{p, TwilioSDKURL, TwilioSDKIntegrity}
	return pageTemplate.Execute(w, data)
}

// ContentSecurityPolicy is the policy the page must be served with: its own origin only, and
// in live mode Twilio's SDK and the Twilio hosts it talks to.
func ContentSecurityPolicy(mode ChatMode) string {
	script, connect, img := "'self'", "'self'", "'self'"
	if mode == ChatTwilio {
		script += " https://sdk.twilio.com"
		connect += " https://*.twilio.com wss://*.twilio.com"
		img += " https://*.twilio.com"
	}
	return "default-src 'none'; script-src " + script + "; style-src 'self'; img-src " + img +
		"; connect-src " + connect + "; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// Asset is one of the page's static files.
type Asset struct {
	Name        string
	ContentType string
	ETag        string // strong, quoted: a hash of Data
	Data        []byte
}

var assets = loadAssets()

// LookupAsset returns the asset served as /assets/{name}.
func LookupAsset(name string) (Asset, bool) {
	a, ok := assets[name]
	return a, ok
}

var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

func loadAssets() map[string]Asset {
	out := map[string]Asset{}
	entries, err := fs.ReadDir(files, "assets")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		data, err := fs.ReadFile(files, "assets/"+e.Name())
		if err != nil {
			panic(err)
		}
		ct, ok := contentTypes[path.Ext(e.Name())]
		if !ok {
			panic("web: no content type for " + e.Name())
		}
		sum := sha256.Sum256(data)
		out[e.Name()] = Asset{Name: e.Name(), ContentType: ct, Data: data,
			ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`}
	}
	return out
}
