package unwrap

import "testing"

func TestPushZeroAllocs(t *testing.T) {
	// steadyLines are the lines that must not allocate once a Stream is warm:
	// raw, unsplit Docker (with escapes, so the unescape buffer is used) and
	// CRI F lines.
	steadyLines := map[string]struct {
		format Format
		line   string
		want   string
		before []string // pushed first, to warm up a join
	}{
		"raw":              {format: Auto, line: tracingLine, want: tracingLine},
		"docker":           {format: Auto, line: dockerLine(tracingInLog+`\n`, "stdout"), want: tracingLine},
		"docker no esc":    {format: Auto, line: dockerLine(`plain text\n`, "stdout"), want: "plain text"},
		"docker forced":    {format: Docker, line: dockerLine(tracingInLog+`\n`, "stderr"), want: tracingLine},
		"cri":              {format: Auto, line: criLine("stdout", "F", tracingLine), want: tracingLine},
		"cri forced":       {format: CRI, line: criLine("stderr", "F", tracingLine), want: tracingLine},
		"cri after a join": {format: Auto, line: criLine("stdout", "F", tracingLine), want: tracingLine, before: []string{criLine("stdout", "P", "x"), criLine("stdout", "F", "y")}},
	}
	for name, tc := range steadyLines {
		t.Run(name, func(t *testing.T) {
			s := NewStream(tc.format, 0)
			for _, l := range tc.before {
				s.Push([]byte(l))
			}
			line := []byte(tc.line)
			if payload, st := s.Push(line); st != Record || string(payload) != tc.want {
				t.Fatalf("got %v %q, want Record %q", st, payload, tc.want)
			}
			allocs := testing.AllocsPerRun(1000, func() {
				s.Push(line)
			})
			if allocs != 0 {
				t.Errorf("%v allocations per line, want 0", allocs)
			}
		})
	}
}

// benchmarkPush measures pushing line to s again and again; the first push
// must give want.
func benchmarkPush(b *testing.B, s *Stream, line string, want Status) {
	buf := []byte(line)
	if _, st := s.Push(buf); st != want {
		b.Fatalf("status %v, want %v", st, want)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		s.Push(buf)
	}
}

func BenchmarkPushRaw(b *testing.B) {
	benchmarkPush(b, NewStream(Auto, 0), tracingLine, Record)
}

func BenchmarkPushDocker(b *testing.B) {
	benchmarkPush(b, NewStream(Auto, 0), dockerLine(tracingInLog+`\n`, "stdout"), Record)
}

// BenchmarkPushDockerSkip measures a Docker line that SkipRecord turns
// down: validated, not unescaped.
func BenchmarkPushDockerSkip(b *testing.B) {
	s := NewStream(Auto, 0)
	s.SkipRecord = func([]byte) bool { return true }
	benchmarkPush(b, s, dockerLine(tracingInLog+`\n`, "stdout"), Skipped)
}

func BenchmarkPushCRI(b *testing.B) {
	benchmarkPush(b, NewStream(Auto, 0), criLine("stdout", "F", tracingLine), Record)
}

// BenchmarkPushCRIJoin measures a record split in 3 parts (not required to
// be allocation free, but it is once the join buffer has grown).
func BenchmarkPushCRIJoin(b *testing.B) {
	s := NewStream(Auto, 0)
	lines := [][]byte{
		[]byte(criLine("stdout", "P", tracingLine[:40])),
		[]byte(criLine("stdout", "P", tracingLine[40:80])),
		[]byte(criLine("stdout", "F", tracingLine[80:])),
	}
	var n int64
	for _, l := range lines {
		n += int64(len(l))
	}
	b.ReportAllocs()
	b.SetBytes(n)
	for b.Loop() {
		for _, l := range lines {
			s.Push(l)
		}
	}
}
