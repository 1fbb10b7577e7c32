package loggen

import (
	"sort"
	"strings"
)

// SeriesKey names one series the way the Prometheus text format writes it:
// name{a="x",b="y"} with the labels sorted by name and the values escaped
// (backslash, double quote and newline), or the bare name without labels.
func SeriesKey(name string, labels map[string]string) string {
	if len(labels) == 0 {
		return name
	}
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteString(`="`)
		writeLabelValue(&b, labels[k])
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func writeLabelValue(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
}
