package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// A small Liquid interpreter: the part of Twilio Studio's Liquid
// (https://www.twilio.com/docs/studio/user-guide/liquid-template-language)
// that a Send to Flex widget's attributes template needs, so the emulator can
// run the Studio flow of a web chat address.
//
// Supported: text, and output markup {{ expression | filter | filter: arg }}
// where an expression is a variable path (trigger.conversation.ChannelAttributes.from),
// a string in single or double quotes, a number, true, false or nil. Filters:
//
//   - to_json: the value as JSON (nil is null, a string is quoted and
//     escaped). Studio flows use it to put an object, or a string that may
//     hold quotes, into JSON attributes: e.g. the Send to Flex attributes
//     "memory": {{trigger.message.ChannelAttributes.memory | to_json}} of
//     https://github.com/techmatters/flex-plugins/blob/10c46a033241547f144d1304cb977cefceaa2c86/twilio-iac/terraform-modules/studioFlow/default/main.tf.
//   - default: arg — arg when the value is nil, false or "" (standard Liquid).
//
// A missing variable is nil and renders as "" (Liquid's rule). Outputting an
// object or an array without to_json is an error here: Liquid renders those in
// an implementation-specific way that is not JSON, so a template relying on it
// would not produce the attributes it seems to. Tags ({% … %}) and any other
// filter are errors too: the emulator says what it does not support rather
// than guessing.

// liquidError is a template the emulator cannot render, with why.
type liquidError struct{ msg string }

func (e *liquidError) Error() string { return "liquid: " + e.msg }

func liquidErrorf(format string, args ...any) error {
	return &liquidError{msg: fmt.Sprintf(format, args...)}
}

// renderLiquid renders template with the variables of data (a tree of
// map[string]any, []any, string, float64, bool and nil, as encoding/json
// decodes).
func renderLiquid(template string, data map[string]any) (string, error) {
	var out strings.Builder
	rest := template
	for {
		open := strings.Index(rest, "{")
		if open < 0 || open == len(rest)-1 {
			out.WriteString(rest)
			return out.String(), nil
		}
		switch rest[open+1] {
		case '%':
			return "", liquidErrorf("tags ({%% … %%}) are not supported by the emulator")
		case '{':
		default:
			out.WriteString(rest[:open+1])
			rest = rest[open+1:]
			continue
		}
		out.WriteString(rest[:open])
		body, after, ok := strings.Cut(rest[open+2:], "}}")
		if !ok {
			return "", liquidErrorf("unterminated {{ at %q", abbreviate(rest[open:]))
		}
		s, err := evalOutput(body, data)
		if err != nil {
			return "", err
		}
		out.WriteString(s)
		rest = after
	}
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// evalOutput evaluates the inside of {{ }} and renders it as text.
func evalOutput(body string, data map[string]any) (string, error) {
	parts, err := splitFilters(body)
	if err != nil {
		return "", err
	}
	v, err := liquidValue(parts[0], data)
	if err != nil {
		return "", err
	}
	jsonDone := false
	for _, f := range parts[1:] {
		name, arg, hasArg := strings.Cut(f, ":")
		name = strings.TrimSpace(name)
		switch name {
		case "to_json":
			if hasArg {
				return "", liquidErrorf("to_json takes no argument")
			}
			s, err := toJSON(v)
			if err != nil {
				return "", err
			}
			v, jsonDone = s, true
		case "default":
			if !hasArg {
				return "", liquidErrorf("default needs an argument")
			}
			d, err := liquidValue(arg, data)
			if err != nil {
				return "", err
			}
			if v == nil || v == false || v == "" {
				v = d
			}
			jsonDone = false
		case "":
			return "", liquidErrorf("empty filter in {{%s}}", body)
		default:
			return "", liquidErrorf("filter %q is not supported by the emulator (supported: to_json, default)", name)
		}
	}
	if jsonDone {
		return v.(string), nil
	}
	return liquidText(v)
}

// splitFilters splits an output's body at the pipes outside quotes.
func splitFilters(body string) ([]string, error) {
	var parts []string
	var quote byte
	start := 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '|':
			parts = append(parts, body[start:i])
			start = i + 1
		}
	}
	if quote != 0 {
		return nil, liquidErrorf("unterminated string in {{%s}}", body)
	}
	return append(parts, body[start:]), nil
}

// liquidValue evaluates an expression: a literal or a variable path.
func liquidValue(expr string, data map[string]any) (any, error) {
	expr = strings.TrimSpace(expr)
	switch {
	case expr == "":
		return nil, liquidErrorf("empty expression")
	case expr[0] == '\'' || expr[0] == '"':
		if len(expr) < 2 || expr[len(expr)-1] != expr[0] {
			return nil, liquidErrorf("bad string %s", expr)
		}
		return expr[1 : len(expr)-1], nil
	case expr == "true":
		return true, nil
	case expr == "false":
		return false, nil
	case expr == "nil" || expr == "null":
		return nil, nil
	case expr[0] == '-' || '0' <= expr[0] && expr[0] <= '9':
		f, err := strconv.ParseFloat(expr, 64)
		if err != nil {
			return nil, liquidErrorf("bad number %s", expr)
		}
		return f, nil
	}
	var cur any = data
	for _, name := range strings.Split(expr, ".") {
		if !validName(name) {
			return nil, liquidErrorf("%q is not a variable path the emulator supports", expr)
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, nil
		}
		cur = m[name]
	}
	return cur, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// liquidText renders a value as Liquid outputs it.
func liquidText(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case json.Number:
		return v.String(), nil
	}
	return "", liquidErrorf("outputs an object or array without | to_json; the emulator does not guess how Studio prints it")
}

// toJSON renders v as JSON, without HTML escaping.
func toJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", liquidErrorf("to_json: %v", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
