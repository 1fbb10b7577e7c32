package kube

import (
	"errors"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons of mirrord_exporter_kubernetes_reconnects_total: why the previous
// log stream or pod watch ended.
const (
	reasonEOF          = "eof"           // the server ended the stream (stream timeout, container exit)
	reasonError        = "error"         // request or read failed (network, API server restart)
	reasonForbidden    = "forbidden"     // 403: RBAC missing
	reasonNotFound     = "not_found"     // 404: pod gone, or not yet visible to the kubelet
	reasonMismatch     = "mismatch"      // the resumed stream was not the log being read
	reasonWatchExpired = "watch_expired" // 410: resource version too old, relisted
)

var reconnectReasons = []string{reasonEOF, reasonError, reasonForbidden, reasonNotFound, reasonMismatch, reasonWatchExpired}

// Operations of mirrord_exporter_kubernetes_api_errors_total.
const (
	opList  = "list"
	opWatch = "watch"
	opLogs  = "logs"
)

// metrics are the follower's own health metrics. Lines and bytes read are
// counted by the Sink's owner.
type metrics struct {
	streamsOpen prometheus.Gauge
	podsFollow  prometheus.Gauge
	reconnects  *prometheus.CounterVec
	apiErrors   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		streamsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mirrord_exporter_kubernetes_streams_open",
			Help: "Number of pod log streams currently open to the Kubernetes API server.",
		}),
		podsFollow: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mirrord_exporter_kubernetes_pods_followed",
			Help: "Number of matching pods whose operator container log is being followed (streaming, or waiting to reconnect).",
		}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_kubernetes_reconnects_total",
			Help: "Number of pod log streams and pod watches opened again, by why the previous one ended: eof, error, forbidden, not_found, mismatch (the resumed stream was another container's log) or watch_expired.",
		}, []string{"reason"}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_kubernetes_api_errors_total",
			Help: "Number of failed Kubernetes API requests, by operation (list, watch or logs) and HTTP status code (none when no response came).",
		}, []string{"op", "code"}),
	}
	for _, r := range reconnectReasons {
		m.reconnects.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.streamsOpen, m.podsFollow, m.reconnects, m.apiErrors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register kubernetes metrics: %w", err)
		}
	}
	return m, nil
}

// apiError counts a failed request.
func (m *metrics) apiError(op string, err error) {
	m.apiErrors.WithLabelValues(op, statusCode(err)).Inc()
}

// statusCode is the HTTP status of an API error, or "none".
func statusCode(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Code != 0 {
		return strconv.Itoa(int(st.Status().Code))
	}
	return "none"
}
