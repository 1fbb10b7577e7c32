package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestExpositionMatchesPromhttp: whatever format a scraper asks for, with or
// without the name[] filter, /metrics answers exactly as promhttp does over
// every metric: status, content type and body, byte for byte. The capped
// families are written by the exporter itself in the text formats.
func TestExpositionMatchesPromhttp(t *testing.T) {
	p := distinctSessionsPipeline(t,
		[]byte(`{"timestamp":"2026-08-17T10:00:00Z","fields":{"message":"Session Start","session_id":"Q","client_user":"q\"uo\\te","client_name":"new\nline ünï","target":"pod/x"}}`),
		[]byte(`{"timestamp":"2026-08-17T10:00:01Z","fields":{"message":"Session End","session_id":"Q","session_duration":0.25,"client_user":"q\"uo\\te","client_name":"new\nline ünï","target":"pod/x"}}`),
		[]byte(`{"timestamp":"2026-08-17T10:00:02Z","fields":{"message":"Max seat count reached!","active_users":"25"}}`),
		[]byte(`{"timestamp":"2026-08-17T10:00:03Z","fields":{"message":"Message Processing","event_type":"http","mode":"steal","response_status_code":200}}`),
	)
	ours := newExpositionHandler(p.registry, p.capped, p.coll.Families(), 40, promhttpLogger{log.NewNopLogger()})
	theirs := promhttp.HandlerFor(prometheus.Gatherers{p.registry, p.capped}, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, EnableOpenMetrics: true, DisableCompression: true,
	})
	for _, accept := range []string{
		"",
		"text/plain;version=0.0.4",
		"text/plain;version=0.0.4;escaping=underscores",
		"application/openmetrics-text;version=1.0.0",
		"application/openmetrics-text;version=0.0.1",
		"application/openmetrics-text;version=2.0.0",
		// Prometheus 2.42's default.
		"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
		protobufAccept,
		"*/*",
		"application/json",
	} {
		for _, query := range []string{"", "?name[]=mirrord_sessions_started_total&name[]=mirrord_exporter_series&name[]=mirrord_session_duration_seconds"} {
			req := httptest.NewRequest(http.MethodGet, "/metrics"+query, nil)
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			got, want := httptest.NewRecorder(), httptest.NewRecorder()
			ours.ServeHTTP(got, req)
			theirs.ServeHTTP(want, req)
			if got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
				t.Errorf("Accept %q%s: status %d %q, promhttp %d %q", accept, query,
					got.Code, got.Header().Get("Content-Type"), want.Code, want.Header().Get("Content-Type"))
				continue
			}
			if !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
				t.Errorf("Accept %q%s: body differs from promhttp's:\n%s", accept, query, lineDiff(want.Body.String(), got.Body.String()))
			}
			if want.Body.Len() < 100 {
				t.Errorf("Accept %q%s: body of %d bytes", accept, query, want.Body.Len())
			}
		}
	}
}
