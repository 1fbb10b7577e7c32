package dashboards

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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
// data: a 15s step could fall before the first scrape; a bar's increase
// over [$__interval] spans 5s, several scrapes.
var substitutions = strings.NewReplacer(
	"[$__interval]", "[5s]",
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

	exporterBin := buildExporter(ctx, t, dir)

	// The log ends now, so that sessions still open are active and not yet
	// expired by --session.max-age.
	var log bytes.Buffer
	truth, err := loggen.Generate(&log, loggen.Config{
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
	// A second Prometheus with native histograms on scrapes the file
	// exporter in protobuf, and keeps only the native buckets of the
	// duration histogram: the duration panels must work on it too.
	nativeURL := startNativePrometheus(ctx, t, promBin, dir, exporterAddr)

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
	// A user whose only session starts after Prometheus' first scrape: the
	// series appears at 1, which increase() alone does not count.
	if _, err := f.Write(newcomerLog); err != nil {
		t.Fatal(err)
	}
	f.Close()
	waitFor(ctx, t, "exporter to read the appended log", func() bool {
		return exposition(t, "http://"+exporterAddr+"/metrics")["mirrord_exporter_log_bytes_total"] >= float64(len(all)+len(newcomerLog))
	})
	// A few scrapes and rule evaluations after the growth.
	waitScrapes(ctx, t, promURL, 2, time.Now().Add(4*time.Second))
	waitScrapes(ctx, t, nativeURL, 1, time.Now().Add(-time.Second))

	exported := exposition(t, "http://"+exporterAddr+"/metrics")
	for name, v := range exposition(t, "http://"+kubeAddr+"/metrics") {
		exported[name] += v
	}
	recorded := recordedNames(t)
	// The generated log has users and sessions: the seat and peak gauges
	// must have values, so that their panels are checked on something.
	for _, name := range []string{"mirrord_clients_seen", "mirrord_users_seen", "mirrord_sessions_concurrent_peak", "mirrord_users_concurrent_peak"} {
		if exported[name] == 0 {
			t.Errorf("%s is not exported, or only 0", name)
		}
	}
	var costs []cost
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
					// Both ways Grafana could run it: every query must
					// parse and run as either.
					n, instant := queryStats(ctx, t, promURL, expr, false)
					_, ranged := queryStats(ctx, t, promURL, expr, true)
					costs = append(costs, newCost(d.UID, p, instant, ranged))
					if n == 0 {
						t.Errorf("panel %q: no data from %s", p.Title, expr)
					}
					// zeroIfExporter shows 0 rather than "No data"; the
					// query before it must still find data here.
					if base, ok := strings.CutSuffix(expr, substitutions.Replace(zeroIfExporter)); ok && query(ctx, t, promURL, base) == 0 {
						t.Errorf("panel %q: no data from %s", p.Title, base)
					}
				}
			}
		})
	}
	logCosts(t, costs)
	checkValues(ctx, t, promURL, truth)
	checkCLIVersions(ctx, t, promURL, truth)
	checkNativeDurations(ctx, t, nativeURL)
	checkSeen(ctx, t, promURL, truth)
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
	// --label=port: the ports-by-port-number panel needs it.
	start(ctx, t, "kubernetes exporter", exporterBin, "--kubernetes", "--label=port",
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
		// A native histogram is named without a suffix; the text format
		// has its _count.
		_, histogram := exported[name+"_count"]
		if _, ok := exported[name]; !ok && !recorded[name] && !histogram {
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

// newcomer has one session, in the part of the log appended after
// Prometheus' first scrapes.
const newcomer = "e2e-newcomer@corp.example"

var newcomerLog = []byte(`{"fields":{"message":"Session Start","client_user":"` + newcomer + `","client_name":"Newcomer","target_namespace":"e2e","target_type":"deployment","target_name":"first","session_id":"E2E0000000000001"}}
{"fields":{"message":"Session End","client_user":"` + newcomer + `","client_name":"Newcomer","target_namespace":"e2e","target_type":"deployment","target_name":"first","session_id":"E2E0000000000001","session_duration":60}}
`)

// startNativePrometheus runs a Prometheus with native histograms on,
// scraping the exporter at addr, and gives its URL once it has scraped
// twice.
func startNativePrometheus(ctx context.Context, t *testing.T, promBin, dir, addr string) string {
	t.Helper()
	promAddr := freeAddr(t)
	config := fmt.Sprintf(`global: {scrape_interval: 1s}
scrape_configs:
  - job_name: mirrord-exporter
    static_configs: [{targets: ["%s"]}]
`, addr)
	path := filepath.Join(dir, "prometheus-native.yml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	start(ctx, t, "prometheus (native histograms)", promBin, "--config.file="+path, "--enable-feature=native-histograms",
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb-native"), "--web.listen-address="+promAddr)
	u := "http://" + promAddr
	waitFor(ctx, t, "prometheus (native histograms) ready", func() bool { return httpOK(u + "/-/ready") })
	waitScrapes(ctx, t, u, 1, time.Now().Add(2*time.Second))
	return u
}

// checkNativeDurations runs the duration panel on the Prometheus with
// native histograms on, where it must find data, from the native buckets.
func checkNativeDurations(ctx context.Context, t *testing.T, nativeURL string) {
	t.Helper()
	if query(ctx, t, nativeURL, `histogram_count(sum(mirrord_session_duration_seconds))`) == 0 {
		t.Errorf("the Prometheus with native histograms on holds no native mirrord_session_duration_seconds")
	}
	t.Logf("with native histograms on, Prometheus keeps %d classic bucket series",
		query(ctx, t, nativeURL, `mirrord_session_duration_seconds_bucket`))
	for _, p := range overview().Panels {
		if p.Title != "Session duration percentiles" {
			continue
		}
		for _, q := range p.Queries {
			expr := substitutions.Replace(q.Expr)
			native, _, _ := strings.Cut(expr, " or histogram_quantile")
			if n := query(ctx, t, nativeURL, native); n == 0 {
				t.Errorf("native histograms: no data from %s", native)
			}
		}
		return
	}
	t.Errorf("no panel Session duration percentiles")
}

// cost is what a panel query read, as Prometheus counts it
// (totalQueryableSamples).
type cost struct {
	panel           string
	instant, ranged int
	// shown is what the panel runs: instant or ranged.
	shown int
}

func newCost(uid string, p Panel, instant, ranged int) cost {
	c := cost{uid + ": " + p.Title, instant, ranged, ranged}
	if instantTypes[p.Type] {
		c.shown = instant
	}
	return c
}

// logCosts logs the queries that read the most samples as their panels run
// them.
func logCosts(t *testing.T, costs []cost) {
	t.Helper()
	slices.SortFunc(costs, func(a, b cost) int { return b.shown - a.shown })
	for _, c := range costs[:min(8, len(costs))] {
		t.Logf("samples read as shown: %8d (instant %8d, ranged %8d): %s", c.shown, c.instant, c.ranged, c.panel)
	}
}

// queryStats runs a query, instant or over the last minute at a 5s step,
// and gives the number of series and the samples it read.
func queryStats(ctx context.Context, t *testing.T, promURL, expr string, ranged bool) (series, samples int) {
	t.Helper()
	now := time.Now()
	return queryStatsWindow(ctx, t, promURL, expr, now.Add(-time.Minute), now, 5*time.Second, ranged)
}

// queryStatsWindow runs a query, instant at to or from from to to at step,
// and gives the number of series and the samples it read (Prometheus'
// totalQueryableSamples).
func queryStatsWindow(ctx context.Context, t *testing.T, promURL, expr string, from, to time.Time, step time.Duration, ranged bool) (series, samples int) {
	t.Helper()
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
		Stats      struct {
			Samples struct {
				TotalQueryableSamples int `json:"totalQueryableSamples"`
			} `json:"samples"`
		} `json:"stats"`
	}
	v := url.Values{"query": {expr}, "stats": {"all"}, "time": {strconv.FormatInt(to.Unix(), 10)}}
	path := "/api/v1/query?"
	if ranged {
		v.Del("time")
		v.Set("start", strconv.FormatInt(from.Unix(), 10))
		v.Set("end", strconv.FormatInt(to.Unix(), 10))
		v.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
		path = "/api/v1/query_range?"
	}
	api(ctx, t, promURL+path+v.Encode(), &data)
	if data.ResultType == "scalar" || data.ResultType == "string" {
		return 1, data.Stats.Samples.TotalQueryableSamples
	}
	var result []json.RawMessage
	if err := json.Unmarshal(data.Result, &result); err != nil {
		t.Errorf("%s: %v", expr, err)
	}
	return len(result), data.Stats.Samples.TotalQueryableSamples
}

// vectorBy runs an instant query and gives its values by one label.
func vectorBy(ctx context.Context, t *testing.T, promURL, expr, label string) map[string]float64 {
	t.Helper()
	return vectorByAt(ctx, t, promURL, expr, label, time.Time{})
}

// vectorByAt is vectorBy at ts; the zero time is Prometheus' now.
func vectorByAt(ctx context.Context, t *testing.T, promURL, expr, label string, ts time.Time) map[string]float64 {
	t.Helper()
	var data struct {
		Result []struct {
			Metric map[string]string
			Value  [2]any
		}
	}
	v := url.Values{"query": {expr}}
	if !ts.IsZero() {
		v.Set("time", strconv.FormatInt(ts.Unix(), 10))
	}
	api(ctx, t, promURL+"/api/v1/query?"+v.Encode(), &data)
	out := map[string]float64{}
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Errorf("%s: value %v", expr, r.Value[1])
		}
		out[r.Metric[label]] = v
	}
	return out
}

