// Package deploy_test checks the deployment files — Dockerfile,
// .dockerignore, docker-compose.yml, the Kubernetes manifests and the
// runbook — against each other and against what the smsq binaries accept:
// every config they hand a process goes through config.Load.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"

	"github.com/smsq/smsq/cli"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/internal/redistest"
	"github.com/smsq/smsq/sandbox/hub"
)

// httpDrain is how long the worker's HTTP server may take to close after
// its task server has stopped (worker.Run): part of a worker's stop time.
const httpDrain = 5 * time.Second

// binDir is where the image keeps every command.
const binDir = "/usr/local/bin/"

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	return root
}

// ---------------------------------------------------------------- Dockerfile

type dockerInstr struct{ op, rest string }

type dockerStage struct {
	from, name string
	instrs     []dockerInstr
}

type dockerfile struct {
	raw    string
	args   map[string]string // ARGs before the first FROM, with defaults
	stages []dockerStage
}

// parseDockerfile joins continuation lines, drops comments and splits the
// file into build stages.
func parseDockerfile(t *testing.T, p string) dockerfile {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	df := dockerfile{raw: string(b), args: map[string]string{}}
	var cur strings.Builder
	var instrs []dockerInstr
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		op, rest, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		instrs = append(instrs, dockerInstr{strings.ToUpper(op), strings.TrimSpace(rest)})
		cur.Reset()
	}
	require.NoError(t, sc.Err())
	require.Empty(t, strings.TrimSpace(cur.String()), "Dockerfile ends inside a continued line")
	for _, in := range instrs {
		switch {
		case in.op == "FROM":
			f := strings.Fields(in.rest)
			st := dockerStage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			df.stages = append(df.stages, st)
		case len(df.stages) == 0:
			require.Equal(t, "ARG", in.op, "only ARG may come before the first FROM")
			k, v, _ := strings.Cut(in.rest, "=")
			df.args[k] = v
		default:
			s := &df.stages[len(df.stages)-1]
			s.instrs = append(s.instrs, in)
		}
	}
	require.GreaterOrEqual(t, len(df.stages), 2, "the Dockerfile must be multi-stage")
	return df
}

// buildPackages returns the package paths ("./cmd/worker", …) the
// Dockerfile's go build compiles, and that RUN line.
func (df dockerfile) buildPackages(t *testing.T) ([]string, string) {
	t.Helper()
	for _, in := range df.stages[0].instrs {
		if in.op == "RUN" && strings.Contains(in.rest, "go build") {
			_, after, _ := strings.Cut(in.rest, "go build")
			var pkgs []string
			for _, f := range strings.Fields(after) {
				if strings.HasPrefix(f, "./") {
					pkgs = append(pkgs, f)
				}
			}
			require.NotEmpty(t, pkgs, "go build names no ./package")
			return pkgs, in.rest
		}
	}
	t.Fatal("the build stage has no RUN … go build")
	return nil, ""
}

// notShipped lists the commands in cmd/ the image leaves out, and why. A
// new command fails the Dockerfile test until it is built or listed here.
var notShipped = map[string]string{
	"bench": "developer tool: builds cmd/worker from a source tree and drives local processes",
	"proof": "scale-out and failover proofs: start local Redis, sentinels and workers",
	"chaos": "fault-injection run: kills local workers and a private Redis",
}

// imageBinaries is the set of command names the image holds.
func imageBinaries(t *testing.T) map[string]bool {
	t.Helper()
	pkgs, _ := parseDockerfile(t, filepath.Join(repoRoot(t), "Dockerfile")).buildPackages(t)
	out := map[string]bool{}
	for _, p := range pkgs {
		out[path.Base(p)] = true
	}
	return out
}

func TestDockerfileBuildsEveryCommandStaticallyIntoASmallNonRootImage(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	df := parseDockerfile(t, filepath.Join(root, "Dockerfile"))

	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	require.NotNil(t, m, "go.mod has no go directive")
	require.Equal(t, string(m[1]), df.args["GO_VERSION"], "Dockerfile ARG GO_VERSION must match go.mod's go directive")

	build := df.stages[0]
	require.Contains(t, build.from, "golang:${GO_VERSION}", "the builder is the official Go image at go.mod's version")
	var env []string
	for _, in := range build.instrs {
		if in.op == "ENV" {
			env = append(env, strings.Fields(in.rest)...)
		}
	}
	require.Contains(t, env, "CGO_ENABLED=0", "static binaries need CGO_ENABLED=0")
	require.Contains(t, env, "GOTOOLCHAIN=local", "the build must not fetch a Go toolchain")

	pkgs, run := df.buildPackages(t)
	require.Contains(t, run, "-trimpath")
	want := []string{"./deploy/healthcheck"}
	entries, err := os.ReadDir(filepath.Join(root, "cmd"))
	require.NoError(t, err)
	for _, e := range entries {
		if _, dev := notShipped[e.Name()]; e.IsDir() && !dev {
			want = append(want, "./cmd/"+e.Name())
		}
	}
	sort.Strings(want)
	got := slices.Clone(pkgs)
	sort.Strings(got)
	require.Equal(t, want, got, "the image must hold every command in cmd/ (but those in notShipped) plus the healthcheck prober")
	for _, must := range []string{"worker", "scheduler", "enqueue", "sandbox"} {
		require.Contains(t, got, "./cmd/"+must)
	}

	final := df.stages[len(df.stages)-1]
	require.True(t, strings.HasPrefix(final.from, "gcr.io/distroless/static") || final.from == "scratch",
		"final image %q: want distroless/static or scratch", final.from)
	var user string
	copied := false
	for _, in := range final.instrs {
		switch in.op {
		case "USER":
			user = in.rest
		case "COPY":
			if strings.Contains(in.rest, "--from="+build.name) && strings.HasSuffix(in.rest, binDir) {
				copied = true
			}
		}
	}
	require.True(t, copied, "the final stage copies the binaries from %q into %s", build.name, binDir)
	uid, _, _ := strings.Cut(user, ":")
	require.NotContains(t, []string{"", "0", "root"}, uid, "the final image must run as a non-root USER")

	// Nothing but Go modules may be downloaded during the build.
	require.NotRegexp(t, `(?mi)^#\s*syntax\s*=`, df.raw, "a syntax directive downloads a BuildKit frontend")
	for _, st := range df.stages {
		for _, in := range st.instrs {
			require.NotEqual(t, "ADD", in.op, "use COPY: ADD can fetch URLs and unpack archives")
			if in.op == "RUN" {
				require.NotContains(t, in.rest, "--mount", "RUN --mount needs BuildKit; docker-compose 1.x builds without it")
				for _, bad := range []string{"curl ", "wget ", "apt-get", "apk ", "git clone", "go install", "go get"} {
					require.NotContains(t, in.rest, bad, "the build may download Go modules only")
				}
			}
		}
	}
}

