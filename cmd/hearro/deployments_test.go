package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hearro/trustbroker/api"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/identity"
)

// No container engine runs here, so the files under deployments/ are checked against the
// binary instead: every HEARRO_* variable they set and every flag they pass to hearro must be
// one the command they run knows (with a value it accepts), every probe path must be a route
// the service serves (and answer 200), and every file must parse. The known settings come from
// the real cobra commands — the constructors main.go registers — and envName.

// hearroConstructors are the commands main.go registers, by the name of their constructor
// (TestDeploymentsMatchTheBinary checks the list against main.go).
var hearroConstructors = map[string]func() *cobra.Command{
	"newServeCmd":       newServeCmd,
	"newWalletCmd":      newWalletCmd,
	"newIssuerCmd":      newIssuerCmd,
	"newTokenCmd":       newTokenCmd,
	"newOAuthCmd":       newOAuthCmd,
	"newEmulatorCmd":    newEmulatorCmd,
	"newFlexCmd":        newFlexCmd,
	"newHealthcheckCmd": newHealthcheckCmd,
}

func TestDeploymentsMatchTheBinary(t *testing.T) {
	registered := registeredCommands(t)
	if got := slices.Sorted(maps.Keys(hearroConstructors)); !slices.Equal(got, registered) {
		t.Fatalf("main.go registers %v, this test knows %v: update hearroConstructors", registered, got)
	}
	d := newDeploymentCheck(t)
	root := filepath.Join("..", "..", "deployments")
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no file under deployments/")
	}
	d.checkFiles(files)
	for _, p := range d.problems {
		t.Error(p)
	}
	t.Logf("%d files, %d HEARRO_* settings and %d hearro flags checked; probes: %v", len(files), d.envChecked, d.flagsChecked, d.probePaths())

	// What any deployment of this service needs, so the test cannot pass on empty files.
	for _, want := range []string{"Dockerfile", "compose.yaml", "README.md"} {
		if files[want] == nil {
			t.Errorf("deployments/%s is missing", want)
		}
	}
	for _, kind := range []string{"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "Secret"} {
		if d.kinds[kind] == 0 {
			t.Errorf("no %s under deployments/kubernetes", kind)
		}
	}
	for _, kind := range []string{"liveness", "readiness"} {
		if !slices.ContainsFunc(d.probes, func(p deploymentProbe) bool { return p.kind == kind }) {
			t.Errorf("no %s probe", kind)
		}
	}
	if d.envChecked < 10 {
		t.Errorf("only %d HEARRO_* settings found: the files were not read", d.envChecked)
	}

	// Every probe path, asked of the real service: 200.
	s := startTestService(t)
	for _, p := range d.probes {
		resp, err := http.Get(s.url + p.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s probe GET %s: %d from the service", p.where, p.kind, p.path, resp.StatusCode)
		}
	}
}

