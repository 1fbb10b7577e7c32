package chartcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// chartValues are the values the checks depend on: the chart's values.yaml
// with a case's values file laid over it, as helm merges them.
type chartValues struct {
	Mode          string `json:"mode"`
	TelemetryPath string `json:"telemetryPath"`
	WebConfig     struct {
		ExistingSecret string              `json:"existingSecret"`
		Key            string              `json:"key"`
		TLS            bool                `json:"tls"`
		ProbeHeaders   []corev1.HTTPHeader `json:"probeHeaders"`
	} `json:"webConfig"`
	Pseudonymize struct {
		Fields         []string `json:"fields"`
		ExistingSecret string   `json:"existingSecret"`
		SecretKey      string   `json:"secretKey"`
		Key            string   `json:"key"`
	} `json:"pseudonymize"`
	ServiceMonitor struct {
		JobLabel  string         `json:"jobLabel"`
		Scheme    string         `json:"scheme"`
		TLSConfig map[string]any `json:"tlsConfig"`
		BasicAuth map[string]any `json:"basicAuth"`
		// The users' relabelings come after the chart's own.
		Relabelings       []monitoringv1.RelabelConfig `json:"relabelings"`
		MetricRelabelings []monitoringv1.RelabelConfig `json:"metricRelabelings"`
	} `json:"serviceMonitor"`
	PrometheusRule struct {
		JobLabel string          `json:"jobLabel"`
		Alerts   map[string]bool `json:"alerts"`
	} `json:"prometheusRule"`
	NetworkPolicy struct {
		Enabled  bool                             `json:"enabled"`
		From     []networkingv1.NetworkPolicyPeer `json:"from"`
		OTLPFrom []networkingv1.NetworkPolicyPeer `json:"otlpFrom"`
	} `json:"networkPolicy"`
}

func loadValues(t *testing.T, values string) chartValues {
	t.Helper()
	var v chartValues
	for _, f := range []string{filepath.Join(chartDir, "values.yaml"), values} {
		if f == "" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// A list in the case's file replaces the default one, as with
		// helm: json resets a slice before filling it.
		if err := yaml.Unmarshal(src, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return v
}

// expectedRules are the rule groups of deploy/prometheus as the chart must
// render them for v: the alerts set to false left out, the job selected
// renamed.
func (v chartValues) expectedRules(groups []monitoringv1.RuleGroup) []monitoringv1.RuleGroup {
	job := v.PrometheusRule.JobLabel
	if job == "" {
		job = v.ServiceMonitor.JobLabel
	}
	rename := strings.NewReplacer(`job="mirrord-exporter"`, `job="`+job+`"`, `job "mirrord-exporter"`, `job "`+job+`"`)
	var out []monitoringv1.RuleGroup
	for _, g := range groups {
		var rules []monitoringv1.Rule
		for _, r := range g.Rules {
			if r.Alert != "" {
				if on, ok := v.PrometheusRule.Alerts[r.Alert]; ok && !on {
					continue
				}
			}
			r.Expr.StrVal = rename.Replace(r.Expr.StrVal)
			if r.Annotations != nil {
				annotations := map[string]string{}
				for k, a := range r.Annotations {
					annotations[k] = rename.Replace(a)
				}
				r.Annotations = annotations
			}
			rules = append(rules, r)
		}
		if len(rules) > 0 {
			g.Rules = rules
			out = append(out, g)
		}
	}
	return out
}

// TestEveryAlertHasAValue: every alert of deploy/prometheus can be turned off
// by name, and no value names an alert that does not exist.
func TestEveryAlertHasAValue(t *testing.T) {
	v := loadValues(t, "")
	var alerts []string
	for _, g := range ruleGroups(t) {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts = append(alerts, r.Alert)
				if on, ok := v.PrometheusRule.Alerts[r.Alert]; !ok || !on {
					t.Errorf("alert %s: prometheusRule.alerts.%s is not true in values.yaml", r.Alert, r.Alert)
				}
			}
		}
	}
	for name := range v.PrometheusRule.Alerts {
		if !slices.Contains(alerts, name) {
			t.Errorf("prometheusRule.alerts.%s names no alert", name)
		}
	}
}