// ignoreMatcher applies .dockerignore patterns the way Docker does for
// the patterns this repository uses: paths relative to the context root,
// "*" within a path element, "**" across elements, and a matched
// directory excluding everything below it.
type ignoreMatcher []*regexp.Regexp

func loadDockerignore(t *testing.T, p string) ignoreMatcher {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	var m ignoreMatcher
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		require.False(t, strings.HasPrefix(line, "!"), "exception patterns are not understood by this test: %q", line)
		pat := path.Clean(strings.TrimPrefix(line, "/"))
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(pat); i++ {
			switch c := pat[i]; {
			case strings.HasPrefix(pat[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(pat[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		m = append(m, regexp.MustCompile(re.String()))
	}
	return m
}

// excluded reports whether rel (slash-separated) or a directory above it
// matches a pattern.
func (m ignoreMatcher) excluded(rel string) bool {
	for p := rel; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		for _, re := range m {
			if re.MatchString(p) {
				return true
			}
		}
	}
	return false
}

func TestDockerignoreMatcherFollowsDockerSemantics(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), ".dockerignore")
	require.NoError(t, os.WriteFile(p, []byte("# c\n.git\n**/*_test.go\ndeploy/k8s\n/bin\ndeploy/*.md\n"), 0o600))
	m := loadDockerignore(t, p)
	for rel, want := range map[string]bool{
		".git/HEAD": true, "a/b/c_test.go": true, "c_test.go": true, "deploy/k8s/base/x.yaml": true,
		"bin/worker": true, "deploy/RUNBOOK.md": true, "deploy/healthcheck/main.go": false,
		"cmd/worker/main.go": false, "go.mod": false, "deploy/sub/README.md": false,
	} {
		require.Equal(t, want, m.excluded(rel), rel)
	}
}

// TestImageBuildStepCompilesFromTheDockerBuildContext does what the
// Dockerfile's build stage does, without a Docker engine: it copies the
// files .dockerignore lets into the context and runs the Dockerfile's own
// go build line there, offline. An exclusion that drops a needed file, or
// a command that no longer builds statically, fails here.
func TestImageBuildStepCompilesFromTheDockerBuildContext(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	ignore := loadDockerignore(t, filepath.Join(root, ".dockerignore"))
	for _, needed := range []string{"go.mod", "go.sum", "cmd/worker/main.go", "deploy/healthcheck/main.go"} {
		require.False(t, ignore.excluded(needed), ".dockerignore excludes %s", needed)
	}

	ctxDir := t.TempDir()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if ignore.excluded(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		dst := filepath.Join(ctxDir, filepath.FromSlash(rel))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(p, dst)
	})
	require.NoError(t, err)

	pkgs, _ := parseDockerfile(t, filepath.Join(root, "Dockerfile")).buildPackages(t)
	out := t.TempDir()
	args := append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", out + string(filepath.Separator)}, pkgs...)
	cmd := exec.Command(goTool(t), args...)
	cmd.Dir = ctxDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly", "GOPROXY=off", "GOWORK=off")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build in the docker build context:\n%s", b)
	for _, p := range pkgs {
		st, err := os.Stat(filepath.Join(out, path.Base(p)))
		require.NoError(t, err)
		require.True(t, st.Mode().IsRegular() && st.Mode()&0o111 != 0, "%s is not an executable", p)
	}
}

func goTool(t *testing.T) string {
	t.Helper()
	if goroot := os.Getenv("GOROOT"); goroot != "" {
		if p := filepath.Join(goroot, "bin", "go"); fileExists(p) {
			return p
		}
	}
	p, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to check the image build")
	return p
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// ------------------------------------------------------------ docker-compose

const composeMissing = "docker-compose is not installed: apt-get install docker-compose " +
	"(Debian's package; `docker-compose config` needs no Docker engine)"

// composeConfig is `docker-compose config` of the repository's file: the
// file as docker-compose itself resolves it (anchors, merges, defaults).
var composeConfig = sync.OnceValues(func() (map[string]any, error) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-f", "docker-compose.yml", "config")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &exec.Error{Name: "docker-compose config: " + strings.TrimSpace(stderr.String()), Err: err}
	}
	var doc map[string]any
	if err := yaml.Unmarshal(out, &doc); err != nil {
		return nil, err
	}
	return doc, nil
})

func TestComposeFilePassesDockerComposeConfig(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("docker-compose")
	require.NoError(t, err, composeMissing)
	cmd := exec.Command(bin, "-f", "docker-compose.yml", "config", "-q")
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "docker-compose config -q:\n%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "docker-compose config -q printed warnings")
}