// TestDeploymentCheckerFindsMistakes is the negative control: the checker reports each kind of
// mistake (and nothing on a correct file).
func TestDeploymentCheckerFindsMistakes(t *testing.T) {
	const pod = `apiVersion: apps/v1
kind: Deployment
metadata: {name: hearro}
spec:
  selector: {matchLabels: {app: hearro}}
  template:
    metadata: {labels: {app: hearro}}
    spec:
      containers:
        - name: hearro
          image: hearro/trustbroker:1
          ports: [{name: http, containerPort: 8080}]
          env: [%s]
          args: [%s]
          readinessProbe: {httpGet: {path: %s, port: http}}
`
	deployment := func(env, args, probe string) map[string][]byte {
		return map[string][]byte{"kubernetes/deployment.yaml": fmt.Appendf(nil, pod, env, args, probe)}
	}
	compose := func(service string) map[string][]byte {
		return map[string][]byte{"compose.yaml": []byte("services:\n  hearro:\n    image: hearro/trustbroker:dev\n    stop_grace_period: 30s\n" + service)}
	}
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		want  string // in a reported problem; "" = no problem
	}{
		{"a correct Deployment", deployment(`{name: HEARRO_SESSION_TTL, value: 5m}`, `--log-level=debug`, "/readyz"), ""},
		{"a correct compose service", compose("    environment: {HEARRO_DEV: \"true\", HEARRO_REDIS_URL: \"redis://:${P:?}@redis:6379\"}\n"), ""},
		{"unknown env var", deployment(`{name: HEARRO_NOT_A_SETTING, value: x}`, ``, "/readyz"), "HEARRO_NOT_A_SETTING"},
		{"env var of another command", compose("    environment: {HEARRO_EMULATOR_ADDR: \":8081\"}\n"), "HEARRO_EMULATOR_ADDR"},
		{"misspelt env var in the Dockerfile", map[string][]byte{"Dockerfile": []byte("FROM scratch\nUSER 65532\nENV HEARRO_SESION_TTL=5m\nENTRYPOINT [\"/hearro\", \"serve\"]\n")}, "HEARRO_SESION_TTL"},
		{"a value the flag refuses", deployment(`{name: HEARRO_SESSION_TTL, value: ten minutes}`, ``, "/readyz"), "ten minutes"},
		{"a bad Redis URL", compose("    environment: {HEARRO_REDIS_URL: \"redis+sentinel://sentinel:26379\"}\n"), "master_name"},
		{"unknown flag", deployment(``, `--no-such-flag`, "/readyz"), "--no-such-flag"},
		{"unknown command", compose("    command: [\"--addr\", \":8080\"]\n    entrypoint: [\"/hearro\", \"server\"]\n"), "server"},
		{"probe path not served", deployment(``, ``, "/ready"), "/ready"},
		{"probe on a port the container does not have", map[string][]byte{"kubernetes/deployment.yaml": bytes.Replace(
			fmt.Appendf(nil, pod, ``, ``, "/readyz"), []byte("port: http"), []byte("port: metrics"), 1)}, "metrics"},
		{"a healthcheck that needs a shell", compose("    healthcheck: {test: [\"CMD-SHELL\", \"wget -qO- localhost:8080/healthz\"]}\n"), "shell"},
		{"grace period shorter than the drain", map[string][]byte{"compose.yaml": []byte("services:\n  hearro:\n    image: hearro/trustbroker:dev\n")}, "stop_grace_period"},
		{"YAML that does not parse", map[string][]byte{"kubernetes/broken.yaml": []byte("kind: Service\nspec: {ports: [\n")}, "kubernetes/broken.yaml"},
		{"a file nobody can check", map[string][]byte{"notes.txt": []byte("HEARRO_DEV=true")}, "notes.txt"},
		{"a flag in the README", map[string][]byte{"README.md": []byte("Run `hearro serve --redis-uri redis://redis:6379`.\n")}, "--redis-uri"},
		{"an env var in the README", map[string][]byte{"README.md": []byte("Set HEARRO_REDIS_HOST.\n")}, "HEARRO_REDIS_HOST"},
		{"a grace period shorter than the pause and the drain", map[string][]byte{"kubernetes/deployment.yaml": bytes.Replace(
			fmt.Appendf(nil, pod, ``, ``, "/readyz"), []byte("      containers:"), []byte("      terminationGracePeriodSeconds: 20\n      containers:"), 1)}, "terminationGracePeriodSeconds"},
		{"a policy file that is not valid", map[string][]byte{"kubernetes/deployment.yaml": append(bytes.Replace(
			fmt.Appendf(nil, pod, `{name: HEARRO_POLICY_FILE, value: /etc/hearro/policies.yaml}`, ``, "/readyz"),
			[]byte("          env:"), []byte("          volumeMounts: [{name: p, mountPath: /etc/hearro}]\n          env:"), 1),
			"      volumes: [{name: p, configMap: {name: policies}}]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: policies}\ndata:\n  policies.yaml: \"policies: [{name: x}]\"\n"...)}, "policy file"},
		{"a probe in the Caddyfile", map[string][]byte{"compose/Caddyfile": []byte(":8080 {\n\treverse_proxy a:8080 {\n\t\thealth_uri /health\n\t}\n}\n")}, "/health"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeploymentCheck(t)
			d.checkFiles(tc.files)
			switch {
			case tc.want == "" && len(d.problems) > 0:
				t.Errorf("problems reported for a correct file:\n%s", strings.Join(d.problems, "\n"))
			case tc.want != "" && !slices.ContainsFunc(d.problems, func(p string) bool { return strings.Contains(p, tc.want) }):
				t.Errorf("no problem mentions %q; reported: %q", tc.want, d.problems)
			}
		})
	}
}

// registeredCommands reads main.go and returns the constructors passed to root.AddCommand.
func registeredCommands(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "AddCommand" {
			return true
		}
		for _, arg := range call.Args {
			if c, ok := arg.(*ast.CallExpr); ok {
				if id, ok := c.Fun.(*ast.Ident); ok {
					names = append(names, id.Name)
				}
			}
		}
		return true
	})
	if len(names) == 0 {
		t.Fatal("main.go: no root.AddCommand(...) found")
	}
	slices.Sort(names)
	return names
}

// hearroCommand is one runnable command of the binary: its flags and their environment twins.
type hearroCommand struct {
	path  string // "serve", "wallet accept", …
	flags *pflag.FlagSet
	env   map[string]string // HEARRO_* name → flag name
}

// binaryCommands builds every runnable command from the constructors main.go registers.
// Environment names are those withEnv gave the flags (it writes them into the help text);
// for serve they must be envName("HEARRO_", flag).
func binaryCommands(t testing.TB) map[string]*hearroCommand {
	t.Helper()
	envInUsage := regexp.MustCompile(`\(env (HEARRO_[A-Z0-9_]+)\b`)
	out := map[string]*hearroCommand{}
	var walk func(c *cobra.Command, path string)
	walk = func(c *cobra.Command, path string) {
		if c.Runnable() {
			hc := &hearroCommand{path: path, flags: c.Flags(), env: map[string]string{}}
			c.Flags().VisitAll(func(f *pflag.Flag) {
				if m := envInUsage.FindStringSubmatch(f.Usage); m != nil {
					hc.env[m[1]] = f.Name
					if path == "serve" && m[1] != envName("HEARRO_", f.Name) {
						t.Fatalf("serve --%s reads %s, envName says %s", f.Name, m[1], envName("HEARRO_", f.Name))
					}
				}
			})
			out[path] = hc
		}
		for _, sub := range c.Commands() {
			walk(sub, path+" "+sub.Name())
		}
	}
	for _, name := range slices.Sorted(maps.Keys(hearroConstructors)) {
		c := hearroConstructors[name]()
		walk(c, c.Name())
	}
	if serve := out["serve"]; serve == nil || len(serve.env) < 20 {
		t.Fatalf("serve's environment twins not found: %v", serve)
	}
	return out
}

// deploymentCheck reads deployment files and collects what is wrong with them.
type deploymentCheck struct {
	commands map[string]*hearroCommand
	routes   []*regexp.Regexp // GET routes the service serves
	problems []string
	probes   []deploymentProbe
	kinds    map[string]int // Kubernetes kinds seen

	// The image, from the Dockerfile (defaults: what deployments/Dockerfile says).
	entrypoint []string
	cmd        []string
	imageEnv   map[string]string

	k8s []k8sDoc

	envChecked, flagsChecked int
}

