package decode

import "testing"

func benchmarkDecode(b *testing.B, rec string) {
	d := New(mustLabels(b, nil, nil))
	line := []byte(rec)
	var ev Event
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		d.Decode(line, &ev)
	}
}

func BenchmarkDecodeNonEvent(b *testing.B) {
	benchmarkDecode(b, `{"timestamp":"2026-08-17T18:15:08.583869Z","level":"DEBUG","fields":{"message":"polling pods","count":3},"target":"kube_runtime::controller","filename":"src/controller.rs","line_number":42,"threadId":"ThreadId(7)"}`)
}

func BenchmarkDecodeEvent(b *testing.B) {
	benchmarkDecode(b, `{"timestamp":"2026-08-17T18:15:08.583869Z","level":"INFO","fields":{"message":"Port Steal","client_hostname":"alice-mbp.local","client_name":"alice","client_user":"alice@corp.example","client_id":"9cb5dc5cbaa29eed","client_cli_version":"3.178.0","target_namespace":"shop","target_type":"deployment","target_name":"api","session_id":"5EF7258B5ED09466","port":8080,"http_filter":"path=/api"},"target":"operator_session::steal","threadId":"ThreadId(7)"}`)
}

// BenchmarkDecodeEscapedEvent: an event whose values hold escapes, which go
// through jsonstring.Unescape.
func BenchmarkDecodeEscapedEvent(b *testing.B) {
	benchmarkDecode(b, `{"timestamp":"2026-08-17T18:15:08.583869Z","level":"INFO","fields":{"message":"Port Steal","client_hostname":"alice-mbp.local","client_name":"Al\u00efce \"the\" admin","client_user":"alice@corp.example","target_namespace":"shop","target_type":"deployment","target_name":"api","session_id":"5EF7258B5ED09466","port":8080,"http_filter":"header=x-user: \"a\\/b\"\tpath=\/api\/v1"},"target":"operator_session::steal"}`)
}