// composeService is the part of a resolved service these tests read.
type composeService struct {
	name        string
	image       string
	command     []string
	environ     []string // KEY=value, sorted
	env         map[string]string
	mounts      map[string]string // container path → host path
	published   map[int]int       // container port → host port
	healthcheck []string
	profiles    []string
	grace       time.Duration
	raw         map[string]any
}

func composeServices(t *testing.T) map[string]composeService {
	t.Helper()
	doc, err := composeConfig()
	if _, ok := err.(*exec.Error); ok && strings.Contains(err.Error(), "executable file not found") {
		require.NoError(t, err, composeMissing)
	}
	require.NoError(t, err)
	raw, ok := doc["services"].(map[string]any)
	require.True(t, ok, "docker-compose config has no services")
	out := map[string]composeService{}
	for name, v := range raw {
		m := v.(map[string]any)
		s := composeService{name: name, raw: m, env: map[string]string{}, mounts: map[string]string{}, published: map[int]int{}}
		s.image, _ = m["image"].(string)
		s.command = strings2(m["command"])
		for k, v := range asMap(m["environment"]) {
			val := ""
			if v != nil {
				val = toString(v)
			}
			s.env[k] = val
			s.environ = append(s.environ, k+"="+val)
		}
		sort.Strings(s.environ)
		for _, v := range asSlice(m["volumes"]) {
			switch v := v.(type) {
			case string: // compose 1.x: "source:target[:mode]"
				parts := strings.Split(v, ":")
				if len(parts) >= 2 {
					s.mounts[parts[1]] = parts[0]
				}
			case map[string]any: // compose 2.x long form
				s.mounts[toString(v["target"])] = toString(v["source"])
			}
		}
		for _, v := range asSlice(m["ports"]) {
			switch v := v.(type) {
			case string: // "127.0.0.1:8080:8080/tcp"
				parts := strings.Split(strings.TrimSuffix(v, "/tcp"), ":")
				if len(parts) >= 2 {
					hostPort, _ := strconv.Atoi(parts[len(parts)-2])
					ctrPort, _ := strconv.Atoi(parts[len(parts)-1])
					s.published[ctrPort] = hostPort
				}
			case map[string]any:
				hostPort, _ := strconv.Atoi(toString(v["published"]))
				ctrPort, _ := strconv.Atoi(toString(v["target"]))
				s.published[ctrPort] = hostPort
			}
		}
		if hc := asMap(m["healthcheck"]); hc != nil {
			s.healthcheck = strings2(hc["test"])
			if hc["disable"] == true {
				s.healthcheck = []string{"NONE"}
			}
		}
		s.profiles = strings2(m["profiles"])
		if g, ok := m["stop_grace_period"].(string); ok {
			d, err := time.ParseDuration(g)
			require.NoError(t, err, "%s: stop_grace_period", name)
			s.grace = d
		}
		out[name] = s
	}
	return out
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asSlice(v any) []any        { s, _ := v.([]any); return s }
func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	}
	b, _ := yaml.Marshal(v)
	return strings.TrimSpace(string(b))
}
func strings2(v any) []string {
	if s, ok := v.(string); ok {
		return strings.Fields(s)
	}
	var out []string
	for _, x := range asSlice(v) {
		out = append(out, toString(x))
	}
	return out
}

// smsqBinary returns the smsq command a service runs ("" for others).
func (s composeService) smsqBinary() string {
	if len(s.command) == 0 || !strings.HasPrefix(s.command[0], binDir) {
		return ""
	}
	return strings.TrimPrefix(s.command[0], binDir)
}

// loadComposeConfig loads a service's settings as the process in the
// container would: the mounted file plus the service's environment.
func loadComposeConfig(t *testing.T, s composeService) (config.Config, string, []string) {
	t.Helper()
	inCtr := s.env["SMSQ_CONFIG"]
	require.NotEmpty(t, inCtr, "%s: SMSQ_CONFIG is not set", s.name)
	host, ok := s.mounts[inCtr]
	require.True(t, ok, "%s: SMSQ_CONFIG %s is not a mounted file", s.name, inCtr)
	require.FileExists(t, host)
	cfg, err := config.Load(host, s.environ)
	require.NoError(t, err, "%s: config.Load(%s + its environment)", s.name, host)
	return cfg, host, s.environ
}

func TestComposeRunsRedisWithAOFTwoWorkersTheSchedulerAndTheSandbox(t *testing.T) {
	t.Parallel()
	services := composeServices(t)
	var workers, schedulers, sandboxes []composeService
	for _, s := range services {
		switch s.smsqBinary() {
		case "worker":
			workers = append(workers, s)
		case "scheduler":
			schedulers = append(schedulers, s)
		case "sandbox":
			sandboxes = append(sandboxes, s)
		}
	}
	require.Len(t, workers, 2, "two worker services")
	require.Len(t, schedulers, 1, "one scheduler service")
	require.Len(t, sandboxes, 1, "one provider sandbox")

	redis, ok := services["redis"]
	require.True(t, ok, "a service named redis")
	require.True(t, strings.HasPrefix(redis.image, "redis:7"), "Redis 7, got %q", redis.image)
	i := slices.Index(redis.command, "--appendonly")
	require.True(t, i >= 0 && i+1 < len(redis.command) && redis.command[i+1] == "yes", "Redis must run with --appendonly yes: %v", redis.command)
	require.Contains(t, redis.mounts, "/data", "the AOF must live on a volume")

	prom, ok := services["prometheus"]
	require.True(t, ok, "an optional prometheus service")
	require.NotEmpty(t, prom.profiles, "prometheus is optional: it belongs to a profile")

	uiPublished := false
	for _, w := range workers {
		cfg, _, _ := loadComposeConfig(t, w)
		_, port, err := net.SplitHostPort(cfg.Worker.HTTPAddr)
		require.NoError(t, err)
		if _, ok := w.published[atoi(t, port)]; ok {
			uiPublished = true
		}
		require.Greater(t, w.grace, cfg.Worker.ShutdownTimeout+httpDrain,
			"%s: stop_grace_period must exceed worker.shutdown_timeout (%s) + the HTTP drain (%s)", w.name, cfg.Worker.ShutdownTimeout, httpDrain)
	}
	require.True(t, uiPublished, "at least one worker publishes its HTTP port (/monitoring/)")
}