// TestTelemetryPathDefault: the chart's default path is the exporter's.
func TestTelemetryPathDefault(t *testing.T) {
	if got, want := loadValues(t, "").TelemetryPath, flagDefault(t, "web.telemetry-path"); got != want {
		t.Errorf("values.yaml telemetryPath = %q, the exporter's default %q", got, want)
	}
}

// checkWebConfig: the web configuration is mounted and given to the
// exporter, and the probes and the ServiceMonitor speak its scheme and
// carry its credentials, so that securing /metrics does not fail the
// probes or the scrapes.
func checkWebConfig(t *testing.T, m *manifests, spec corev1.PodSpec, c corev1.Container, v chartValues) {
	t.Helper()
	args := argValues(c)
	if got := args["web.telemetry-path"]; !slices.Equal(got, []string{v.TelemetryPath}) {
		t.Errorf("--web.telemetry-path = %q, want %q", got, v.TelemetryPath)
	}
	wc := v.WebConfig
	if wc.ExistingSecret == "" {
		if len(args["web.config.file"]) > 0 {
			t.Errorf("--web.config.file %q without webConfig.existingSecret", args["web.config.file"])
		}
	} else {
		const dir = "/etc/mirrord-exporter/web"
		if got := args["web.config.file"]; !slices.Equal(got, []string{dir + "/" + wc.Key}) {
			t.Errorf("--web.config.file = %q, want %s/%s", got, dir, wc.Key)
		}
		i := slices.IndexFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.MountPath == dir })
		if i < 0 || !c.VolumeMounts[i].ReadOnly {
			t.Fatalf("web config not mounted read-only at %s: %+v", dir, c.VolumeMounts)
		}
		j := slices.IndexFunc(spec.Volumes, func(vol corev1.Volume) bool { return vol.Name == c.VolumeMounts[i].Name })
		if j < 0 || spec.Volumes[j].Secret == nil || spec.Volumes[j].Secret.SecretName != wc.ExistingSecret {
			t.Errorf("volume %q is not Secret %q", c.VolumeMounts[i].Name, wc.ExistingSecret)
		}
	}
	probeScheme, smScheme := corev1.URISchemeHTTP, "http"
	if wc.TLS {
		probeScheme, smScheme = corev1.URISchemeHTTPS, "https"
	}
	if v.ServiceMonitor.Scheme != "" {
		smScheme = v.ServiceMonitor.Scheme
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			continue // checkPorts says so
		}
		if p.HTTPGet.Scheme != probeScheme {
			t.Errorf("%s probe scheme %q, want %q", name, p.HTTPGet.Scheme, probeScheme)
		}
		if (len(p.HTTPGet.HTTPHeaders) > 0 || len(wc.ProbeHeaders) > 0) && !reflect.DeepEqual(p.HTTPGet.HTTPHeaders, wc.ProbeHeaders) {
			t.Errorf("%s probe headers %+v, want %+v", name, p.HTTPGet.HTTPHeaders, wc.ProbeHeaders)
		}
	}
	for _, sm := range m.ServiceMonitors {
		ep := sm.Spec.Endpoints[0]
		if ep.Scheme == nil || ep.Scheme.String() != smScheme {
			t.Errorf("ServiceMonitor scheme %v, want %s", ep.Scheme, smScheme)
		}
		if (ep.TLSConfig != nil) != (len(v.ServiceMonitor.TLSConfig) > 0) {
			t.Errorf("ServiceMonitor tlsConfig %+v, values %v", ep.TLSConfig, v.ServiceMonitor.TLSConfig)
		}
		if sn, ok := v.ServiceMonitor.TLSConfig["serverName"].(string); ok && (ep.TLSConfig == nil || ep.TLSConfig.ServerName == nil || *ep.TLSConfig.ServerName != sn) {
			t.Errorf("ServiceMonitor tlsConfig.serverName is not %q", sn)
		}
		if (ep.BasicAuth != nil) != (len(v.ServiceMonitor.BasicAuth) > 0) {
			t.Errorf("ServiceMonitor basicAuth %+v, values %v", ep.BasicAuth, v.ServiceMonitor.BasicAuth)
		}
		if ep.BasicAuth != nil && (ep.BasicAuth.Username.Name == "" || ep.BasicAuth.Password.Name == "") {
			t.Errorf("ServiceMonitor basicAuth names no Secret: %+v", ep.BasicAuth)
		}
		checkRelabelings(t, ep, v)
	}
}

