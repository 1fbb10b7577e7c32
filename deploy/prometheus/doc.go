// Package prometheus holds the Prometheus rules for the mirrord exporter:
// recording-rules.yml (used by the dashboards), alerts.yml, and their
// promtool unit tests under tests/. The Go tests run promtool on them.
package prometheus