func TestComposeSmsqServicesLoadTheirSettingsThroughConfigLoad(t *testing.T) {
	t.Parallel()
	services := composeServices(t)
	var sandbox composeService
	for _, s := range services {
		if s.smsqBinary() == "sandbox" {
			sandbox = s
		}
	}
	require.NotEmpty(t, sandbox.name)
	sandboxAddr := "127.0.0.1:7380"
	if i := slices.Index(sandbox.command, "-addr"); i >= 0 && i+1 < len(sandbox.command) {
		sandboxAddr = sandbox.command[i+1]
	}
	_, sandboxPort, err := net.SplitHostPort(sandboxAddr)
	require.NoError(t, err)
	sandboxRoot := "http://" + sandbox.name + ":" + sandboxPort

	checked := 0
	for _, s := range services {
		if b := s.smsqBinary(); b != "worker" && b != "scheduler" {
			continue
		}
		checked++
		cfg, _, _ := loadComposeConfig(t, s)
		require.False(t, cfg.Redis.Embedded(), "%s: must use the redis service, not the embedded demo Redis", s.name)
		u, err := url.Parse(cfg.Redis.URL)
		require.NoError(t, err)
		require.Contains(t, services, u.Hostname(), "%s: redis.url host must be a compose service", s.name)

		names := cfg.Providers.Names()
		require.Equal(t, config.Known(), names, "%s: every provider is enabled against the sandbox", s.name)
		base := map[string]string{
			"keccel": cfg.Providers.Keccel.BaseURL, "sakari": cfg.Providers.Sakari.BaseURL,
			"conectaline": cfg.Providers.Conectaline.BaseURL, "kaizala": cfg.Providers.Kaizala.BaseURL,
			"kandy": cfg.Providers.Kandy.BaseURL,
		}
		for _, n := range names {
			require.Equal(t, hub.BaseURL(sandboxRoot, n), base[n], "%s: providers.%s.base_url must point at the sandbox service", s.name, n)
		}
	}
	require.Equal(t, 3, checked)
}

func TestComposeEveryServiceHasAHealthCheckTheImageCanRun(t *testing.T) {
	t.Parallel()
	services := composeServices(t)
	bins := imageBinaries(t)
	for _, s := range services {
		require.NotEmpty(t, s.healthcheck, "%s: no healthcheck", s.name)
		require.NotEqual(t, "NONE", s.healthcheck[0], "%s: healthcheck disabled", s.name)
		require.NotEmpty(t, s.raw["restart"], "%s: no restart policy", s.name)
		if s.image != "smsq:local" {
			continue
		}
		// distroless has no shell: CMD-SHELL would never run.
		require.Equal(t, "CMD", s.healthcheck[0], "%s: the smsq image has no shell; use the CMD form", s.name)
		require.True(t, strings.HasPrefix(s.healthcheck[1], binDir) && bins[strings.TrimPrefix(s.healthcheck[1], binDir)],
			"%s: healthcheck runs %s, which the image does not build", s.name, s.healthcheck[1])
		require.True(t, bins[s.smsqBinary()], "%s: command %v is not a binary the image builds", s.name, s.command)
		if strings.HasSuffix(s.healthcheck[1], "/healthcheck") && s.smsqBinary() == "worker" {
			cfg, _, _ := loadComposeConfig(t, s)
			_, port, err := net.SplitHostPort(cfg.Worker.HTTPAddr)
			require.NoError(t, err)
			require.Contains(t, s.healthcheck[2], ":"+port+"/healthz", "%s: health check must hit worker.http_addr's port", s.name)
		}
	}
}