type deploymentProbe struct{ where, kind, path string }

type k8sDoc struct {
	file string
	obj  map[string]any
}

func newDeploymentCheck(t testing.TB) *deploymentCheck {
	t.Helper()
	key, err := api.NewSigningKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	e := api.New(api.Config{
		PublicURL:    "http://localhost:8080",
		AccessTokens: api.NewAccessTokens(key, "http://localhost:8080", "", nil),
	}, nil)
	d := &deploymentCheck{
		commands:   binaryCommands(t),
		kinds:      map[string]int{},
		entrypoint: []string{"/hearro", "serve"},
		imageEnv:   map[string]string{},
	}
	param := regexp.MustCompile(`:[a-z_]+`)
	for _, r := range e.Routes() {
		if r.Method != http.MethodGet && r.Method != "echo_route_any" {
			continue
		}
		pattern := regexp.QuoteMeta(r.Path)
		pattern = param.ReplaceAllString(pattern, `[^/]+`)
		pattern = strings.ReplaceAll(pattern, `\*`, `.*`)
		d.routes = append(d.routes, regexp.MustCompile("^"+pattern+"$"))
	}
	return d
}

func (d *deploymentCheck) problem(format string, args ...any) {
	d.problems = append(d.problems, fmt.Sprintf(format, args...))
}

func (d *deploymentCheck) probePaths() []string {
	var out []string
	for _, p := range d.probes {
		out = append(out, p.kind+" "+p.path)
	}
	return out
}

// checkFiles checks files (path relative to deployments/ → content): the Dockerfile first
// (the other files run its image), then the rest, then what spans files.
func (d *deploymentCheck) checkFiles(files map[string][]byte) {
	names := slices.Sorted(maps.Keys(files))
	slices.SortStableFunc(names, func(a, b string) int {
		return deployRank(path.Base(a) != "Dockerfile") - deployRank(path.Base(b) != "Dockerfile")
	})
	for _, name := range names {
		b := files[name]
		switch base := path.Base(name); {
		case strings.HasPrefix(name, "monitoring/"):
			// Prometheus rules and the Grafana dashboard: promtool checks them
			// (monitoring_test.go).
		case base == "Dockerfile":
			d.dockerfile(name, b)
		case strings.HasSuffix(base, ".dockerignore"):
			d.dockerignore(name, b)
		case strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml"):
			d.yamlFile(name, b, files)
		case base == "Caddyfile":
			d.caddyfile(name, b)
		case strings.HasSuffix(base, ".md"):
			d.markdown(name, b)
		default:
			d.problem("%s: no check knows this kind of file; teach deployments_test.go to read it", name)
		}
	}
	d.kubernetes()
}

func deployRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// --- settings and command lines -----------------------------------------------------------

// command finds the hearro command an argv runs; nil (and no problem) if argv does not run
// hearro. Its flags are checked.
func (d *deploymentCheck) command(where string, argv []string) *hearroCommand {
	if len(argv) == 0 || path.Base(argv[0]) != "hearro" {
		return nil
	}
	words, i := "", 1
	for ; i < len(argv) && !strings.HasPrefix(argv[i], "-"); i++ {
		next := strings.TrimSpace(words + " " + argv[i])
		if !slices.ContainsFunc(slices.Collect(maps.Keys(d.commands)), func(p string) bool { return p == next || strings.HasPrefix(p, next+" ") }) {
			break
		}
		words = next
	}
	c := d.commands[words]
	if c == nil {
		d.problem("%s: `%s` is not a command of the binary (it has: %s)", where, strings.Join(argv, " "), strings.Join(slices.Sorted(maps.Keys(d.commands)), ", "))
		return nil
	}
	for ; i < len(argv); i++ {
		arg := argv[i]
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			continue // a positional argument
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		var f *pflag.Flag
		if strings.HasPrefix(arg, "--") {
			f = c.flags.Lookup(name)
		} else if len(name) == 1 {
			f = c.flags.ShorthandLookup(name)
		}
		d.flagsChecked++
		if f == nil {
			d.problem("%s: hearro %s has no flag %s", where, c.path, arg)
			continue
		}
		if !hasValue && f.Value.Type() != "bool" && i+1 < len(argv) {
			i++
			value, hasValue = argv[i], true
		}
		if hasValue {
			d.value(where, c, f.Name, arg, value)
		}
	}
	return c
}

// env checks one environment variable given to a container that runs c (nil: not hearro),
// and its value if it is literal (not from a secret reference).
func (d *deploymentCheck) env(where string, c *hearroCommand, name, value string, literal bool) {
	if !strings.HasPrefix(name, "HEARRO_") {
		return
	}
	d.envChecked++
	if c == nil {
		d.problem("%s: %s is set where hearro does not run", where, name)
		return
	}
	flag, ok := c.env[name]
	if !ok {
		d.problem("%s: %s is not a setting of `hearro %s`%s", where, name, c.path, d.elsewhere(name))
		return
	}
	if literal {
		d.value(where, c, flag, name, value)
	}
}

// elsewhere says which other command reads an environment variable, if one does.
func (d *deploymentCheck) elsewhere(name string) string {
	for _, p := range slices.Sorted(maps.Keys(d.commands)) {
		if _, ok := d.commands[p].env[name]; ok {
			return fmt.Sprintf(" (it is one of `hearro %s`)", p)
		}
	}
	return ""
}

