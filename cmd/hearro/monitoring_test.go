package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/hearro/trustbroker/api/admin"
)

// The monitoring files under deployments/monitoring are checked by the tool they are for:
// Prometheus's own promtool checks the alert rules and runs their unit tests
// (alerts_test.yaml), and checks every query of the Grafana dashboard by loading it as a
// recording rule. The dashboard's structure is checked here.

const monitoringDir = "../../deployments/monitoring"

// promtool returns the path of Debian's promtool (package prometheus). Without it the test is
// skipped, unless HEARRO_REQUIRE_PROMTOOL=1 (CI), where that fails it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("HEARRO_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("HEARRO_REQUIRE_PROMTOOL=1 but promtool is not installed: apt-get install prometheus")
		}
		t.Skip("promtool is not installed (apt-get install prometheus): the monitoring files are not checked")
	}
	return p
}

func runPromtool(t *testing.T, tool string, args ...string) {
	t.Helper()
	out, err := exec.Command(tool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestAlertRules(t *testing.T) {
	tool := promtool(t)
	runPromtool(t, tool, "check", "rules", filepath.Join(monitoringDir, "alerts.yaml"))
	runPromtool(t, tool, "test", "rules", filepath.Join(monitoringDir, "alerts_test.yaml"))

	// The alerts the issue asks for, each with a severity and a summary.
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	b, err := os.ReadFile(filepath.Join(monitoringDir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s has no severity or summary", r.Alert)
			}
		}
	}
	for _, want := range []string{"HearroDown", "HearroHighErrorRate", "HearroVerificationSlow", "HearroTwilioCircuitOpen", "HearroWebhookDeadLetters", "HearroStoreDown"} {
		if !slices.Contains(names, want) {
			t.Errorf("no alert %s (alerts: %v)", want, names)
		}
	}
	// Every alert is unit-tested.
	tests, _ := os.ReadFile(filepath.Join(monitoringDir, "alerts_test.yaml"))
	for _, n := range names {
		if !strings.Contains(string(tests), "alertname: "+n) {
			t.Errorf("alert %s has no test in alerts_test.yaml", n)
		}
	}
}

// dashboard is the part of Grafana's dashboard model the checks read.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(monitoringDir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	return d
}

func TestGrafanaDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("dashboard uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["job"] != "query" {
		t.Errorf("template variables %v: want a datasource variable and a job query", vars)
	}

	// Panels: unique ids, inside the 24-column grid, not overlapping, each on the datasource
	// variable, with at least one query.
	ids := map[int]bool{}
	type cell struct{ x, y int }
	taken := map[cell]int{}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Fatalf("panel %q overlaps panel %d at (%d,%d)", p.Title, other, x, y)
				}
				taken[cell{x, y}] = p.ID
			}
		}
		if p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if !strings.Contains(q.Expr, `job=~"$job"`) {
				t.Errorf("panel %q query %s: not filtered by the job variable", p.Title, q.RefID)
			}
			// Grafana's variables, as Grafana would substitute them, then the query as a
			// recording rule for promtool to parse.
			expr := strings.NewReplacer("$__rate_interval", "5m", `"$job"`, `"hearro"`).Replace(q.Expr)
			fmt.Fprintf(&rules, "      - record: dashboard:panel%d_%s\n        expr: %q\n", p.ID, q.RefID, expr)
		}
	}
	if len(d.Panels) < 10 {
		t.Errorf("%d panels", len(d.Panels))
	}

	tool := promtool(t)
	f := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	if err := os.WriteFile(f, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, tool, "check", "rules", f)
}

// Every hearro_* metric the alert rules and the dashboard read is one the service exports:
// a renamed family would otherwise leave an alert that can never fire.
func TestMonitoringReadsExportedMetrics(t *testing.T) {
	m := admin.New("test")
	// One sample of each family, so that every family is gathered.
	m.SessionEnded("p", "bound", "none")
	m.PresentationVerified("jwt", "verified", time.Millisecond)
	m.WalletMessage("didexchange/complete", "accepted")
	m.WebhookDelivery("queued")
	m.TwilioCall("create_web_chat", 201)
	m.TwilioRetry("create_web_chat")
	m.BreakerState("closed")
	m.Request("GET", "/readyz", 200, time.Millisecond)
	m.StreamOpened()
	m.RateLimited("/v1/sessions")
	m.StoreOperation("get", "error", time.Millisecond)
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		exported[f.GetName()] = true
	}
	re := regexp.MustCompile(`\bhearro_[a-z_]+`)
	for _, f := range []string{"alerts.yaml", "alerts_test.yaml", "dashboard.json"} {
		b, err := os.ReadFile(filepath.Join(monitoringDir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range re.FindAllString(string(b), -1) {
			family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			if !exported[family] {
				t.Errorf("%s reads %s, which the service does not export", f, name)
			}
		}
	}
}