// TestComposeSchedulerHealthCheckTracksRedis runs the scheduler service's
// health check command (enqueue provider status) with that service's
// settings: it passes while Redis answers and fails when it does not.
func TestComposeSchedulerHealthCheckTracksRedis(t *testing.T) {
	t.Parallel()
	var sched composeService
	for _, s := range composeServices(t) {
		if s.smsqBinary() == "scheduler" {
			sched = s
		}
	}
	require.NotEmpty(t, sched.name)
	require.Equal(t, binDir+"enqueue", sched.healthcheck[1], "the scheduler's check runs enqueue")
	_, host, environ := loadComposeConfig(t, sched)

	run := func(redisURL string) (int, string) {
		env := []string{"SMSQ_CONFIG=" + host, "SMSQ_REDIS__URL=" + redisURL}
		for _, kv := range environ {
			if !strings.HasPrefix(kv, "SMSQ_CONFIG=") && !strings.HasPrefix(kv, "SMSQ_REDIS__URL=") {
				env = append(env, kv)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var out, errb strings.Builder
		code := cli.Execute(ctx, sched.healthcheck[2:], &out, &errb, env)
		return code, out.String() + errb.String()
	}

	srv := redistest.Start(t)
	code, out := run(srv.URL())
	require.Equal(t, 0, code, "health check against a live Redis:\n%s", out)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())
	code, out = run("redis://" + dead + "/0")
	require.NotEqual(t, 0, code, "health check must fail when Redis is unreachable:\n%s", out)
}

func TestComposePrometheusScrapesEveryWorker(t *testing.T) {
	t.Parallel()
	services := composeServices(t)
	prom := services["prometheus"]
	host, ok := prom.mounts["/etc/prometheus/prometheus.yml"]
	require.True(t, ok, "prometheus.yml is mounted")
	b, err := os.ReadFile(host)
	require.NoError(t, err)
	var pc struct {
		ScrapeConfigs []struct {
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(b, &pc))
	var targets []string
	for _, sc := range pc.ScrapeConfigs {
		require.Equal(t, "/metrics", sc.MetricsPath)
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	var want []string
	for _, s := range services {
		if s.smsqBinary() == "worker" {
			cfg, _, _ := loadComposeConfig(t, s)
			_, port, err := net.SplitHostPort(cfg.Worker.HTTPAddr)
			require.NoError(t, err)
			want = append(want, s.name+":"+port)
		}
	}
	require.ElementsMatch(t, want, targets)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// ---------------------------------------------------------------- Kubernetes

type k8sObject struct {
	file  string // relative to the repository
	hdr   header
	value any
}

// kustomize is one kustomization directory, read strictly.
type kustomize struct {
	dir  string // relative to the repository
	k    *kustomization
	objs []k8sObject // every object it builds, its bases' included
	// generated maps a generated ConfigMap's name to its input files.
	generated map[string][]string
}

type k8sTree struct {
	root  string
	kusts map[string]*kustomize // by dir
	// roles says why each YAML file under deploy/k8s exists.
	roles map[string]string
}

// k8s reads deploy/k8s: every kustomization, every manifest they name.
func k8s(t *testing.T) *k8sTree {
	t.Helper()
	root := repoRoot(t)
	tree := &k8sTree{root: root, kusts: map[string]*kustomize{}, roles: map[string]string{}}
	var dirs []string
	require.NoError(t, filepath.WalkDir(filepath.Join(root, "deploy", "k8s"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "kustomization.yaml" {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			dirs = append(dirs, filepath.ToSlash(rel))
		}
		return err
	}))
	require.NotEmpty(t, dirs)
	for _, d := range dirs {
		tree.kustomization(t, d)
	}
	return tree
}

func (tr *k8sTree) kustomization(t *testing.T, dir string) *kustomize {
	t.Helper()
	if k, ok := tr.kusts[dir]; ok {
		require.NotNil(t, k, "kustomization cycle through %s", dir)
		return k
	}
	tr.kusts[dir] = nil
	file := dir + "/kustomization.yaml"
	b, err := os.ReadFile(filepath.Join(tr.root, file))
	require.NoError(t, err)
	ks, err := decodeStrict[kustomization](b)
	require.NoError(t, err, "%s", file)
	require.Len(t, ks, 1, file)
	k := ks[0]
	require.Equal(t, "kustomize.config.k8s.io/v1beta1", k.APIVersion, file)
	require.Equal(t, "Kustomization", k.Kind, file)
	tr.roles[file] = "kustomization"
	kz := &kustomize{dir: dir, k: k, generated: map[string][]string{}}

	for _, r := range k.Resources {
		require.False(t, strings.Contains(r, "://"), "%s: remote resource %q", file, r)
		rel := path.Clean(dir + "/" + r)
		st, err := os.Stat(filepath.Join(tr.root, rel))
		require.NoError(t, err, "%s: resource %q does not exist", file, r)
		if st.IsDir() {
			require.FileExists(t, filepath.Join(tr.root, rel, "kustomization.yaml"), "%s: resource dir %q has no kustomization.yaml", file, r)
			base := tr.kustomization(t, rel)
			kz.objs = append(kz.objs, base.objs...)
			for n, f := range base.generated {
				kz.generated[n] = f
			}
			continue
		}
		tr.roles[rel] = "resource"
		kz.objs = append(kz.objs, readManifests(t, tr.root, rel)...)
	}
	for _, g := range k.ConfigMapGenerator {
		require.NotEmpty(t, g.Name, "%s: configMapGenerator without a name", file)
		var files []string
		for _, f := range g.Files {
			_, src, found := strings.Cut(f, "=") // "key=path" or "path"
			if !found {
				src = f
			}
			rel := path.Clean(dir + "/" + src)
			require.FileExists(t, filepath.Join(tr.root, rel), "%s: generator file %q", file, f)
			tr.roles[rel] = "generator input"
			files = append(files, rel)
		}
		kz.generated[g.Name] = files
	}
	for _, p := range k.Patches {
		require.NotEmpty(t, p.Path, "%s: inline patches are not checked; use a patch file", file)
		rel := path.Clean(dir + "/" + p.Path)
		tr.roles[rel] = "patch"
		patches := readManifests(t, tr.root, rel)
		require.Len(t, patches, 1, rel)
		patch := patches[0]
		kind, name := patch.hdr.Kind, patch.hdr.Metadata.Name
		if p.Target != nil {
			kind, name = p.Target.Kind, p.Target.Name
			require.Equal(t, p.Target.Kind, patch.hdr.Kind, "%s: patch kind and target kind differ", rel)
		}
		target := findObject(kz.objs, kind, name)
		require.NotNil(t, target, "%s: patch target %s/%s is not among the resources", rel, kind, name)
		if pd, ok := patch.value.(*deployment); ok {
			td := target.value.(*deployment)
			for _, c := range pd.Spec.Template.Spec.Containers {
				require.NotNil(t, findContainer(td, c.Name), "%s: patches container %q, which %s has not", rel, c.Name, name)
			}
		}
	}
	for _, img := range k.Images {
		used := false
		for _, o := range kz.objs {
			if d, ok := o.value.(*deployment); ok {
				for _, c := range d.Spec.Template.Spec.Containers {
					used = used || imageName(c.Image) == img.Name
				}
			}
		}
		require.True(t, used, "%s: images[%s] matches no container image", file, img.Name)
	}
	tr.kusts[dir] = kz
	return kz
}

func imageName(image string) string {
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i]
	}
	return image
}

// readManifests parses every document of a manifest file: required
// fields, the stable apiVersion for its kind, then a strict decode.
func readManifests(t *testing.T, root, rel string) []k8sObject {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	require.NoError(t, err)
	docs, err := splitDocs(b)
	require.NoError(t, err, rel)
	require.NotEmpty(t, docs, "%s: no YAML document", rel)
	var out []k8sObject
	for i, doc := range docs {
		var h header
		require.NoError(t, yaml.Unmarshal(doc, &h), "%s #%d", rel, i)
		require.NotEmpty(t, h.APIVersion, "%s #%d: apiVersion", rel, i)
		require.NotEmpty(t, h.Kind, "%s #%d: kind", rel, i)
		require.NotEmpty(t, h.Metadata.Name, "%s #%d: metadata.name", rel, i)
		require.Equal(t, apiVersions[h.Kind], h.APIVersion, "%s: %s/%s apiVersion", rel, h.Kind, h.Metadata.Name)
		v, err := decodeAs(h.Kind, doc)
		require.NoError(t, err, "%s: %s/%s", rel, h.Kind, h.Metadata.Name)
		out = append(out, k8sObject{file: rel, hdr: h, value: v})
	}
	return out
}

func findObject(objs []k8sObject, kind, name string) *k8sObject {
	for i := range objs {
		if objs[i].hdr.Kind == kind && objs[i].hdr.Metadata.Name == name {
			return &objs[i]
		}
	}
	return nil
}

func findContainer(d *deployment, name string) *container {
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == name {
			return &d.Spec.Template.Spec.Containers[i]
		}
	}
	return nil
}

func (tr *k8sTree) base(t *testing.T) *kustomize {
	t.Helper()
	k := tr.kusts["deploy/k8s/base"]
	require.NotNil(t, k, "deploy/k8s/base/kustomization.yaml")
	return k
}

func deploymentsOf(k *kustomize) []*deployment {
	var out []*deployment
	for _, o := range k.objs {
		if d, ok := o.value.(*deployment); ok {
			out = append(out, d)
		}
	}
	return out
}

// binaryOf names the smsq command a container runs.
func binaryOf(c container) string {
	if len(c.Command) == 0 {
		return ""
	}
	return strings.TrimPrefix(c.Command[0], binDir)
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestEveryKubernetesYAMLFileIsAnUsedManifestOrTemplate(t *testing.T) {
	t.Parallel()
	tr := k8s(t)
	require.NoError(t, filepath.WalkDir(filepath.Join(tr.root, "deploy", "k8s"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (!strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml")) {
			return err
		}
		rel, _ := filepath.Rel(tr.root, p)
		rel = filepath.ToSlash(rel)
		if strings.HasSuffix(rel, ".example.yaml") {
			readManifests(t, tr.root, rel) // templates are checked like the rest
			return nil
		}
		require.NotEmpty(t, tr.roles[rel], "%s is neither a kustomization, a resource, a patch nor a generator input of one", rel)
		return nil
	}))
}

func TestKubernetesDeploymentsAreCompleteAndSafe(t *testing.T) {
	t.Parallel()
	tr := k8s(t)
	bins := imageBinaries(t)
	deps := deploymentsOf(tr.base(t))
	require.Len(t, deps, 2, "a worker and a scheduler Deployment")
	for _, d := range deps {
		name := d.Metadata.Name
		require.Empty(t, d.Metadata.Namespace, "%s: the base leaves the namespace to overlays", name)
		require.NotNil(t, d.Spec.Replicas, "%s: replicas", name)
		require.True(t, subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels),
			"%s: selector %v must match the template labels %v", name, d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
		ps := d.Spec.Template.Spec
		require.NotNil(t, ps.EnableServiceLinks, "%s: enableServiceLinks must be set to false", name)
		require.False(t, *ps.EnableServiceLinks, "%s: service links inject SMSQ_… variables smsq rejects", name)
		require.NotNil(t, ps.SecurityContext, "%s: pod securityContext", name)
		require.True(t, ps.SecurityContext.RunAsNonRoot != nil && *ps.SecurityContext.RunAsNonRoot, "%s: runAsNonRoot", name)
		require.NotNil(t, ps.TerminationGracePeriodSeconds, "%s: terminationGracePeriodSeconds", name)
		require.NotEmpty(t, ps.Containers, "%s: containers", name)
		for _, c := range ps.Containers {
			where := name + "/" + c.Name
			require.NotEmpty(t, c.Name, where)
			require.NotEmpty(t, c.Image, "%s: image", where)
			require.True(t, bins[binaryOf(c)], "%s: command %v is not a binary the image builds", where, c.Command)
			require.NotNil(t, c.Resources, "%s: resources", where)
			for _, r := range []string{"cpu", "memory"} {
				require.NotEmpty(t, c.Resources.Requests[r], "%s: resources.requests.%s", where, r)
			}
			require.NotEmpty(t, c.Resources.Limits["memory"], "%s: resources.limits.memory", where)
			require.NotNil(t, c.SecurityContext, "%s: securityContext", where)
			require.True(t, c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation, "%s: allowPrivilegeEscalation: false", where)
			ports := map[string]bool{}
			for _, p := range c.Ports {
				ports[p.Name] = true
				ports[strconv.Itoa(p.ContainerPort)] = true
			}
			if len(c.Ports) == 0 {
				continue
			}
			// A container that serves HTTP is probed on it.
			for kind, p := range map[string]*probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
				require.NotNil(t, p, "%s: %s", where, kind)
				require.NotNil(t, p.HTTPGet, "%s: %s.httpGet", where, kind)
				require.True(t, ports[p.HTTPGet.Port.String()], "%s: %s port %s is not a container port", where, kind, p.HTTPGet.Port)
			}
			require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path, "%s: liveness must not depend on Redis", where)
			require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path, where)
		}
	}
}