var composeInterpolation = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(?:(:?[-?+])([^}]*))?\}`)

// value checks that flag of c accepts value (given as what). A value with compose
// interpolations (${VAR}, ${VAR:-default}, ${VAR:?message}) is checked with each replaced by
// its default or a placeholder, if the flag takes any string.
func (d *deploymentCheck) value(where string, c *hearroCommand, flag, what, value string) {
	f := c.flags.Lookup(flag)
	if strings.Contains(value, "$") {
		value = composeInterpolation.ReplaceAllStringFunc(value, func(m string) string {
			if sub := composeInterpolation.FindStringSubmatch(m); strings.HasSuffix(sub[1], "-") {
				return sub[2]
			}
			return "placeholder"
		})
		if strings.Contains(strings.ReplaceAll(value, "$$", ""), "$") {
			d.problem("%s: %s=%q: not a valid interpolation", where, what, value)
			return
		}
		if f.Value.Type() != "string" {
			return // the value comes from the environment of whoever runs compose
		}
	}
	fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
	fs.AddFlag(&pflag.Flag{Name: f.Name, Value: freshFlagValue(f)})
	if err := fs.Set(f.Name, value); err != nil {
		d.problem("%s: %s=%q: hearro %s refuses it: %v", where, what, value, c.path, err)
		return
	}
	if flag == "redis-url" {
		if _, err := redisstore.ValidateURL(value); err != nil {
			d.problem("%s: %s: %v", where, what, err)
		}
	}
	if flag == "addr" {
		if _, _, err := net.SplitHostPort(value); err != nil {
			d.problem("%s: %s=%q: %v", where, what, value, err)
		}
	}
}

// freshFlagValue returns a flag value of the same type as f's, so that checking a value does not
// change the command's own flags.
func freshFlagValue(f *pflag.Flag) pflag.Value {
	fs := pflag.NewFlagSet("fresh", pflag.ContinueOnError)
	switch f.Value.Type() {
	case "bool":
		return declaredFlagValue(fs, func() { fs.Bool("v", false, "") })
	case "int":
		return declaredFlagValue(fs, func() { fs.Int("v", 0, "") })
	case "duration":
		return declaredFlagValue(fs, func() { fs.Duration("v", 0, "") })
	case "stringSlice":
		return declaredFlagValue(fs, func() { fs.StringSlice("v", nil, "") })
	default:
		return declaredFlagValue(fs, func() { fs.String("v", "", "") })
	}
}

func declaredFlagValue(fs *pflag.FlagSet, declare func()) pflag.Value {
	declare()
	return fs.Lookup("v").Value
}

// probe checks a health-check path: a GET route of the service (TestDeploymentsMatchTheBinary
// also asks the real service, which must answer 200).
func (d *deploymentCheck) probe(where, kind, p string) {
	route, _, _ := strings.Cut(p, "?")
	if !strings.HasPrefix(route, "/") || !slices.ContainsFunc(d.routes, func(r *regexp.Regexp) bool { return r.MatchString(route) }) {
		d.problem("%s: %s probe path %q is not served by the service", where, kind, p)
		return
	}
	d.probes = append(d.probes, deploymentProbe{where: where, kind: kind, path: p})
}

// listenPort is the port the service listens on with this environment (HEARRO_ADDR or the
// flag's default).
func (d *deploymentCheck) listenPort(env map[string]string) string {
	addr := env["HEARRO_ADDR"]
	if addr == "" {
		addr = d.commands["serve"].flags.Lookup("addr").DefValue
	}
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// drain is how long the service may take to shut down with this environment.
func (d *deploymentCheck) drain(env map[string]string) time.Duration {
	v := env["HEARRO_SHUTDOWN_TIMEOUT"]
	if v == "" {
		v = d.commands["serve"].flags.Lookup("shutdown-timeout").DefValue
	}
	t, _ := time.ParseDuration(v)
	return t
}

// --- Dockerfile ----------------------------------------------------------------------------

var dockerInstructions = []string{"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
	"LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}

// dockerfile reads the final stage's ENV, USER, EXPOSE, ENTRYPOINT, CMD and HEALTHCHECK.
func (d *deploymentCheck) dockerfile(name string, b []byte) {
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if strings.HasPrefix(l, "#") {
			continue // a comment inside a continued instruction
		}
		if more, ok := strings.CutSuffix(l, `\`); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		d.problem("%s: the last instruction ends with a line continuation", name)
	}
	stages, user, exposed := 0, "", []string{}
	env := map[string]string{}
	var entrypoint, cmd, healthcheck []string
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		instr = strings.ToUpper(instr)
		if !slices.Contains(dockerInstructions, instr) {
			d.problem("%s: unknown instruction %q", name, instr)
			continue
		}
		rest = strings.TrimSpace(rest)
		switch instr {
		case "FROM":
			stages++
			user, exposed, env, entrypoint, cmd, healthcheck = "", nil, map[string]string{}, nil, nil, nil
		case "ENV":
			for k, v := range dockerEnv(rest) {
				env[k] = v
			}
		case "USER":
			user = rest
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				exposed = append(exposed, strings.TrimSuffix(p, "/tcp"))
			}
		case "ENTRYPOINT", "CMD":
			var argv []string
			if err := json.Unmarshal([]byte(rest), &argv); err != nil {
				d.problem("%s: %s %s: use the exec form [\"…\"]: the image has no shell", name, instr, rest)
				continue
			}
			if instr == "ENTRYPOINT" {
				entrypoint, cmd = argv, nil // a new ENTRYPOINT resets CMD
			} else {
				cmd = argv
			}
		case "HEALTHCHECK":
			if strings.HasPrefix(rest, "NONE") {
				continue
			}
			_, c, _ := strings.Cut(rest, "CMD ")
			if err := json.Unmarshal([]byte(c), &healthcheck); err != nil {
				d.problem("%s: HEALTHCHECK %s: use the exec form: the image has no shell", name, rest)
			}
		}
	}
	if stages == 0 {
		d.problem("%s: no FROM", name)
		return
	}
	if user == "" || user == "root" || user == "0" || strings.HasPrefix(user, "0:") || strings.HasPrefix(user, "root:") {
		d.problem("%s: the final stage runs as %q: it must name a non-root USER", name, user)
	}
	if len(entrypoint) == 0 {
		d.problem("%s: no ENTRYPOINT", name)
		return
	}
	d.entrypoint, d.cmd, d.imageEnv = entrypoint, cmd, env
	c := d.command(name+": ENTRYPOINT+CMD", append(slices.Clone(entrypoint), cmd...))
	for k, v := range env {
		d.env(name+": ENV", c, k, v, true)
	}
	if healthcheck != nil {
		d.command(name+": HEALTHCHECK", healthcheck)
	}
	if c != nil && c.path == "serve" && !slices.Contains(exposed, d.listenPort(env)) {
		d.problem("%s: the service listens on port %s, EXPOSE says %v", name, d.listenPort(env), exposed)
	}
}

// dockerEnv parses ENV's arguments: KEY=value pairs (quoted values allowed), or KEY value.
func dockerEnv(s string) map[string]string {
	out := map[string]string{}
	words := splitShellWords(s)
	if len(words) >= 1 && !strings.Contains(words[0], "=") {
		out[words[0]] = strings.Join(words[1:], " ")
		return out
	}
	for _, w := range words {
		k, v, _ := strings.Cut(w, "=")
		out[k] = v
	}
	return out
}

// splitShellWords splits s into words as a POSIX shell would for simple cases: spaces separate,
// single and double quotes group.
func splitShellWords(s string) []string {
	var words []string
	var w strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// dockerignore checks the patterns are valid.
func (d *deploymentCheck) dockerignore(name string, b []byte) {
	for l := range strings.Lines(string(b)) {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if _, err := filepath.Match(strings.TrimPrefix(strings.ReplaceAll(l, "**", "*"), "!"), ""); err != nil {
			d.problem("%s: pattern %q: %v", name, l, err)
		}
	}
}

// --- YAML: compose and Kubernetes ------------------------------------------------------------

func (d *deploymentCheck) yamlFile(name string, b []byte, files map[string][]byte) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for n := 1; ; n++ {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			d.problem("%s: cannot parse document %d:\n%s", name, n, yaml.FormatError(err, false, true))
			return
		}
		m, _ := doc.(map[string]any)
		switch {
		case doc == nil:
		case m == nil:
			d.problem("%s: document %d is not a mapping", name, n)
		case m["services"] != nil:
			d.compose(name, m, files)
		case m["kind"] == "Kustomization":
			for _, r := range yamlList(m["resources"]) {
				if p := path.Join(path.Dir(name), fmt.Sprint(r)); files[p] == nil {
					d.problem("%s: resource %s does not exist", name, r)
				}
			}
		case m["apiVersion"] != nil && m["kind"] != nil:
			d.kinds[fmt.Sprint(m["kind"])]++
			d.k8s = append(d.k8s, k8sDoc{file: name, obj: m})
		default:
			d.problem("%s: document %d is neither a compose file nor a Kubernetes object", name, n)
		}
	}
}

// compose checks a compose file's services.
func (d *deploymentCheck) compose(name string, doc map[string]any, files map[string][]byte) {
	services, _ := doc["services"].(map[string]any)
	for _, svcName := range slices.Sorted(maps.Keys(services)) {
		svc, _ := services[svcName].(map[string]any)
		where := fmt.Sprintf("%s: service %s", name, svcName)
		image := fmt.Sprint(svc["image"])
		build := svc["build"]
		runsImage := isHearroImage(image) || build != nil
		// compose: entrypoint replaces the image's ENTRYPOINT and drops its CMD; command
		// replaces CMD.
		var entry, args []string
		entrypoint, hasEntrypoint := svc["entrypoint"]
		switch {
		case hasEntrypoint:
			entry = yamlCommandLine(entrypoint)
		case runsImage:
			entry, args = d.entrypoint, d.cmd
		}
		if command, ok := svc["command"]; ok {
			args = yamlCommandLine(command)
		}
		argv := append(slices.Clone(entry), args...)
		c := d.command(where, argv)
		env := map[string]string{}
		if runsImage {
			maps.Copy(env, d.imageEnv)
		}
		for k, v := range composeEnv(svc["environment"]) {
			env[k] = v
			d.env(where, c, k, v, true)
		}
		if c != nil && c.path == "serve" {
			grace := 10 * time.Second // compose's default
			if g, ok := svc["stop_grace_period"]; ok {
				var err error
				if grace, err = time.ParseDuration(fmt.Sprint(g)); err != nil {
					d.problem("%s: stop_grace_period %v: %v", where, g, err)
				}
			}
			if grace <= d.drain(env) {
				d.problem("%s: stop_grace_period %s does not leave the service its %s to drain (HEARRO_SHUTDOWN_TIMEOUT): it would be killed mid-exchange", where, grace, d.drain(env))
			}
		}
		if hc, ok := svc["healthcheck"].(map[string]any); ok && runsImage {
			test := yamlCommandLine(hc["test"])
			switch {
			case len(test) > 0 && test[0] == "CMD-SHELL", len(test) > 0 && test[0] != "CMD" && test[0] != "NONE":
				d.problem("%s: healthcheck %v needs a shell, which the image does not have", where, test)
			case len(test) > 1 && test[0] == "CMD":
				if path.Base(test[1]) != "hearro" {
					d.problem("%s: healthcheck runs %s, which the image does not have", where, test[1])
				}
				d.command(where+": healthcheck", test[1:])
				for _, a := range test {
					if u, ok := strings.CutPrefix(a, "http://"); ok {
						if _, p, ok := strings.Cut(u, "/"); ok {
							d.probe(where+": healthcheck", "health", "/"+p)
						}
					}
				}
			}
		}
		// Files the service mounts from the repository must exist.
		for _, v := range yamlList(svc["volumes"]) {
			src, _, _ := strings.Cut(fmt.Sprint(v), ":")
			if strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../") {
				if p := path.Join(path.Dir(name), src); files[p] == nil && !strings.HasPrefix(p, "..") {
					d.problem("%s: mounts %s, which does not exist", where, src)
				}
			}
		}
	}
}

func isHearroImage(image string) bool {
	return strings.Contains(image, "hearro") || strings.Contains(image, "trustbroker")
}

// yamlCommandLine is a compose or Kubernetes command: a list, or a string split like a shell.
func yamlCommandLine(v any) []string {
	if s, ok := v.(string); ok {
		return splitShellWords(s)
	}
	var out []string
	for _, x := range yamlList(v) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func yamlList(v any) []any {
	l, _ := v.([]any)
	return l
}

// composeEnv is a compose environment: a mapping, or a list of KEY=value.
func composeEnv(v any) map[string]string {
	out := map[string]string{}
	switch e := v.(type) {
	case map[string]any:
		for k, v := range e {
			if v != nil {
				out[k] = fmt.Sprint(v)
			}
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
			out[k] = v
		}
	}
	return out
}

// kubernetes checks the objects of every manifest together: containers with the ConfigMaps and
// Secrets they read and the files they mount, Services, autoscalers and disruption budgets with
// the pods they select.
func (d *deploymentCheck) kubernetes() {
	sources := map[string]*envSource{} // "ConfigMap/name", "Secret/name"
	for _, o := range d.k8s {
		kind, name := fmt.Sprint(o.obj["kind"]), k8sName(o.obj)
		if kind != "ConfigMap" && kind != "Secret" {
			continue
		}
		s := &envSource{file: o.file, data: map[string]string{}}
		for k, v := range yamlMap(o.obj["stringData"]) {
			s.data[k] = fmt.Sprint(v)
		}
		for k, v := range yamlMap(o.obj["data"]) {
			s.data[k] = fmt.Sprint(v)
			if kind == "Secret" {
				b, err := base64.StdEncoding.DecodeString(fmt.Sprint(v))
				if err != nil {
					d.problem("%s: Secret %s: data.%s is not base64", o.file, name, k)
				}
				s.data[k] = string(b)
			}
		}
		sources[kind+"/"+name] = s
	}
	type podOf struct {
		labels map[string]any
		ports  map[string]string // container port name → number
	}
	var pods []podOf
	workloads := map[string]bool{}
	for _, o := range d.k8s {
		kind := fmt.Sprint(o.obj["kind"])
		var tmpl map[string]any
		switch kind {
		case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
			tmpl = yamlMap(yamlMap(o.obj["spec"])["template"])
		case "CronJob":
			tmpl = yamlMap(yamlMap(yamlMap(yamlMap(o.obj["spec"])["jobTemplate"])["spec"])["template"])
		case "Pod":
			tmpl = o.obj
		default:
			continue
		}
		workloads[kind+"/"+k8sName(o.obj)] = true
		spec := yamlMap(tmpl["spec"])
		pod := podOf{labels: yamlMap(yamlMap(tmpl["metadata"])["labels"]), ports: map[string]string{}}
		grace := 30 * time.Second
		if g, ok := spec["terminationGracePeriodSeconds"]; ok {
			n, _ := strconv.Atoi(fmt.Sprint(g))
			grace = time.Duration(n) * time.Second
		}
		volumes := map[string]map[string]any{}
		for _, v := range yamlList(spec["volumes"]) {
			volumes[fmt.Sprint(yamlMap(v)["name"])] = yamlMap(v)
		}
		for _, ct := range append(yamlList(spec["initContainers"]), yamlList(spec["containers"])...) {
			ct := yamlMap(ct)
			where := fmt.Sprintf("%s: %s %s, container %s", o.file, kind, k8sName(o.obj), ct["name"])
			image := fmt.Sprint(ct["image"])
			var argv []string
			command, hasCommand := ct["command"]
			switch {
			case hasCommand:
				argv = append(yamlCommandLine(command), yamlCommandLine(ct["args"])...)
			case isHearroImage(image):
				argv = slices.Clone(d.entrypoint)
				if args, ok := ct["args"]; ok {
					argv = append(argv, yamlCommandLine(args)...)
				} else {
					argv = append(argv, d.cmd...)
				}
			}
			c := d.command(where, argv)
			env := map[string]string{}
			if isHearroImage(image) {
				maps.Copy(env, d.imageEnv)
			}
			for _, ef := range yamlList(ct["envFrom"]) {
				ef := yamlMap(ef)
				prefix := fmt.Sprint(yamlOrEmpty(ef["prefix"]))
				for _, ref := range []string{"configMapRef", "secretRef"} {
					r := yamlMap(ef[ref])
					if r == nil {
						continue
					}
					key := map[string]string{"configMapRef": "ConfigMap", "secretRef": "Secret"}[ref] + "/" + fmt.Sprint(r["name"])
					s := sources[key]
					if s == nil {
						if r["optional"] != true {
							d.problem("%s: envFrom %s, which is not in the manifests", where, key)
						}
						continue
					}
					s.used = true
					for k, v := range s.data {
						env[prefix+k] = v
						d.env(where+" (from "+key+")", c, prefix+k, v, true)
					}
				}
			}
			for _, e := range yamlList(ct["env"]) {
				e := yamlMap(e)
				n := fmt.Sprint(e["name"])
				v, literal := e["value"]
				env[n] = fmt.Sprint(yamlOrEmpty(v))
				d.env(where, c, n, fmt.Sprint(yamlOrEmpty(v)), literal)
			}
			ports := map[string]string{}
			for _, p := range yamlList(ct["ports"]) {
				p := yamlMap(p)
				ports[fmt.Sprint(yamlOrEmpty(p["name"]))] = fmt.Sprint(p["containerPort"])
				pod.ports[fmt.Sprint(yamlOrEmpty(p["name"]))] = fmt.Sprint(p["containerPort"])
			}
			for _, probeKind := range []string{"liveness", "readiness", "startup"} {
				pr := yamlMap(ct[probeKind+"Probe"])
				if pr == nil {
					continue
				}
				if g := yamlMap(pr["httpGet"]); g != nil {
					d.probe(where, probeKind, fmt.Sprint(g["path"]))
					port := fmt.Sprint(g["port"])
					if n, ok := ports[port]; ok {
						port = n
					} else if _, err := strconv.Atoi(port); err != nil {
						d.problem("%s: %s probe port %q is not a port of the container", where, probeKind, port)
						continue
					}
					if c != nil && c.path == "serve" && port != d.listenPort(env) {
						d.problem("%s: %s probe on port %s, the service listens on %s", where, probeKind, port, d.listenPort(env))
					}
				}
				if x := yamlMap(pr["exec"]); x != nil && isHearroImage(image) {
					d.problem("%s: %s probe runs %v: the image has no shell or tools; use httpGet", where, probeKind, x["command"])
				}
			}
			var pause time.Duration
			if ps := yamlMap(yamlMap(ct["lifecycle"])["preStop"]); ps != nil {
				if x := yamlMap(ps["exec"]); x != nil && isHearroImage(image) {
					if argv := yamlCommandLine(x["command"]); len(argv) == 0 || path.Base(argv[0]) != "hearro" {
						d.problem("%s: preStop runs %v, which the image does not have (no shell, no sleep): use the sleep action", where, argv)
					}
				}
				if s := yamlMap(ps["sleep"]); s != nil {
					n, _ := strconv.Atoi(fmt.Sprint(s["seconds"]))
					pause = time.Duration(n) * time.Second
				}
			}
			if c != nil && c.path == "serve" {
				if grace <= pause+d.drain(env) {
					d.problem("%s: terminationGracePeriodSeconds %s does not cover the preStop pause (%s) and the drain (HEARRO_SHUTDOWN_TIMEOUT %s)", where, grace, pause, d.drain(env))
				}
				// Files the service is told to read must be mounted.
				for _, setting := range []string{"HEARRO_POLICY_FILE", "HEARRO_OAUTH_CLIENTS_FILE"} {
					if file := env[setting]; file != "" {
						d.mountedFile(where, setting, file, ct, volumes, sources)
					}
				}
			}
		}
		pods = append(pods, pod)
	}
	for key, s := range sources {
		if !s.used {
			for k, v := range s.data {
				if strings.HasPrefix(k, "HEARRO_") {
					d.problem("%s: %s sets %s=%q but no container reads it", s.file, key, k, v)
				}
			}
		}
	}
	selects := func(sel map[string]any) (podOf, bool) {
		for _, p := range pods {
			match := len(sel) > 0
			for k, v := range sel {
				if fmt.Sprint(p.labels[k]) != fmt.Sprint(v) {
					match = false
				}
			}
			if match {
				return p, true
			}
		}
		return podOf{}, false
	}
	for _, o := range d.k8s {
		kind, spec := fmt.Sprint(o.obj["kind"]), yamlMap(o.obj["spec"])
		where := fmt.Sprintf("%s: %s %s", o.file, kind, k8sName(o.obj))
		switch kind {
		case "Service":
			p, ok := selects(yamlMap(spec["selector"]))
			if !ok {
				d.problem("%s: its selector %v matches no pod", where, spec["selector"])
				continue
			}
			for _, port := range yamlList(spec["ports"]) {
				target := fmt.Sprint(yamlMap(port)["targetPort"])
				if _, named := p.ports[target]; !named && !slices.Contains(slices.Collect(maps.Values(p.ports)), target) {
					d.problem("%s: targetPort %s is not a port of its pods", where, target)
				}
			}
		case "PodDisruptionBudget":
			if _, ok := selects(yamlMap(yamlMap(spec["selector"])["matchLabels"])); !ok {
				d.problem("%s: its selector matches no pod", where)
			}
		case "HorizontalPodAutoscaler":
			ref := yamlMap(spec["scaleTargetRef"])
			if !workloads[fmt.Sprint(ref["kind"])+"/"+fmt.Sprint(ref["name"])] {
				d.problem("%s: scales %s/%s, which is not in the manifests", where, ref["kind"], ref["name"])
			}
		}
	}
}

// envSource is a ConfigMap or a Secret: its data, and whether a container uses it.
type envSource struct {
	file string
	data map[string]string
	used bool
}

// mountedFile checks that a file the service is told to read comes from a ConfigMap or Secret
// the container mounts, and that a policy file there is valid.
func (d *deploymentCheck) mountedFile(where, setting, file string, ct map[string]any, volumes map[string]map[string]any, sources map[string]*envSource) {
	for _, vm := range yamlList(ct["volumeMounts"]) {
		vm := yamlMap(vm)
		mount, sub := fmt.Sprint(vm["mountPath"]), fmt.Sprint(yamlOrEmpty(vm["subPath"]))
		var rel string
		switch {
		case sub != "" && file == mount:
			rel = sub
		case sub == "" && strings.HasPrefix(file, strings.TrimSuffix(mount, "/")+"/"):
			rel = strings.TrimPrefix(file, strings.TrimSuffix(mount, "/")+"/")
		default:
			continue
		}
		vol := volumes[fmt.Sprint(vm["name"])]
		var key string
		var items []any
		if cm := yamlMap(vol["configMap"]); cm != nil {
			key, items = "ConfigMap/"+fmt.Sprint(cm["name"]), yamlList(cm["items"])
		} else if sec := yamlMap(vol["secret"]); sec != nil {
			key, items = "Secret/"+fmt.Sprint(sec["secretName"]), yamlList(sec["items"])
		} else {
			d.problem("%s: %s=%s is on volume %s, which holds no ConfigMap or Secret", where, setting, file, vm["name"])
			return
		}
		dataKey := rel
		if len(items) > 0 {
			dataKey = ""
			for _, it := range items {
				if it := yamlMap(it); fmt.Sprint(it["path"]) == rel {
					dataKey = fmt.Sprint(it["key"])
				}
			}
		}
		src := sources[key]
		content, ok := "", false
		if src != nil {
			src.used = true
			content, ok = src.data[dataKey]
		}
		switch {
		case dataKey == "":
			d.problem("%s: %s=%s: volume %s mounts no item at %s", where, setting, file, vm["name"], rel)
			return
		case !ok:
			d.problem("%s: %s=%s: %s has no key %q", where, setting, file, key, dataKey)
			return
		}
		if setting == "HEARRO_POLICY_FILE" {
			if _, err := identity.ParsePolicies([]byte(content)); err != nil {
				d.problem("%s: the policy file %s (%s) is not valid: %v", where, file, key, err)
			}
		}
		return
	}
	d.problem("%s: %s=%s, but no volume of the container holds that file", where, setting, file)
}

func k8sName(o map[string]any) string { return fmt.Sprint(yamlMap(o["metadata"])["name"]) }

func yamlMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func yamlOrEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// --- Caddyfile and Markdown --------------------------------------------------------------------

// caddyfile checks that braces balance and that health_uri paths are served.
func (d *deploymentCheck) caddyfile(name string, b []byte) {
	depth := 0
	for n, l := range strings.Split(string(b), "\n") {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		words := strings.Fields(l)
		for _, w := range words {
			switch w {
			case "{":
				depth++
			case "}":
				depth--
			}
		}
		if depth < 0 {
			d.problem("%s:%d: unbalanced }", name, n+1)
			return
		}
		if len(words) == 2 && words[0] == "health_uri" {
			d.probe(fmt.Sprintf("%s:%d", name, n+1), "health", words[1])
		}
	}
	if depth != 0 {
		d.problem("%s: %d unclosed {", name, depth)
	}
}

var (
	hearroSettingPattern = regexp.MustCompile(`HEARRO_[A-Z0-9_]*[A-Z0-9](_?…|_\*|_<)?`)
	redisURLPattern      = regexp.MustCompile(`\b(?:rediss?(?:\+sentinel|\+cluster)?|unix)://[^\s` + "`" + `"'<>)]+`)
	markdownCode         = regexp.MustCompile("(?s)```.*?```|`[^`\n]+`")
)