// checkRelabelings: the users' relabelings (a cluster label, say) follow the
// chart's own, which set job, so that theirs can read or override it; their
// metric relabelings (a hash of client_user, say) are passed as given.
func checkRelabelings(t *testing.T, ep monitoringv1.Endpoint, v chartValues) {
	t.Helper()
	rc, want := ep.RelabelConfigs, v.ServiceMonitor.Relabelings
	switch {
	case len(rc) == 0 || rc[0].TargetLabel != "job":
		t.Errorf("ServiceMonitor relabelings %+v: the chart's job relabeling is not first", rc)
	case len(rc) < 1+len(want) || (len(want) > 0 && !reflect.DeepEqual(rc[len(rc)-len(want):], want)):
		t.Errorf("ServiceMonitor relabelings %+v do not end with the values' %+v", rc, want)
	}
	if got := ep.MetricRelabelConfigs; !reflect.DeepEqual(got, v.ServiceMonitor.MetricRelabelings) && len(got)+len(v.ServiceMonitor.MetricRelabelings) > 0 {
		t.Errorf("ServiceMonitor metricRelabelings %+v, want the values' %+v", got, v.ServiceMonitor.MetricRelabelings)
	}
}

// checkNetworkPolicy: when on, one policy selects the exporter's pods and
// admits exactly the configured peers to its port, ingress only.
func checkNetworkPolicy(t *testing.T, m *manifests, pod corev1.PodTemplateSpec, v chartValues) {
	t.Helper()
	if !v.NetworkPolicy.Enabled {
		if len(m.NetworkPolicies) > 0 {
			t.Errorf("%d NetworkPolicies with networkPolicy.enabled false", len(m.NetworkPolicies))
		}
		return
	}
	if len(m.NetworkPolicies) != 1 {
		t.Fatalf("%d NetworkPolicies, want 1", len(m.NetworkPolicies))
	}
	np := m.NetworkPolicies[0].Spec
	if !selects(np.PodSelector.MatchLabels, pod.Labels) {
		t.Errorf("NetworkPolicy selects %v, not the pods %v", np.PodSelector.MatchLabels, pod.Labels)
	}
	if !slices.Equal(np.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("policyTypes %v, want Ingress only (egress to the API server stays open)", np.PolicyTypes)
	}
	// Prometheus to the metrics; in mode otlp, the operator to the OTLP port.
	wantRules := 1
	if v.Mode == "otlp" {
		wantRules = 2
	}
	if len(np.Ingress) != wantRules {
		t.Fatalf("%d ingress rules, want %d", len(np.Ingress), wantRules)
	}
	in := np.Ingress[0]
	if !reflect.DeepEqual(in.From, v.NetworkPolicy.From) || len(in.From) == 0 {
		t.Errorf("ingress from %+v, want %+v", in.From, v.NetworkPolicy.From)
	}
	if len(in.Ports) != 1 || in.Ports[0].Port == nil || in.Ports[0].Port.String() != "http" {
		t.Errorf("ingress ports %+v, want the http port only", in.Ports)
	}
	if v.Mode != "otlp" {
		return
	}
	otlp := np.Ingress[1]
	want := v.NetworkPolicy.OTLPFrom
	if len(want) == 0 {
		want = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{"kubernetes.io/metadata.name": "mirrord"}}}}
	}
	if !reflect.DeepEqual(otlp.From, want) {
		t.Errorf("OTLP ingress from %+v, want %+v", otlp.From, want)
	}
	if len(otlp.Ports) != 1 || otlp.Ports[0].Port == nil || otlp.Ports[0].Port.String() != "otlp" {
		t.Errorf("OTLP ingress ports %+v, want the otlp port only", otlp.Ports)
	}
}

