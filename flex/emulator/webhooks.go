package emulator

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// WebhookDelivery is one webhook the emulator sent.
type WebhookDelivery struct {
	Time      time.Time
	URL       string     // the configured URL, which the signature covers
	SentTo    string     // where it was sent (differs with WebhookDeliveryBase)
	Form      url.Values // the parameters
	Signature string     // X-Twilio-Signature
	Status    int        // the receiver's HTTP status; 0 when it could not be reached
	Err       string     // why it could not be delivered
}

// SetWebhooks sets the Conversations and Programmable Chat webhook URLs
// (see Config); empty disables one.
func (e *Emulator) SetWebhooks(conversationsURL, chatURL string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg.ConversationsWebhookURL, e.cfg.ChatWebhookURL = conversationsURL, chatURL
}

// Webhooks returns the webhooks delivered (or attempted) so far, oldest
// first, each once its delivery ended. Close waits for those queued.
func (e *Emulator) Webhooks() []WebhookDelivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]WebhookDelivery, len(e.webhooks))
	for i, d := range e.webhooks {
		d.Form = cloneValues(d.Form)
		out[i] = d
	}
	return out
}

// sendConversationsWebhook posts the Conversations event about c: the
// parameters every such event carries, and the event's own in params.
// e.mu must be held.
func (e *Emulator) sendConversationsWebhook(event string, c *conversation, params url.Values) {
	params.Set("EventType", event)
	params.Set("AccountSid", e.cfg.AccountSID)
	params.Set("ChatServiceSid", e.cfg.ConversationsServiceSID)
	params.Set("ConversationSid", c.sid)
	params.Set("MessagingServiceSid", e.messagingSID)
	params.Set("DateCreated", timestamp(c.created))
	params.Set("DateUpdated", timestamp(c.updated))
	params.Set("Source", "API")
	params.Set("RetryCount", "0")
	e.sendWebhook(e.cfg.ConversationsWebhookURL, params)
}

// sendChannelWebhook posts a Programmable Chat channel event; e.mu must be
// held.
func (e *Emulator) sendChannelWebhook(event string, ch *channel) {
	e.sendWebhook(e.cfg.ChatWebhookURL, url.Values{
		"EventType":      {event},
		"AccountSid":     {e.cfg.AccountSID},
		"InstanceSid":    {e.cfg.ChatServiceSID},
		"ChannelSid":     {ch.sid},
		"ChannelType":    {"private"},
		"FriendlyName":   {ch.friendlyName},
		"UniqueName":     {ch.uniqueName},
		"Attributes":     {ch.attributes},
		"CreatedBy":      {ch.createdBy},
		"DateCreated":    {timestamp(ch.created)},
		"DateUpdated":    {timestamp(ch.updated)},
		"Source":         {"API"},
		"RetryCount":     {"0"},
		"WebhookType":    {"service"},
		"ClientIdentity": {"system"},
	})
}

// pendingWebhook is a webhook waiting for delivery.
type pendingWebhook struct {
	target, sentTo, signature, token string
	params                           url.Values
	client                           *http.Client
}

// sendWebhook queues params for target, signed like Twilio; e.mu must be
// held. Webhooks are delivered in the background, one at a time, in order.
func (e *Emulator) sendWebhook(target string, params url.Values) {
	if target == "" {
		return
	}
	sentTo := target
	if base := e.cfg.WebhookDeliveryBase; base != "" {
		if u, err := url.Parse(target); err == nil {
			sentTo = strings.TrimSuffix(base, "/") + u.RequestURI()
		}
	}
	e.pending = append(e.pending, pendingWebhook{target: target, sentTo: sentTo, params: params,
		signature: Sign(e.cfg.AuthToken, target, params), token: newSID(""), client: e.cfg.WebhookClient})
	if e.delivering {
		return
	}
	e.delivering = true
	e.deliveries.Add(1)
	go e.deliver()
}

// deliver sends the queued webhooks until none is left.
func (e *Emulator) deliver() {
	defer e.deliveries.Done()
	for {
		e.mu.Lock()
		if len(e.pending) == 0 {
			e.delivering = false
			e.mu.Unlock()
			return
		}
		p := e.pending[0]
		e.pending = e.pending[1:]
		e.mu.Unlock()

		d := WebhookDelivery{Time: time.Now(), URL: p.target, SentTo: p.sentTo, Form: p.params, Signature: p.signature}
		req, err := http.NewRequest(http.MethodPost, p.sentTo, strings.NewReader(p.params.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", p.signature)
			req.Header.Set("I-Twilio-Idempotency-Token", p.token)
			req.Header.Set("User-Agent", "TwilioProxy/1.1")
			var resp *http.Response
			if resp, err = p.client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
				_ = resp.Body.Close()
				d.Status = resp.StatusCode
			}
		}
		if err != nil {
			d.Err = err.Error()
		}
		e.mu.Lock()
		e.webhooks = append(e.webhooks, d)
		if len(e.webhooks) > MaxRecordedRequests {
			e.webhooks = e.webhooks[1:]
		}
		e.mu.Unlock()
	}
}

// Sign returns the X-Twilio-Signature of a form webhook of params to
// fullURL, as Twilio computes it: HMAC-SHA1 with the auth token over the URL
// followed by each parameter name and value, names in order (a repeated
// name: each distinct value in order), base64-encoded.
func Sign(authToken, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vs := append([]string(nil), params[k]...)
		sort.Strings(vs)
		for i, v := range vs {
			if i > 0 && v == vs[i-1] {
				continue
			}
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
