package kubetest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// TestClientGo drives the server with client-go through the kubeconfig it
// writes: list, a refused then a served log, a stream cut early, a watch.
func TestClientGo(t *testing.T) {
	s := Start(t, Config{})
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %s, want http://127.0.0.1:port", s.URL())
	}
	start := time.Date(2026, 8, 17, 18, 0, 0, 0, time.UTC)
	p := s.AddPod("op-0", PodOptions{ForbidLogs: 1, Cuts: []Cut{{At: 1, Clean: true}}})
	s.Append(p, Line{start, "one"}, Line{start.Add(time.Second), "two"})
	s.AddPod("other", PodOptions{Labels: map[string]string{"app": "other"}})

	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	// A core/v1 client as package podlogs makes one (the typed clientset
	// would pull in every API group).
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.APIPath = "/api"
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	c, err := rest.RESTClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	params := runtime.NewParameterCodec(scheme)
	pods := func() *rest.Request { return c.Get().Namespace(DefaultNamespace).Resource("pods") }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list := &corev1.PodList{}
	err = pods().VersionedParams(&metav1.ListOptions{LabelSelector: "app=mirrord-operator"}, params).Do(ctx).Into(list)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "op-0" {
		t.Fatalf("list: %+v, want op-0 only", list.Items)
	}

	logs := func(o corev1.PodLogOptions) (string, error) {
		o.Container = DefaultContainer
		rc, err := pods().Name("op-0").SubResource("log").VersionedParams(&o, params).Stream(ctx)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	if _, err := logs(corev1.PodLogOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("first log request: %v, want 403", err)
	}
	// The cut ends the first stream before line 1, cleanly.
	if got, err := logs(corev1.PodLogOptions{Follow: true}); err != nil || got != "one\n" {
		t.Errorf("cut stream: %q, %v; want %q", got, err, "one\n")
	}
	since := metav1.NewTime(start.Add(time.Second))
	got, err := logs(corev1.PodLogOptions{Timestamps: true, SinceTime: &since})
	if want := "2026-08-17T18:00:01Z two\n"; err != nil || got != want {
		t.Errorf("log since %v: %q, %v; want %q", since, got, err, want)
	}
	if reqs := s.LogRequests("op-0"); len(reqs) != 3 || reqs[2].SinceTime != "2026-08-17T18:00:01Z" {
		t.Errorf("log requests: %+v", reqs)
	}

	w, err := pods().VersionedParams(&metav1.ListOptions{
		Watch: true, LabelSelector: "app=mirrord-operator", ResourceVersion: list.ResourceVersion,
	}, params).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	s.DeletePod(p)
	for _, want := range []string{"MODIFIED", "DELETED"} {
		if ev := <-w.ResultChan(); string(ev.Type) != want {
			t.Fatalf("watch event %s, want %s", ev.Type, want)
		}
	}
	if _, err := logs(corev1.PodLogOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("log of a deleted pod: %v, want 404", err)
	}

	s.ExpireWatches(false)
	_, err = pods().VersionedParams(&metav1.ListOptions{Watch: true, ResourceVersion: list.ResourceVersion}, params).Watch(ctx)
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("watch from an expired version: %v, want 410", err)
	}
	s.ForbidList(true)
	if err := pods().Do(ctx).Error(); !apierrors.IsForbidden(err) {
		t.Errorf("forbidden list: %v, want 403", err)
	}
	resp, err := http.Get(s.URL() + "/api/v1/namespaces/elsewhere/pods")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("other namespace: %s, want 404", resp.Status)
	}
}
