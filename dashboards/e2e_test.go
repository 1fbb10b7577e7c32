package dashboards

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/internal/kubetest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
	"github.com/mirrord-exporter/mirrord-exporter/internal/prometheustest"
)

// substitutions stand for Grafana's variables: "All" of every template
// variable, and ranges that span several of the test's 1s scrapes. The
// subquery step $__interval is 1s because the test holds only seconds of
// data: a 15s step could fall before the first scrape.
var substitutions = strings.NewReplacer(
	"$__rate_interval", "1m",
	"$__range", "1h",
	"$__interval", "1s",
	"$namespace", ".*", "$target_type", ".*", "$target", ".*", "$user", ".*",
	"$job", ".*", "$instance", ".*", "$cluster", ".*",
)

// TestEndToEnd runs the exporter on a generated operator log, a second one
// following a generated operator pod's log through a fake Kubernetes API
// server, and a real Prometheus scraping both, then every dashboard query
// and variable through Prometheus' HTTP API: each must parse and return
// data.
func TestEndToEnd(t *testing.T) {
	promBin := prometheustest.Tool(t, "prometheus")
	// Hang guard: the processes are killed when the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	dir := t.TempDir()

	exporterBin := filepath.Join(dir, "exporter")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", exporterBin, "../cmd/exporter").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The log ends now, so that sessions still open are active and not yet
	// expired by --session.max-age.
	var log bytes.Buffer
	_, err := loggen.Generate(&log, loggen.Config{
		Seed: 1, Sessions: 300, NoiseRatio: 0.6, Nasty: true,
		Start: time.Now().Add(-6 * time.Hour), Span: 6 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Counters appear with the backlog's totals in the first scrape, and
	// increase() sees only growth between scrapes: hold back the last third
	// of the log and append it once Prometheus has scraped the first part.
	all := log.Bytes()
	cut := bytes.IndexByte(all[len(all)*2/3:], '\n') + len(all)*2/3 + 1
	logPath := filepath.Join(dir, "operator.log")
	if err := os.WriteFile(logPath, all[:cut], 0o644); err != nil {
		t.Fatal(err)
	}

	exporterAddr := freeAddr(t)
	start(ctx, t, "exporter", exporterBin, "--input.path="+logPath, "--web.listen-address="+exporterAddr,
		"--state.file="+filepath.Join(dir, "exporter.state"), "--state.save-interval=1s")
	waitFor(ctx, t, "exporter ready", func() bool { return httpOK("http://" + exporterAddr + "/-/ready") })

	kubeAddr := startKubernetesExporter(ctx, t, exporterBin)

	// Both instances in one job, as two replicas would be: the dashboards'
	// $job and $instance take "All". Only the second has a cluster label, as
	// relabeling would add: $cluster lists it, and its "All" keeps the
	// first, which has none.
	promAddr := freeAddr(t)
	promURL := "http://" + promAddr
	rules := rulesForTest(t, dir)
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%s]
scrape_configs:
  - job_name: mirrord-exporter
    static_configs: [{targets: ["%s"]}, {targets: ["%s"], labels: {cluster: eu-1}}]
`, strings.Join(rules, ", "), exporterAddr, kubeAddr)
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	start(ctx, t, "prometheus", promBin, "--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+promAddr)
	waitFor(ctx, t, "prometheus ready", func() bool { return httpOK(promURL + "/-/ready") })
	waitScrapes(ctx, t, promURL, 2, time.Now().Add(3*time.Second))

	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(all[cut:]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	waitFor(ctx, t, "exporter to read the appended log", func() bool {
		return exposition(t, "http://"+exporterAddr+"/metrics")["mirrord_exporter_log_bytes_total"] >= float64(len(all))
	})
	// A few scrapes and rule evaluations after the growth.
	waitScrapes(ctx, t, promURL, 2, time.Now().Add(4*time.Second))

	exported := exposition(t, "http://"+exporterAddr+"/metrics")
	for name, v := range exposition(t, "http://"+kubeAddr+"/metrics") {
		exported[name] += v
	}
	recorded := recordedNames(t)
	for _, name := range sortedFiles(t) {
		var d Dashboard
		for _, x := range All() {
			if x.File == name {
				d = x
			}
		}
		t.Run(d.UID, func(t *testing.T) {
			for _, v := range d.Vars {
				checkVariable(ctx, t, promURL, v)
			}
			for _, p := range d.Panels {
				for _, q := range p.Queries {
					checkNames(t, p.Title, q.Expr, exported, recorded)
					expr := substitutions.Replace(q.Expr)
					if n := query(ctx, t, promURL, expr); n == 0 {
						t.Errorf("panel %q: no data from %s", p.Title, expr)
					}
					// "or vector(0)" shows 0 rather than "No data"; the
					// query before it must still find data here.
					if base, ok := strings.CutSuffix(expr, " or vector(0)"); ok && query(ctx, t, promURL, base) == 0 {
						t.Errorf("panel %q: no data from %s", p.Title, base)
					}
				}
			}
		})
	}
	for sel, want := range map[string]int{`{cluster=~".*"}`: 2, `{cluster=~"eu-1"}`: 1} {
		if n := query(ctx, t, promURL, "mirrord_exporter_build_info"+sel); n != want {
			t.Errorf("%d exporters match %s, want %d", n, sel, want)
		}
	}
	for _, path := range []string{"../deploy/prometheus/alerts.yml", "../deploy/prometheus/recording-rules.yml"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		checkNames(t, path, string(b), exported, recorded)
	}
}

// startKubernetesExporter runs a second exporter with --kubernetes against
// a fake API server (package kubetest) serving one operator pod, whose log
// is generated, and gives its listen address once it has read all of the
// log. The stream status is not trivial: the first log request is refused
// with 403 and the stream ends once in the middle of the log, so that
// reconnects and API errors have samples other than 0.
func startKubernetesExporter(ctx context.Context, t *testing.T, exporterBin string) string {
	t.Helper()
	var log bytes.Buffer
	truth, err := loggen.Generate(&log, loggen.Config{
		Seed: 2, Sessions: 60, Wrapper: loggen.Raw, NoiseRatio: 0.6, Nasty: true,
		Start: time.Now().Add(-time.Hour), Span: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	if len(texts) != truth.Lines {
		t.Fatalf("generated %d lines, truth says %d", len(texts), truth.Lines)
	}
	// The runtime's timestamps, a millisecond apart: the log was written
	// over the last minutes.
	stamp := time.Now().Add(-time.Duration(len(texts)) * time.Millisecond).Truncate(time.Second)
	lines := make([]kubetest.Line, len(texts))
	for i, text := range texts {
		lines[i] = kubetest.Line{Time: stamp.Add(time.Duration(i) * time.Millisecond), Text: text}
	}

	// Closed after the exporter is killed (cleanups run last first).
	kube := kubetest.Start(t, kubetest.Config{})
	pod := kube.AddPod("mirrord-operator-7d9f-0", kubetest.PodOptions{
		ForbidLogs: 1,
		Cuts:       []kubetest.Cut{{At: len(lines) / 2, Clean: true}},
	})
	kube.Append(pod, lines...)

	addr := freeAddr(t)
	start(ctx, t, "kubernetes exporter", exporterBin, "--kubernetes",
		"--kubernetes.kubeconfig="+kube.Kubeconfig(), "--web.listen-address="+addr)
	waitFor(ctx, t, "kubernetes exporter ready", func() bool { return httpOK("http://" + addr + "/-/ready") })
	waitFor(ctx, t, "kubernetes exporter to read the pod's log", func() bool {
		m := exposition(t, "http://"+addr+"/metrics")
		return m["mirrord_exporter_log_lines_total"] >= float64(len(lines)) &&
			m["mirrord_exporter_kubernetes_streams_open"] == 1
	})
	m := exposition(t, "http://"+addr+"/metrics")
	if m["mirrord_exporter_kubernetes_reconnects_total"] < 2 || m["mirrord_exporter_kubernetes_api_errors_total"] < 1 {
		t.Errorf("kubernetes exporter: %v reconnects and %v API errors, want at least 2 and 1 (a 403 and a stream end)",
			m["mirrord_exporter_kubernetes_reconnects_total"], m["mirrord_exporter_kubernetes_api_errors_total"])
	}
	return addr
}

// sortedFiles lists the dashboards on disk, which TestGenerated ties to All.
func sortedFiles(t *testing.T) []string {
	names, err := filepath.Glob("*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	return names
}

var (
	nameRe     = regexp.MustCompile(`\b(?:mirrord|go|process)_[a-zA-Z0-9_]+\b|\b[a-z_]+:mirrord_[a-z0-9_]+:[a-z0-9_]+\b`)
	recordRe   = regexp.MustCompile(`(?m)^\s*- record: (\S+)`)
	intervalRe = regexp.MustCompile(`(?m)^(\s*interval:) .*$`)
)

// checkNames fails on any metric named in text that neither the exporter
// exports nor a recording rule records.
func checkNames(t *testing.T, where, text string, exported map[string]float64, recorded map[string]bool) {
	t.Helper()
	for _, name := range nameRe.FindAllString(text, -1) {
		if _, ok := exported[name]; !ok && !recorded[name] {
			t.Errorf("%s: names %s, which the exporter does not export", where, name)
		}
	}
}

func recordedNames(t *testing.T) map[string]bool {
	b, err := os.ReadFile("../deploy/prometheus/recording-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range recordRe.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = true
	}
	return out
}

// rulesForTest copies the rule files with their groups evaluated every
// second: a recording rule evaluated once a minute would make the test wait.
func rulesForTest(t *testing.T, dir string) []string {
	paths, err := filepath.Glob("../deploy/prometheus/*.yml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, "rules-"+filepath.Base(p))
		if err := os.WriteFile(dst, intervalRe.ReplaceAll(b, []byte("$1 1s")), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, strconv.Quote(dst))
	}
	return out
}

var labelValuesRe = regexp.MustCompile(`^label_values\((.*), (\w+)\)$`)

// checkVariable runs a label_values variable as Grafana does, through the
// label values API, and requires values.
func checkVariable(ctx context.Context, t *testing.T, promURL string, v Var) {
	m := labelValuesRe.FindStringSubmatch(v.Query)
	if m == nil {
		t.Errorf("variable %s: not a label_values(selector, label) query: %s", v.Name, v.Query)
		return
	}
	var values []string
	api(ctx, t, promURL+"/api/v1/label/"+m[2]+"/values?"+url.Values{"match[]": {substitutions.Replace(m[1])}}.Encode(), &values)
	if len(values) == 0 {
		t.Errorf("variable %s: no values from %s", v.Name, v.Query)
	}
}

// query runs an instant query and gives the number of series or 1 for a
// scalar; a parse or execution error fails the test.
func query(ctx context.Context, t *testing.T, promURL, expr string) int {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	api(ctx, t, promURL+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), &data)
	if data.ResultType == "scalar" || data.ResultType == "string" {
		return 1
	}
	var series []json.RawMessage
	if err := json.Unmarshal(data.Result, &series); err != nil {
		t.Errorf("%s: %v", expr, err)
	}
	return len(series)
}

// api does a GET on the Prometheus HTTP API and decodes its data.
func api(ctx context.Context, t *testing.T, u string, data any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status, Error string
		Data          json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	if body.Status != "success" {
		t.Errorf("%s: %s", u, body.Error)
		return
	}
	if err := json.Unmarshal(body.Data, data); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}

// waitScrapes waits until Prometheus holds, of each of the exporters, a
// successful scrape taken after the given time. The timestamps are those of
// the up samples: timestamp() of an expression such as up == 1 would give
// the evaluation time instead.
func waitScrapes(ctx context.Context, t *testing.T, promURL string, targets int, after time.Time) {
	t.Helper()
	const expr = `timestamp(up{job="mirrord-exporter"}) and (up{job="mirrord-exporter"} == 1)`
	waitFor(ctx, t, "scrapes", func() bool {
		var data struct {
			Result []struct{ Value [2]any }
		}
		api(ctx, t, promURL+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), &data)
		if len(data.Result) < targets {
			return false
		}
		for _, r := range data.Result {
			s, _ := r.Value[1].(string)
			ts, _ := strconv.ParseFloat(s, 64)
			if ts < float64(after.UnixMilli())/1000 {
				return false
			}
		}
		return true
	})
}

// exposition reads a /metrics page: each metric name with the sum of its
// samples.
func exposition(t *testing.T, u string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		out[name] += v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// start runs a process until the test ends; its output goes to the test log
// on failure.
func start(ctx context.Context, t *testing.T, name, bin string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, lastBytes(out.Bytes(), 4000))
		}
	})
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func httpOK(u string) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitFor polls cond until it holds or the test's deadline passes.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freeAddr gives a loopback address with a port free at the time of asking.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
