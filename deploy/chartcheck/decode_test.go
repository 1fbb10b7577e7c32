package chartcheck

import (
	"errors"
	"fmt"
	"regexp"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifests are the rendered objects by kind. A kind not listed here is an
// error: the chart must not grow (say) a ClusterRole unnoticed.
type manifests struct {
	Deployments     []*appsv1.Deployment
	DaemonSets      []*appsv1.DaemonSet
	Services        []*corev1.Service
	ServiceAccounts []*corev1.ServiceAccount
	ConfigMaps      []*corev1.ConfigMap
	Secrets         []*corev1.Secret
	PVCs            []*corev1.PersistentVolumeClaim
	Roles           []*rbacv1.Role
	RoleBindings    []*rbacv1.RoleBinding
	ServiceMonitors []*monitoringv1.ServiceMonitor
	PrometheusRules []*monitoringv1.PrometheusRule
	NetworkPolicies []*networkingv1.NetworkPolicy
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// strictDecode turns YAML into JSON and decodes it refusing unknown and
// duplicate fields, so that a misspelt or misplaced key fails instead of
// being dropped by the API server. sigs.k8s.io/json, as the API server uses,
// because encoding/json matches field names case-insensitively ("readonly"
// would pass for "readOnly").
func strictDecode(doc []byte, into any) error {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	strictErrs, err := sigsjson.UnmarshalStrict(js, into, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func decodeManifests(rendered []byte) (*manifests, error) {
	m := &manifests{}
	for _, doc := range docSeparator.Split(string(rendered), -1) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, err
		}
		if head.Kind == "" {
			continue // comments only
		}
		var err error
		switch gk := head.APIVersion + " " + head.Kind; gk {
		case "apps/v1 Deployment":
			err = decodeAppend(doc, &m.Deployments)
		case "apps/v1 DaemonSet":
			err = decodeAppend(doc, &m.DaemonSets)
		case "v1 Service":
			err = decodeAppend(doc, &m.Services)
		case "v1 ServiceAccount":
			err = decodeAppend(doc, &m.ServiceAccounts)
		case "v1 ConfigMap":
			err = decodeAppend(doc, &m.ConfigMaps)
		case "v1 Secret":
			err = decodeAppend(doc, &m.Secrets)
		case "v1 PersistentVolumeClaim":
			err = decodeAppend(doc, &m.PVCs)
		case "rbac.authorization.k8s.io/v1 Role":
			err = decodeAppend(doc, &m.Roles)
		case "rbac.authorization.k8s.io/v1 RoleBinding":
			err = decodeAppend(doc, &m.RoleBindings)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			err = decodeAppend(doc, &m.ServiceMonitors)
		case "monitoring.coreos.com/v1 PrometheusRule":
			err = decodeAppend(doc, &m.PrometheusRules)
		case "networking.k8s.io/v1 NetworkPolicy":
			err = decodeAppend(doc, &m.NetworkPolicies)
		default:
			return nil, fmt.Errorf("unexpected object %s", gk)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", head.APIVersion, head.Kind, err)
		}
	}
	return m, nil
}

func decodeAppend[T any](doc string, list *[]*T) error {
	obj := new(T)
	if err := strictDecode([]byte(doc), obj); err != nil {
		return err
	}
	*list = append(*list, obj)
	return nil
}
