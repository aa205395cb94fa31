package wallet

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxInvitationSize bounds a fetched invitation.
const maxInvitationSize = 64 << 10

// ResolveInvitation turns what a customer scanned or pasted into an invitation message. It
// accepts the invitation JSON itself, an RFC 0434 URL (?oob=… or the older ?c_i=…, on http(s)
// or didcomm://), or a short link, which it fetches asking for JSON.
func ResolveInvitation(ctx context.Context, client *http.Client, ref string) ([]byte, error) {
	ref = strings.TrimSpace(ref)
	if strings.HasPrefix(ref, "{") {
		return validInvitation([]byte(ref))
	}
	u, err := url.Parse(ref)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("%q is neither an invitation URL nor invitation JSON", ref)
	}
	for _, param := range []string{"oob", "c_i"} {
		if v := u.Query().Get(param); v != "" {
			b, err := decodeB64(v)
			if err != nil {
				return nil, fmt.Errorf("invitation URL: %s parameter is not base64: %w", param, err)
			}
			return validInvitation(b)
		}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invitation URL %q has no oob parameter", ref)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch invitation: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxInvitationSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch invitation: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal(body, &p) == nil && p.Code != "" {
			return nil, fmt.Errorf("fetch invitation: %s (%s)", p.Detail, p.Code)
		}
		return nil, fmt.Errorf("fetch invitation: HTTP %d", resp.StatusCode)
	}
	if len(body) > maxInvitationSize {
		return nil, errors.New("fetch invitation: larger than 64 KiB")
	}
	return validInvitation(body)
}

func validInvitation(b []byte) ([]byte, error) {
	var inv struct {
		Type     string `json:"@type"`
		Services []any  `json:"services"`
	}
	if err := json.Unmarshal(b, &inv); err != nil {
		return nil, fmt.Errorf("invitation is not JSON: %w", err)
	}
	if !strings.Contains(inv.Type, "out-of-band/") || len(inv.Services) == 0 {
		return nil, errors.New("not an out-of-band invitation with a service")
	}
	return bytes.TrimSpace(b), nil
}

func decodeB64(s string) ([]byte, error) {
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}
