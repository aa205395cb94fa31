package emulator

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

func TestRenderLiquid(t *testing.T) {
	data := map[string]any{"trigger": map[string]any{"conversation": map[string]any{
		"ConversationSid": "CH1",
		"ChannelAttributes": map[string]any{
			"from":                "Ada",
			"pre_engagement_data": map[string]any{"friendlyName": `Ada "the" Countess`, "age": 36.0, "ok": true},
			"verification":        map[string]any{"verified": true, "claims": map[string]any{"givenName": "Ada"}},
			"empty":               "",
		},
	}}}
	const attrs = "trigger.conversation.ChannelAttributes"
	tests := []struct {
		name, template, want string
	}{
		{"text only", `{"a": 1}`, `{"a": 1}`},
		{"path", `{{trigger.conversation.ConversationSid}}`, `CH1`},
		{"spaces", `{{ trigger.conversation.ConversationSid }}`, `CH1`},
		{"missing is empty", `[{{trigger.nothing.here}}]`, `[]`},
		{"path through a string is empty", `[{{trigger.conversation.ConversationSid.x}}]`, `[]`},
		{"number", `{{` + attrs + `.pre_engagement_data.age}}`, `36`},
		{"boolean", `{{` + attrs + `.pre_engagement_data.ok}}`, `true`},
		{"string literal", `{{ 'x|y' }}`, `x|y`},
		{"to_json string escapes quotes", `{{` + attrs + `.pre_engagement_data.friendlyName | to_json}}`, `"Ada \"the\" Countess"`},
		{"to_json object", `{{` + attrs + `.verification | to_json}}`, `{"claims":{"givenName":"Ada"},"verified":true}`},
		{"to_json missing is null", `{{` + attrs + `.nothing | to_json}}`, `null`},
		{"to_json keeps <>&", `{{ '<&>' | to_json }}`, `"<&>"`},
		{"default when missing", `{{` + attrs + `.nothing | default: ` + attrs + `.from}}`, `Ada`},
		{"default when empty", `{{` + attrs + `.empty | default: 'none'}}`, `none`},
		{"default unused", `{{` + attrs + `.from | default: 'none'}}`, `Ada`},
		{"default then to_json", `{{` + attrs + `.nothing | default: ` + attrs + `.pre_engagement_data.friendlyName | to_json}}`, `"Ada \"the\" Countess"`},
		{"single braces stay", `{"a": {"b": 1}}`, `{"a": {"b": 1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderLiquid(tt.template, data)
			if err != nil || got != tt.want {
				t.Errorf("renderLiquid(%s) = %q, %v; want %q", tt.template, got, err, tt.want)
			}
		})
	}

	for name, template := range map[string]string{
		"object without to_json": `{{` + attrs + `.verification}}`,
		"unknown filter":         `{{` + attrs + `.from | upcase}}`,
		"tag":                    `{% if x %}y{% endif %}`,
		"unterminated":           `{{ trigger.conversation`,
		"unterminated string":    `{{ 'abc }}`,
		"bad path":               `{{ trigger[0] }}`,
		"empty filter":           `{{ trigger | }}`,
		"default without arg":    `{{ trigger.x | default }}`,
	} {
		t.Run("error/"+name, func(t *testing.T) {
			var le *liquidError
			if _, err := renderLiquid(template, data); !errors.As(err, &le) {
				t.Errorf("renderLiquid(%s) = %v, want a liquid error", template, err)
			}
		})
	}
}

// FuzzRenderLiquidKeepsJSONValid renders a to_json value of any string into
// JSON attributes: the result is always the JSON object with that string.
func FuzzRenderLiquidKeepsJSONValid(f *testing.F) {
	for _, s := range []string{"Ada", `"`, `", "x": "`, "\\", "\n", "{{x}}", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		out, err := renderLiquid(`{"name": {{ v.name | to_json }}}`, map[string]any{"v": map[string]any{"name": name}})
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		if len(got) != 1 || (utf8.ValidString(name) && got["name"] != name) {
			t.Fatalf("%q rendered as %v", name, got)
		}
	})
}