// fileExporterOnly limits a query to the exporter of the generated log,
// the one without a cluster label, whose truth the generator knows.
var fileExporterOnly = strings.NewReplacer(inCluster, `cluster=""`)

var userLabelRe = regexp.MustCompile(`[{,]client_user="((?:[^"\\]|\\.)*)"`)

// sessionsByUser is the generator's truth: sessions started per user.
func sessionsByUser(t *testing.T, truth loggen.Truth) map[string]float64 {
	out := map[string]float64{}
	for key, v := range truth.Series {
		if !strings.HasPrefix(key, "mirrord_sessions_started_total{") {
			continue
		}
		m := userLabelRe.FindStringSubmatch(key)
		if m == nil {
			t.Fatalf("truth series without client_user: %s", key)
		}
		user := strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(m[1])
		out[user] += v
	}
	return out
}

// checkValues compares the Users table's sessions with the generator's
// truth: every user's sessions, the ones of series born after Prometheus'
// first scrape included (the newcomer's and those of the held-back part of
// the log), where increase() alone would count only their growth.
func checkValues(ctx context.Context, t *testing.T, promURL string, truth loggen.Truth) {
	t.Helper()
	want := sessionsByUser(t, truth)
	want[newcomer]++
	var expr string
	for _, p := range users().Panels {
		if p.Title == "Users" {
			expr = substitutions.Replace(fileExporterOnly.Replace(p.Queries[0].Expr))
		}
	}
	got := vectorBy(ctx, t, promURL, expr, "client_user")
	for user, n := range want {
		if got[user] != n {
			t.Errorf("Users table: %q has %v sessions, want %v", user, got[user], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("Users table: %d users, want %d", len(got), len(want))
	}
	// What the panels did before inRange: the newcomer's session is not
	// counted.
	plain := vectorBy(ctx, t, promURL, `sum by (client_user) (increase(mirrord_sessions_started_total{client_user="`+newcomer+`"}[1h]))`, "client_user")
	if plain[newcomer] != 0 {
		t.Logf("increase() alone counts %v sessions of the newcomer; Prometheus changed?", plain[newcomer])
	}
}

// checkCLIVersions compares the CLI version panels with the generator's
// truth: sessions and distinct users per version (the newcomer's session,
// without a version, included) and the share of sessions on versions older
// than the newest.
func checkCLIVersions(ctx context.Context, t *testing.T, promURL string, truth loggen.Truth) {
	t.Helper()
	named := func(m map[string]float64) map[string]float64 {
		out := map[string]float64{}
		for v, n := range m {
			if v == "" {
				v = noVersion
			}
			out[v] = n
		}
		return out
	}
	sessions, byUser, newer := named(truth.SessionsByCLIVersion()), named(truth.UsersByCLIVersion()), named(truth.CLIVersionsNewer())
	sessions[noVersion]++
	byUser[noVersion]++
	if len(sessions) < 3 || len(newer) != len(sessions) {
		t.Fatalf("the generated log has too few CLI versions: %v, newer %v", sessions, newer)
	}
	var older, total float64
	for v, n := range sessions {
		total += n
		if newer[v] > 0 {
			older += n
		}
	}
	var table, stat []Query
	for _, p := range users().Panels {
		switch p.Title {
		case "CLI versions in use":
			table = p.Queries
		case "Sessions on older CLI versions":
			stat = p.Queries
		}
	}
	if len(table) != 3 || len(stat) != 1 {
		t.Fatalf("no CLI version panels: %v %v", table, stat)
	}
	run := func(q Query) map[string]float64 {
		return vectorBy(ctx, t, promURL, substitutions.Replace(fileExporterOnly.Replace(q.Expr)), "client_cli_version")
	}
	for i, want := range []map[string]float64{sessions, byUser, newer} {
		if got := run(table[i]); !maps.Equal(got, want) {
			t.Errorf("CLI versions in use, column %d: %v, want %v", i+1, got, want)
		}
	}
	got := run(stat[0])
	if share := older / total; math.Abs(got[""]-share) > 1e-9 || older == 0 {
		t.Errorf("Sessions on older CLI versions: %v, want %v (%v of %v)", got, share, older, total)
	}
}

// checkSeen checks the seat and user gauges' panels: the generated log
// spans 6 hours, so the 1d, 7d and 30d windows hold the same users, at
// least one and at most the log's users.
func checkSeen(ctx context.Context, t *testing.T, promURL string, truth loggen.Truth) {
	t.Helper()
	users := len(sessionsByUser(t, truth)) + 1
	for _, metric := range []string{"mirrord_users_seen", "mirrord_clients_seen"} {
		var got []float64
		for _, w := range []string{"1d", "7d", "30d"} {
			v := vectorBy(ctx, t, promURL, substitutions.Replace(fileExporterOnly.Replace(window(metric, w))), "")
			got = append(got, v[""])
		}
		if got[0] < 1 || got[0] != got[1] || got[1] != got[2] {
			t.Errorf("%s over 1d, 7d, 30d: %v, want one value above 0 (the log spans 6h)", metric, got)
		}
		if metric == "mirrord_users_seen" && got[2] > float64(users) {
			t.Errorf("%s: %v users, but the log has %d", metric, got[2], users)
		}
	}
}

// buildExporter builds the exporter binary into dir.
func buildExporter(ctx context.Context, t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "exporter")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/exporter").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
