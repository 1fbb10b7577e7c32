package chartcheck

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

var update = flag.Bool("update", false, "copy the dashboards and rules into the chart and rewrite deploy/kubernetes from it")

// valuesCases are the chart's default values and every ci/*-values.yaml.
func valuesCases(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ci/*-values.yaml: %v", err)
	}
	return append([]string{""}, files...)
}

func caseName(values string) string {
	if values == "" {
		return "default"
	}
	return strings.TrimSuffix(filepath.Base(values), "-values.yaml")
}

func helmArgs(t *testing.T, values string, args ...string) []string {
	t.Helper()
	chart, err := filepath.Abs(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	args = append(args, chart)
	if values != "" {
		abs, err := filepath.Abs(values)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", abs)
	}
	return args
}

func TestHelmLint(t *testing.T) {
	for _, values := range valuesCases(t) {
		t.Run(caseName(values), func(t *testing.T) {
			// --strict fails on warnings too; the values schema is checked here.
			helm(t, helmArgs(t, values, "lint", "--strict")...)
		})
	}
}

// render runs helm template as release mirrord-exporter in namespace mirrord,
// next to the operator.
func render(t *testing.T, values string) []byte {
	t.Helper()
	return helm(t, append(helmArgs(t, values, "template", "mirrord-exporter"), "--namespace", "mirrord")...)
}

func TestHelmTemplate(t *testing.T) {
	for _, values := range valuesCases(t) {
		t.Run(caseName(values), func(t *testing.T) {
			m, err := decodeManifests(render(t, values))
			if err != nil {
				t.Fatal(err)
			}
			checkManifests(t, m, loadValues(t, values))
		})
	}
}

func checkManifests(t *testing.T, m *manifests, v chartValues) {
	mode := v.Mode
	var pod corev1.PodTemplateSpec
	switch {
	case (mode == "kubernetes" || mode == "otlp") && len(m.Deployments) == 1 && len(m.DaemonSets) == 0:
		d := m.Deployments[0]
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
			t.Errorf("Deployment replicas = %v, want 1: two readers would count every event twice", d.Spec.Replicas)
		}
		pod = d.Spec.Template
	case mode == "files" && len(m.DaemonSets) == 1 && len(m.Deployments) == 0:
		pod = m.DaemonSets[0].Spec.Template
	default:
		t.Fatalf("mode %s: %d Deployments, %d DaemonSets", mode, len(m.Deployments), len(m.DaemonSets))
	}
	spec := pod.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]

	checkArgs(t, c, mode)
	checkSecurity(t, spec, c, mode)
	checkPorts(t, m, pod, c, v)
	checkRBAC(t, m, spec, mode)
	checkVolumes(t, spec, c, mode)
	checkWebConfig(t, m, spec, c, v)
	checkPseudonymize(t, m, spec, c, v)
	checkNetworkPolicy(t, m, pod, v)
	checkDashboards(t, m)
	checkRules(t, m, v)
}

var (
	helpOnce  sync.Once
	helpFlags map[string]bool
)

// exporterFlags are the flags the exporter accepts, from its --help.
func exporterFlags(t *testing.T) map[string]bool {
	t.Helper()
	helpOnce.Do(func() {
		out := exporterHelp(t)
		helpFlags = map[string]bool{}
		for _, f := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--(\[no-\])?([a-z0-9][a-z0-9.-]*)`).FindAllSubmatch(out, -1) {
			helpFlags[string(f[2])] = true
			if len(f[1]) > 0 {
				helpFlags["no-"+string(f[2])] = true
			}
		}
	})
	if len(helpFlags) < 10 {
		t.Fatalf("read only %d flags from --help", len(helpFlags))
	}
	return helpFlags
}

// exporterHelp is the exporter's --help, which kingpin prints on stderr.
func exporterHelp(t *testing.T) []byte {
	t.Helper()
	out, err := exec.Command(exporterBinary(t), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	return out
}

func argValues(c corev1.Container) map[string][]string {
	vals := map[string][]string{}
	for _, a := range c.Args {
		name, val, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		vals[name] = append(vals[name], val)
	}
	return vals
}

func checkArgs(t *testing.T, c corev1.Container, mode string) {
	t.Helper()
	if len(c.Command) != 0 {
		t.Errorf("command %v overrides the image's entrypoint", c.Command)
	}
	known := exporterFlags(t)
	for _, a := range c.Args {
		name, _, _ := strings.Cut(a, "=")
		if !strings.HasPrefix(name, "--") || !known[strings.TrimPrefix(name, "--")] {
			t.Errorf("arg %q: not a flag of the exporter", a)
		}
	}
	args := argValues(c)
	want := map[string][]string{
		"kubernetes": {"kubernetes", "kubernetes.namespace=mirrord", "kubernetes.label-selector=app=mirrord-operator", "kubernetes.container=mirrord-operator"},
		"files":      {"input.path=/var/log/containers/*_mirrord_mirrord-operator-*.log"},
		"otlp":       {"otlp.listen-address=:4318"},
	}[mode]
	for _, w := range want {
		name, val, _ := strings.Cut(w, "=")
		if !slices.Contains(args[name], val) {
			t.Errorf("args %v lack --%s", c.Args, w)
		}
	}
	if mode == "files" && len(args["kubernetes"]) > 0 {
		t.Error("files mode also follows --kubernetes")
	}
	if mode == "kubernetes" && len(args["input.path"]) > 0 {
		t.Error("kubernetes mode also reads --input.path")
	}
	// The operator's log and its OTLP export carry the same events: one
	// input only, or each would be counted twice.
	if mode != "otlp" && len(args["otlp.listen-address"]) > 0 {
		t.Errorf("%s mode also receives OTLP", mode)
	}
	if mode == "otlp" && len(args["kubernetes"])+len(args["input.path"]) > 0 {
		t.Error("otlp mode also reads the operator's log")
	}
}

func checkSecurity(t *testing.T, spec corev1.PodSpec, c corev1.Container, mode string) {
	t.Helper()
	psc, sc := spec.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("no pod or container securityContext")
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile = %v, want RuntimeDefault", psc.SeccompProfile)
	}
	// Both modes run as the image's non-root user. Files mode reads the
	// kubelet's root:root 0640 logs through the root group's read bit.
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("pod runs as root: runAsNonRoot %v runAsUser %v", psc.RunAsNonRoot, psc.RunAsUser)
	}
	if rootGroup := slices.Contains(psc.SupplementalGroups, 0); rootGroup != (mode == "files") {
		t.Errorf("%s mode: supplementalGroups %v", mode, psc.SupplementalGroups)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("root file system is writable")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("privilege escalation allowed")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged")
	}
	if sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities = %+v, want drop ALL and no add", sc.Capabilities)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Error("pod shares a host namespace")
	}
}

func checkPorts(t *testing.T, m *manifests, pod corev1.PodTemplateSpec, c corev1.Container, v chartValues) {
	t.Helper()
	listen := argValues(c)["web.listen-address"]
	if len(listen) != 1 {
		t.Fatalf("--web.listen-address given %d times", len(listen))
	}
	_, portStr, _ := strings.Cut(listen[0], ":")
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatalf("--web.listen-address=%s: %v", listen[0], err)
	}
	wantPorts := []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port), Protocol: corev1.ProtocolTCP}}
	wantService := []string{"http"}
	if v.Mode == "otlp" {
		wantPorts = append(wantPorts, corev1.ContainerPort{Name: "otlp", ContainerPort: 4318, Protocol: corev1.ProtocolTCP})
		wantService = append(wantService, "otlp")
	}
	if !reflect.DeepEqual(c.Ports, wantPorts) {
		t.Errorf("container ports %+v, want %+v", c.Ports, wantPorts)
	}
	for name, p := range map[string]*corev1.Probe{"/-/healthy": c.LivenessProbe, "/-/ready": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port.String() != "http" {
			t.Errorf("probe on %s missing or wrong: %+v", name, p)
		}
	}

	if len(m.Services) != 1 {
		t.Fatalf("%d Services", len(m.Services))
	}
	svc := m.Services[0]
	if !selects(svc.Spec.Selector, pod.Labels) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, pod.Labels)
	}
	var targets []string
	for _, sp := range svc.Spec.Ports {
		targets = append(targets, sp.TargetPort.String())
	}
	if !slices.Equal(targets, wantService) {
		t.Errorf("Service ports %+v, want ones to %v", svc.Spec.Ports, wantService)
	}
	for _, sm := range m.ServiceMonitors {
		if !selects(sm.Spec.Selector.MatchLabels, svc.Labels) || !slices.Contains(sm.Spec.NamespaceSelector.MatchNames, svc.Namespace) {
			t.Errorf("ServiceMonitor selects %v in %v, not the Service", sm.Spec.Selector.MatchLabels, sm.Spec.NamespaceSelector.MatchNames)
		}
		if len(sm.Spec.Endpoints) != 1 {
			t.Fatalf("%d ServiceMonitor endpoints", len(sm.Spec.Endpoints))
		}
		ep := sm.Spec.Endpoints[0]
		if ep.Port != svc.Spec.Ports[0].Name || ep.Path != v.TelemetryPath {
			t.Errorf("ServiceMonitor scrapes port %q path %q, want path %q", ep.Port, ep.Path, v.TelemetryPath)
		}
		// The alerts select the job the ServiceMonitor names.
		if len(ep.RelabelConfigs) == 0 || ep.RelabelConfigs[0].TargetLabel != "job" ||
			ep.RelabelConfigs[0].Replacement == nil || *ep.RelabelConfigs[0].Replacement != v.ServiceMonitor.JobLabel {
			t.Errorf("ServiceMonitor does not set job=%s first: %+v", v.ServiceMonitor.JobLabel, ep.RelabelConfigs)
		}
	}
}

// flagDefault reads a flag's default from the exporter's --help.
func flagDefault(t *testing.T, name string) string {
	t.Helper()
	out := exporterHelp(t)
	m := regexp.MustCompile(`--` + regexp.QuoteMeta(name) + `="([^"]*)"`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no default of --%s in --help", name)
	}
	return string(m[1])
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

func checkRBAC(t *testing.T, m *manifests, spec corev1.PodSpec, mode string) {
	t.Helper()
	if mode != "kubernetes" {
		if len(m.Roles)+len(m.RoleBindings) > 0 {
			t.Errorf("%s mode needs no RBAC", mode)
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s mode mounts a service account token it does not use", mode)
		}
		return
	}
	if len(m.Roles) != 1 || len(m.RoleBindings) != 1 {
		t.Fatalf("%d Roles, %d RoleBindings, want one each", len(m.Roles), len(m.RoleBindings))
	}
	role, rb := m.Roles[0], m.RoleBindings[0]
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
	}
	if !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("Role rules %+v, want exactly %+v", role.Rules, want)
	}
	if role.Namespace != "mirrord" || rb.Namespace != "mirrord" {
		t.Errorf("Role in %q, RoleBinding in %q, want the operator's namespace", role.Namespace, rb.Namespace)
	}
	if rb.RoleRef != (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name}) {
		t.Errorf("RoleBinding refers to %+v", rb.RoleRef)
	}
	wantSubject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: spec.ServiceAccountName, Namespace: "mirrord"}}
	if !reflect.DeepEqual(rb.Subjects, wantSubject) {
		t.Errorf("RoleBinding subjects %+v, want %+v", rb.Subjects, wantSubject)
	}
	if len(m.ServiceAccounts) != 1 || m.ServiceAccounts[0].Name != spec.ServiceAccountName {
		t.Errorf("the pod's ServiceAccount %q is not created", spec.ServiceAccountName)
	}
}

func checkVolumes(t *testing.T, spec corev1.PodSpec, c corev1.Container, mode string) {
	t.Helper()
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	if _, ok := mounts["/var/lib/mirrord-exporter"]; !ok {
		t.Error("no state volume at /var/lib/mirrord-exporter")
	}
	if !slices.Contains(c.Args, "--state.file=/var/lib/mirrord-exporter/state.json") {
		t.Errorf("the state file is not kept on the state volume: args %q", c.Args)
	}
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	if mode != "files" {
		if len(hostPaths) > 0 {
			t.Errorf("%s mode mounts host paths %v", mode, hostPaths)
		}
		return
	}
	for _, dir := range []string{"/var/log/containers", "/var/log/pods"} {
		vm, ok := mounts[dir]
		if !ok || !vm.ReadOnly || hostPaths[vm.Name] != dir {
			t.Errorf("%s not mounted read-only from the host: %+v", dir, vm)
		}
	}
}

func checkDashboards(t *testing.T, m *manifests) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repoRoot, "dashboards", "*.json"))
	found := 0
	for _, cm := range m.ConfigMaps {
		if cm.Labels["grafana_dashboard"] != "1" {
			continue
		}
		for name, data := range cm.Data {
			want, err := os.ReadFile(filepath.Join(repoRoot, "dashboards", name))
			if err != nil {
				t.Errorf("ConfigMap %s carries %s: %v", cm.Name, name, err)
				continue
			}
			if data != string(want) {
				t.Errorf("ConfigMap %s: %s differs from dashboards/%s", cm.Name, name, name)
			}
			found++
		}
	}
	if found != len(files) {
		t.Errorf("%d dashboards in ConfigMaps, %d in dashboards/", found, len(files))
	}
}

// ruleGroups are the groups of deploy/prometheus/*.yml, decoded strictly as
// the PrometheusRule's.
func ruleGroups(t *testing.T) []monitoringv1.RuleGroup {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repoRoot, "deploy", "prometheus", "*.yml"))
	slices.Sort(files) // helm's .Files.Glob ranges in name order too
	var groups []monitoringv1.RuleGroup
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf struct {
			Groups []monitoringv1.RuleGroup `json:"groups"`
		}
		if err := strictDecode(src, &rf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		groups = append(groups, rf.Groups...)
	}
	return groups
}

func checkRules(t *testing.T, m *manifests, v chartValues) {
	t.Helper()
	for _, pr := range m.PrometheusRules {
		got, want := pr.Spec.Groups, v.expectedRules(ruleGroups(t))
		if reflect.DeepEqual(got, want) {
			continue
		}
		if len(got) != len(want) {
			t.Errorf("PrometheusRule has %d groups, deploy/prometheus/*.yml %d", len(got), len(want))
			continue
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				g, _ := json.MarshalIndent(got[i], "", "  ")
				w, _ := json.MarshalIndent(want[i], "", "  ")
				t.Errorf("PrometheusRule group %q differs from deploy/prometheus/*.yml:\n got %s\nwant %s", want[i].Name, g, w)
			}
		}
	}
}

// TestChartCopies: helm reads only files inside the chart, so it carries
// copies of the dashboards and rules; they must be the very files. -update
// copies the originals in.
func TestChartCopies(t *testing.T) {
	for _, c := range []struct{ orig, copy string }{
		{filepath.Join(repoRoot, "dashboards", "*.json"), filepath.Join(chartDir, "dashboards", "*.json")},
		{filepath.Join(repoRoot, "deploy", "prometheus", "*.yml"), filepath.Join(chartDir, "rules", "*.yml")},
	} {
		origs, _ := filepath.Glob(c.orig)
		if *update {
			syncCopies(t, origs, c.copy)
		}
		copies, _ := filepath.Glob(c.copy)
		if len(origs) == 0 || len(origs) != len(copies) {
			t.Errorf("%d files match %s, %d copies match %s", len(origs), c.orig, len(copies), c.copy)
		}
		for _, o := range origs {
			want, _ := os.ReadFile(o)
			cp := filepath.Join(filepath.Dir(c.copy), filepath.Base(o))
			got, err := os.ReadFile(cp)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (err %v); copy it:\n  cd deploy/chartcheck && go test -run 'TestChartCopies|TestPlainManifests' -update", cp, o, err)
			}
		}
	}
}

// syncCopies makes the files matching copyGlob the very files origs. Each
// copy it removes or rewrites fails the test, so that a run with -update
// that changed the chart cannot pass unnoticed.
func syncCopies(t *testing.T, origs []string, copyGlob string) {
	t.Helper()
	dir := filepath.Dir(copyGlob)
	keep := map[string]bool{}
	for _, o := range origs {
		keep[filepath.Join(dir, filepath.Base(o))] = true
	}
	stale, _ := filepath.Glob(copyGlob)
	for _, f := range stale {
		if keep[f] {
			continue
		}
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		t.Errorf("removed %s; review the diff, then run again without -update", f)
	}
	for _, o := range origs {
		src, err := os.ReadFile(o)
		if err != nil {
			t.Fatal(err)
		}
		writeUpdated(t, filepath.Join(dir, filepath.Base(o)), src)
	}
}

// writeUpdated writes content to path unless it holds it already; a file
// rewritten fails the test, so that a run with -update that changed it
// cannot pass unnoticed.
func writeUpdated(t *testing.T, path string, content []byte) {
	t.Helper()
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, content) {
		return
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Errorf("updated %s; review the diff, then run again without -update", path)
}

const plainHeader = `# Rendered from deploy/helm/mirrord-exporter with its default values, as
# release mirrord-exporter in namespace mirrord (the operator's), for
# kubectl apply -f deploy/kubernetes/. Do not edit: regenerate with
#   cd deploy/chartcheck && go test -run 'TestChartCopies|TestPlainManifests' -update
`

// helmManagedLabel matches the label lines that say Helm manages an object:
// kubectl-applied objects must not claim it (helm would refuse to adopt
// them, and tools that trust the label would mistake their owner).
var helmManagedLabel = regexp.MustCompile(`(?m)^\s+(helm\.sh/chart|app\.kubernetes\.io/managed-by): .*\n`)

// TestPlainManifests keeps deploy/kubernetes in step with the chart.
func TestPlainManifests(t *testing.T) {
	want := append([]byte(plainHeader), helmManagedLabel.ReplaceAll(render(t, ""), nil)...)
	path := filepath.Join(repoRoot, "deploy", "kubernetes", "mirrord-exporter.yaml")
	if *update {
		writeUpdated(t, path, want)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s drifted from the chart; regenerate it:\n  cd deploy/chartcheck && go test -run 'TestChartCopies|TestPlainManifests' -update", path)
	}
	if _, err := decodeManifests(got); err != nil {
		t.Error(fmt.Errorf("%s: %w", path, err))
	}
	if bytes.Contains(got, []byte("helm.sh/chart")) || bytes.Contains(got, []byte("managed-by: Helm")) {
		t.Errorf("%s carries Helm-managed labels", path)
	}
}
