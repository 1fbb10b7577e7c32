package collector

import (
	"testing"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
)

func mustLabels(t testing.TB, add, remove []string) decode.LabelConfig {
	t.Helper()
	cfg, err := decode.NewLabelConfig(add, remove)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