// markdown checks a document's HEARRO_* names (a name ending in … or _* is a prefix), the
// flags of every hearro command line in its code, and its Redis URLs.
func (d *deploymentCheck) markdown(name string, b []byte) {
	all := map[string]bool{}
	for _, c := range d.commands {
		for e := range c.env {
			all[e] = true
		}
	}
	for _, m := range hearroSettingPattern.FindAllString(string(b), -1) {
		if prefix, ok := strings.CutSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "…"), "*"), "_"); ok || m != prefix {
			if !slices.ContainsFunc(slices.Collect(maps.Keys(all)), func(e string) bool { return strings.HasPrefix(e, prefix+"_") || strings.HasPrefix(e, prefix) }) {
				d.problem("%s: no setting starts with %s", name, m)
			}
			continue
		}
		d.envChecked++
		if !all[m] {
			d.problem("%s: %s is not a setting of the binary", name, m)
		}
	}
	for _, code := range markdownCode.FindAllString(string(b), -1) {
		for l := range strings.Lines(strings.Trim(code, "`")) {
			words := splitShellWords(strings.TrimRight(l, "\n\\"))
			for i, w := range words {
				if path.Base(w) != "hearro" || i+1 == len(words) || !d.isCommandWord(words[i+1]) {
					continue
				}
				argv := []string{w}
				for _, a := range words[i+1:] {
					if a == "|" || a == "&&" || a == "||" || a == ";" {
						break
					}
					argv = append(argv, strings.TrimRight(a, ")"))
				}
				d.command(name, argv)
			}
		}
	}
	for _, u := range redisURLPattern.FindAllString(string(b), -1) {
		if _, err := redisstore.ValidateURL(strings.TrimRight(u, ".,;:")); err != nil {
			d.problem("%s: %v", name, err)
		}
	}
}

// isCommandWord reports whether w continues a hearro command line: a command or a long flag
// (not prose such as "hearro binary", nor a namespace named hearro).
func (d *deploymentCheck) isCommandWord(w string) bool {
	if strings.HasPrefix(w, "--") && len(w) > 2 {
		return true
	}
	for p := range d.commands {
		if first, _, _ := strings.Cut(p, " "); first == w {
			return true
		}
	}
	return false
}
