package kube

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// userAgent identifies the exporter in the API server's audit log.
const userAgent = "mirrord-exporter"

// loadRESTConfig finds the API server: the in-cluster service account when
// no kubeconfig is named, else the kubeconfig file, else clientcmd's
// defaults ($KUBECONFIG, then ~/.kube/config) with its current context.
func loadRESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		c, err := rest.InClusterConfig()
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, fmt.Errorf("in-cluster config: %w", err)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		if kubeconfig == "" {
			return nil, fmt.Errorf("not in a cluster, and no usable kubeconfig ($KUBECONFIG or ~/.kube/config): %w", err)
		}
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return c, nil
}

// newRESTClient returns a client for the core/v1 API that knows only the
// core/v1 types. The generated typed client would do the same through a
// scheme of every built-in API group, which makes the exporter 24 MB
// bigger (measured).
func newRESTClient(base *rest.Config, logger log.Logger) (*rest.RESTClient, runtime.ParameterCodec, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, nil, fmt.Errorf("core/v1 scheme: %w", err)
	}
	c := rest.CopyConfig(base)
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.APIPath = "/api"
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = userAgent
	}
	if c.WarningHandler == nil && c.WarningHandlerWithContext == nil {
		c.WarningHandlerWithContext = warningLogger{logger}
	}
	client, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return client, runtime.NewParameterCodec(scheme), nil
}

// warningLogger sends the API server's deprecation and policy warnings to
// the exporter's log instead of klog's.
type warningLogger struct{ logger log.Logger }

func (w warningLogger) HandleWarningHeaderWithContext(_ context.Context, code int, agent, text string) {
	if code != 299 || text == "" {
		return
	}
	level.Warn(w.logger).Log("msg", "Kubernetes API warning", "agent", agent, "warning", text)
}