// TestKubernetesConfigLoadsAndFitsTheDeployments loads the generated
// ConfigMap's smsq.yaml with each Deployment's environment (its literal
// env plus the Secret template's keys, as envFrom would) through
// config.Load, and checks the Deployments against the result.
func TestKubernetesConfigLoadsAndFitsTheDeployments(t *testing.T) {
	t.Parallel()
	tr := k8s(t)
	base := tr.base(t)
	tmpl := readManifests(t, tr.root, "deploy/k8s/base/secret.example.yaml")
	require.Len(t, tmpl, 1)
	sec := tmpl[0].value.(*secret)
	require.NotEmpty(t, sec.StringData)
	for k, v := range sec.StringData {
		require.True(t, strings.HasPrefix(k, config.EnvPrefix), "secret key %s: envFrom keys must be SMSQ_ settings", k)
		require.Contains(t, v, "REPLACE_ME", "secret template %s must hold a placeholder, not a value", k)
	}

	var workers, schedulers int
	for _, d := range deploymentsOf(base) {
		ps := d.Spec.Template.Spec
		c := ps.Containers[0]
		where := d.Metadata.Name + "/" + c.Name

		environ := []string{}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				environ = append(environ, e.Name+"="+e.Value)
			}
			if e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil {
				require.NotEmpty(t, c.Resources.Limits[strings.TrimPrefix(e.ValueFrom.ResourceFieldRef.Resource, "limits.")],
					"%s: %s refers to an unset %s", where, e.Name, e.ValueFrom.ResourceFieldRef.Resource)
			}
		}
		secretRef := false
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				require.Equal(t, sec.Metadata.Name, ef.SecretRef.Name, "%s: envFrom names the template's Secret", where)
				require.Empty(t, ef.Prefix, where)
				secretRef = true
				for k, v := range sec.StringData {
					environ = append(environ, k+"="+v)
				}
			}
		}
		require.True(t, secretRef, "%s: credentials come from the Secret through envFrom", where)

		// SMSQ_CONFIG must be the generated ConfigMap's file where it is mounted.
		var cfgPath string
		for _, kv := range environ {
			if v, ok := strings.CutPrefix(kv, "SMSQ_CONFIG="); ok {
				cfgPath = v
			}
		}
		require.NotEmpty(t, cfgPath, "%s: SMSQ_CONFIG", where)
		var hostFile string
		for _, m := range c.VolumeMounts {
			if path.Dir(cfgPath) != m.MountPath {
				continue
			}
			require.True(t, m.ReadOnly, "%s: config mount read-only", where)
			for _, v := range ps.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil {
					for _, f := range base.generated[v.ConfigMap.Name] {
						if path.Base(f) == path.Base(cfgPath) {
							hostFile = filepath.Join(tr.root, f)
						}
					}
				}
			}
		}
		require.NotEmpty(t, hostFile, "%s: SMSQ_CONFIG %s is not a file of a generated ConfigMap mounted there", where, cfgPath)

		cfg, err := config.Load(hostFile, environ)
		require.NoError(t, err, "%s: config.Load(ConfigMap smsq.yaml + env + Secret template)", where)
		require.False(t, cfg.Redis.Embedded(), "%s: must use a real Redis, never the embedded demo", where)

		switch binaryOf(c) {
		case "worker":
			workers++
			grace := time.Duration(*ps.TerminationGracePeriodSeconds) * time.Second
			require.Greater(t, grace, cfg.Worker.ShutdownTimeout+httpDrain,
				"%s: terminationGracePeriodSeconds (%s) must exceed worker.shutdown_timeout (%s) + the HTTP drain (%s)",
				where, grace, cfg.Worker.ShutdownTimeout, httpDrain)
			host, port, err := net.SplitHostPort(cfg.Worker.HTTPAddr)
			require.NoError(t, err)
			require.NotContains(t, []string{"127.0.0.1", "localhost", "::1"}, host, "%s: worker.http_addr must listen beyond loopback for probes", where)
			require.Len(t, c.Ports, 1, where)
			require.Equal(t, atoi(t, port), c.Ports[0].ContainerPort, "%s: containerPort is worker.http_addr's port", where)
		case "scheduler":
			schedulers++
			require.GreaterOrEqual(t, *d.Spec.Replicas, 2, "%s: two schedulers (a lease elects the active one)", where)
		}
	}
	require.Equal(t, 1, workers)
	require.Equal(t, 1, schedulers)
}

