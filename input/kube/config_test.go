package kube

import (
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

func TestNewChecksConfig(t *testing.T) {
	sink := func(string, string) input.Sink { return nopSink{} }
	rc := &rest.Config{Host: "http://127.0.0.1:1"}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{REST: rc}, "NewSink is required"},
		{Config{REST: rc, NewSink: sink, LabelSelector: "app in (a"}, "label selector"},
		{Config{REST: rc, NewSink: sink, MaxLineBytes: -1}, "negative max line bytes"},
		{Config{REST: rc, NewSink: sink, MinBackoff: 2, MaxBackoff: 1}, "backoff bounds"},
		{Config{NewSink: sink, Kubeconfig: "/nonexistent/kubeconfig"}, "kubeconfig /nonexistent/kubeconfig"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error saying %q", tc.cfg, err, tc.want)
		}
	}
	f, err := New(Config{REST: rc, NewSink: sink})
	if err != nil {
		t.Fatal(err)
	}
	if f.cfg.Namespace != DefaultNamespace || f.cfg.LabelSelector != DefaultLabelSelector || f.cfg.Container != DefaultContainer || f.cfg.MaxLineBytes != DefaultMaxLineBytes {
		t.Errorf("defaults not applied: %+v", f.cfg)
	}
}
