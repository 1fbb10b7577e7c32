package file

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of the self-metrics.
const (
	rotationRename   = "rename"
	rotationTruncate = "truncate"

	lostTruncated = "truncated"

	opOpen = "open"
	opRead = "read"
	opStat = "stat"
)

// metrics are the source's own health metrics. Lines and bytes read are
// counted by the input.Sink's owner, not here.
type metrics struct {
	filesFollowed prometheus.Gauge
	rotations     *prometheus.CounterVec
	bytesLost     *prometheus.CounterVec
	fileErrors    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		filesFollowed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mirrord_exporter_files_followed",
			Help: "Number of log files currently held open by the exporter.",
		}),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_file_rotations_total",
			Help: "Number of log file rotations detected, by kind: rename (the path now names a new file) or truncate (the file was truncated in place).",
		}, []string{"kind"}),
		bytesLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_log_bytes_lost_total",
			Help: "Number of log bytes known to have been written but never read, by reason.",
		}, []string{"reason"}),
		fileErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_file_errors_total",
			Help: "Number of failed operations on log files, by operation (open, read or stat); failed operations are retried.",
		}, []string{"op"}),
	}
	// Pre-initialise every label value so the series exist (at 0) from the start.
	for _, k := range []string{rotationRename, rotationTruncate} {
		m.rotations.WithLabelValues(k)
	}
	m.bytesLost.WithLabelValues(lostTruncated)
	for _, op := range []string{opOpen, opRead, opStat} {
		m.fileErrors.WithLabelValues(op)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.filesFollowed, m.rotations, m.bytesLost, m.fileErrors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register source metrics: %w", err)
		}
	}
	return m, nil
}