// TestServiceLinksWouldBreakConfigLoading shows why every pod sets
// enableServiceLinks: false: the variables Kubernetes injects for a
// Service named smsq-worker look like settings, and unknown settings stop
// the process.
func TestServiceLinksWouldBreakConfigLoading(t *testing.T) {
	t.Parallel()
	_, err := config.Load("", []string{"SMSQ_WORKER_SERVICE_HOST=10.0.0.7", "SMSQ_WORKER_PORT=tcp://10.0.0.7:8080"})
	require.ErrorContains(t, err, "worker_")
}

func TestKubernetesServicesBudgetsAndAutoscalerTargetTheDeployments(t *testing.T) {
	t.Parallel()
	tr := k8s(t)
	var all []k8sObject
	for _, k := range tr.kusts {
		all = append(all, k.objs...)
	}
	deps := map[string]*deployment{}
	for _, d := range deploymentsOf(tr.base(t)) {
		deps[d.Metadata.Name] = d
	}
	matching := func(sel map[string]string) []*deployment {
		var out []*deployment
		for _, d := range deps {
			if subset(sel, d.Spec.Template.Metadata.Labels) {
				out = append(out, d)
			}
		}
		return out
	}
	pdbs, services, hpas := 0, 0, 0
	for _, o := range all {
		switch v := o.value.(type) {
		case *podDisruptionBudget:
			pdbs++
			m := matching(v.Spec.Selector.MatchLabels)
			require.Len(t, m, 1, "%s: PDB selector must match exactly one Deployment's pods", o.file)
			require.True(t, (v.Spec.MinAvailable == nil) != (v.Spec.MaxUnavailable == nil), "%s: set one of minAvailable, maxUnavailable", o.file)
			if v.Spec.MinAvailable != nil && !v.Spec.MinAvailable.IsText {
				require.Less(t, v.Spec.MinAvailable.Int, *m[0].Spec.Replicas, "%s: minAvailable ≥ replicas blocks every node drain", o.file)
			}
			if v.Spec.MaxUnavailable != nil && !v.Spec.MaxUnavailable.IsText {
				require.Positive(t, v.Spec.MaxUnavailable.Int, "%s: maxUnavailable 0 blocks every node drain", o.file)
			}
		case *service:
			services++
			m := matching(v.Spec.Selector)
			require.Len(t, m, 1, "%s: Service selector must match exactly one Deployment's pods", o.file)
			c := m[0].Spec.Template.Spec.Containers[0]
			for _, p := range v.Spec.Ports {
				found := false
				for _, cp := range c.Ports {
					found = found || cp.Name == p.TargetPort.String() || strconv.Itoa(cp.ContainerPort) == p.TargetPort.String()
				}
				require.True(t, found, "%s: targetPort %s is not a container port", o.file, p.TargetPort)
			}
		case *horizontalPodAutoscaler:
			hpas++
			ref := v.Spec.ScaleTargetRef
			require.Equal(t, "Deployment", ref.Kind, o.file)
			require.Contains(t, deps, ref.Name, "%s: scales a Deployment of the base", o.file)
			require.NotNil(t, v.Spec.MinReplicas, o.file)
			require.LessOrEqual(t, *v.Spec.MinReplicas, v.Spec.MaxReplicas, o.file)
			require.NotEmpty(t, v.Spec.Metrics, o.file)
			for _, m := range v.Spec.Metrics {
				require.Equal(t, "External", m.Type, "%s: queue latency is an external metric", o.file)
				require.NotNil(t, m.External, o.file)
				require.NotEmpty(t, m.External.Metric.Name, o.file)
			}
		}
	}
	require.Positive(t, pdbs, "a PodDisruptionBudget")
	require.Positive(t, services, "a Service for the worker HTTP port")
	require.Positive(t, hpas, "the optional autoscaler")
}

