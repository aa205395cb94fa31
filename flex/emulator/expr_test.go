package emulator

import "testing"

func TestEvalExpr(t *testing.T) {
	attrs := map[string]any{
		"verification": map[string]any{"verified": true, "assurance": "high", "level": 2.0},
		"channelType":  "web",
		"skills":       []any{"en", "fr"},
		"flag":         false,
	}
	tests := []struct {
		expr string
		want bool
	}{
		{"verification.verified == true", true},
		{"verification.verified != true", false},
		{"verification.verified == false", false},
		{"missing.path == true", false},
		{"missing.path != true", true},
		{"missing.path == null", true},
		{"channelType == 'web'", true},
		{`channelType == "web"`, true},
		{"channelType == 'sms'", false},
		{"verification.level == 2", true},
		{"verification.level >= 2 AND verification.level < 3", true},
		{"verification.level > 2", false},
		{"channelType IN ['web', 'sms']", true},
		{"channelType IN ['voice']", false},
		{"channelType NOT IN ['voice']", true},
		{"skills HAS 'fr'", true},
		{"skills HAS 'de'", false},
		{"missing HAS 'de'", false},
		{"verification.verified == true AND channelType == 'sms'", false},
		{"verification.verified == true OR channelType == 'sms'", true},
		{"verification.verified == false or channelType == 'web'", true},
		{"(verification.verified == false OR channelType == 'web') AND skills HAS 'en'", true},
		{"verification.verified == false OR (channelType == 'web' AND skills HAS 'de')", false},
		{"1 == 1", true},
		{"true", true},
		{"flag", false},
		{"verification.verified && channelType == 'web'", true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := evalExpr(tt.expr, attrs)
			if err != nil || got != tt.want {
				t.Errorf("evalExpr(%s) = %v, %v; want %v", tt.expr, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{
		"", "verification.verified ==", "== true", "a === b", "(a == 1", "a == 1)", "a IN 'x'", "a == 'x",
		"channelType", "a NOT b", "[1, a] HAS 1", "a == 1 AND", "a ~ b", "a..b == 1",
	} {
		t.Run("error/"+bad, func(t *testing.T) {
			if got, err := evalExpr(bad, attrs); err == nil {
				t.Errorf("evalExpr(%q) = %v, want an error", bad, got)
			}
		})
	}
}