// TestChartVersionFollowsVERSION: the chart's version and appVersion are the
// release's (the VERSION file), so that `make release` packages a chart
// whose default image tag is the image built with it.
func TestChartVersionFollowsVERSION(t *testing.T) {
	version, err := os.ReadFile(filepath.Join(repoRoot, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(src, &chart); err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(string(version))
	if chart.Version != want || chart.AppVersion != want {
		t.Errorf("Chart.yaml version %q, appVersion %q; VERSION says %q", chart.Version, chart.AppVersion, want)
	}
}

// checkPseudonymize: with pseudonymize.fields, the exporter gets one
// --label.pseudonymize per field and the key file from the Secret (the one
// given, or the chart's, holding pseudonymize.key), mounted read-only; the
// key itself is never an argument. Without, none of it.
func checkPseudonymize(t *testing.T, m *manifests, spec corev1.PodSpec, c corev1.Container, v chartValues) {
	t.Helper()
	p := v.Pseudonymize
	args := argValues(c)
	const dir = "/etc/mirrord-exporter/pseudonym"
	mount := slices.IndexFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.MountPath == dir })
	if len(p.Fields) == 0 {
		if len(args["label.pseudonymize"]) > 0 || len(args["label.pseudonymize-key-file"]) > 0 || mount >= 0 || len(m.Secrets) > 0 {
			t.Errorf("pseudonyms without pseudonymize.fields: args %q, mount %d, %d Secrets", c.Args, mount, len(m.Secrets))
		}
		return
	}
	if got := args["label.pseudonymize"]; !slices.Equal(got, p.Fields) {
		t.Errorf("--label.pseudonymize = %q, want %q", got, p.Fields)
	}
	if got := args["label.pseudonymize-key-file"]; !slices.Equal(got, []string{dir + "/" + p.SecretKey}) {
		t.Errorf("--label.pseudonymize-key-file = %q, want %s/%s", got, dir, p.SecretKey)
	}
	if mount < 0 || !c.VolumeMounts[mount].ReadOnly {
		t.Fatalf("the pseudonym key not mounted read-only at %s: %+v", dir, c.VolumeMounts)
	}
	secret := p.ExistingSecret
	if secret == "" {
		if len(m.Secrets) != 1 {
			t.Fatalf("pseudonymize.key without existingSecret: %d Secrets rendered, want 1", len(m.Secrets))
		}
		s := m.Secrets[0]
		secret = s.Name
		if got := string(s.Data[p.SecretKey]); got != p.Key || p.Key == "" {
			t.Errorf("Secret %s holds %q under %s, want pseudonymize.key", s.Name, got, p.SecretKey)
		}
	} else if len(m.Secrets) > 0 {
		t.Errorf("existingSecret given, yet the chart renders %d Secrets", len(m.Secrets))
	}
	j := slices.IndexFunc(spec.Volumes, func(vol corev1.Volume) bool { return vol.Name == c.VolumeMounts[mount].Name })
	if j < 0 || spec.Volumes[j].Secret == nil || spec.Volumes[j].Secret.SecretName != secret {
		t.Fatalf("volume %q is not Secret %q", c.VolumeMounts[mount].Name, secret)
	}
	if items := spec.Volumes[j].Secret.Items; len(items) != 1 || items[0].Key != p.SecretKey || items[0].Path != p.SecretKey {
		t.Errorf("Secret volume items %+v, want only %s", items, p.SecretKey)
	}
	if p.Key != "" && strings.Contains(strings.Join(c.Args, " "), p.Key) {
		t.Error("the key is in the exporter's arguments")
	}
}

// TestPseudonymizeRefusals: the chart refuses pseudonyms without a key, a
// key shorter than the exporter takes, two keys, or a key without fields,
// at render time rather than as a pod that fails to start.
func TestPseudonymizeRefusals(t *testing.T) {
	chart, err := filepath.Abs(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		set  []string
		want string
	}{
		{[]string{"pseudonymize.fields={client_user}"}, "pseudonymize.fields needs a key"},
		{[]string{"pseudonymize.fields={client_user}", "pseudonymize.key=short"}, "at least 16 bytes"},
		{[]string{"pseudonymize.fields={client_user}", "pseudonymize.key=0123456789abcdef", "pseudonymize.existingSecret=s"}, "not both"},
		{[]string{"pseudonymize.existingSecret=s"}, "a key alone pseudonymizes nothing"},
	} {
		args := []string{"run", helmModule, "template", "mirrord-exporter", chart}
		for _, s := range c.set {
			args = append(args, "--set", s)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = filepath.Dir(chartDir)
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("--set %q: err %v, output lacks %q:\n%s", c.set, err, c.want, out)
		}
	}
}