func TestKubernetesExampleOverlayPinsNamespaceImageAndSizes(t *testing.T) {
	t.Parallel()
	tr := k8s(t)
	ov := tr.kusts["deploy/k8s/overlays/example"]
	require.NotNil(t, ov, "deploy/k8s/overlays/example")
	require.NotEmpty(t, ov.k.Namespace, "the overlay sets a namespace")
	require.NotNil(t, findObject(ov.objs, "Namespace", ov.k.Namespace), "the overlay creates its namespace")
	require.Contains(t, ov.k.Resources, "../../base")
	require.Len(t, ov.k.Images, 1)
	require.NotEmpty(t, ov.k.Images[0].NewTag, "the overlay pins an image tag")
	require.NotEqual(t, "latest", ov.k.Images[0].NewTag)
	require.NotEmpty(t, ov.k.Patches, "the overlay resizes the workers")
}

// ------------------------------------------------------------------ runbook

// TestRunbookNamesRealFilesAndCommands checks that every deploy/ path the
// runbook mentions exists and every `enqueue …` command it shows is one
// the CLI has.
func TestRunbookNamesRealFilesAndCommands(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "deploy", "RUNBOOK.md"))
	require.NoError(t, err)
	text := string(b)

	for _, m := range regexp.MustCompile(`(?:^|[\s(\x60])((?:deploy|scripts|cmd)/[A-Za-z0-9_./-]*[A-Za-z0-9_])`).FindAllStringSubmatch(text, -1) {
		// "deploy/smsq-worker" is kubectl's kind/name, not a path: only
		// names with a second directory or a file extension are paths.
		if strings.Count(m[1], "/") < 2 && !strings.Contains(m[1], ".") {
			continue
		}
		_, err := os.Stat(filepath.Join(root, filepath.FromSlash(m[1])))
		require.NoError(t, err, "RUNBOOK.md names %s", m[1])
	}
	cmds := regexp.MustCompile(`\benqueue((?: [a-z][a-z-]*)+)`).FindAllStringSubmatch(text, -1)
	require.NotEmpty(t, cmds, "the runbook shows enqueue commands")
	for _, m := range cmds {
		words := strings.Fields(m[1])
		rootCmd := cli.NewRoot(io.Discard, io.Discard, nil)
		c, rest, err := rootCmd.Find(words)
		require.NoError(t, err, "RUNBOOK.md: enqueue%s", m[1])
		require.NotEqual(t, rootCmd, c, "RUNBOOK.md: enqueue%s is not a command", m[1])
		// Words left over on a command that has subcommands name one it
		// does not have.
		require.False(t, c.HasSubCommands() && len(rest) > 0, "RUNBOOK.md: enqueue%s: %q has no subcommand %q", m[1], c.CommandPath(), rest)
	}
}
