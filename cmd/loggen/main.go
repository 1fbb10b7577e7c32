// Command loggen writes a realistic mirrord operator log with known metric
// totals, for tests and benchmarks of the exporter.
//
//	loggen -sessions 500 -noise 0.95 -wrapper cri -nasty -big -o op.log -truth op.truth.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loggen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loggen.Config
	fs.Int64Var(&cfg.Seed, "seed", 1, "random seed: the same seed gives the same log")
	fs.IntVar(&cfg.Sessions, "sessions", 100, "sessions to simulate")
	start := fs.String("start", "", "time of the first record, RFC 3339 (default 2026-08-17T18:00:00Z)")
	fs.DurationVar(&cfg.Span, "span", loggen.DefaultSpan, "operator time the log covers")
	wrapper := fs.String("wrapper", "raw", "how the runtime stored the log: raw, docker or cri")
	fs.Float64Var(&cfg.NoiseRatio, "noise", 0.6, "share of non-functional records, in [0, 1)")
	fs.BoolVar(&cfg.BigLines, "big", false, "include records over 16 KiB")
	fs.BoolVar(&cfg.Nasty, "nasty", false, "include junk, truncated, stderr and invalid records")
	out := fs.String("o", "", "write the log to this file instead of stdout")
	truthFile := fs.String("truth", "", "write the expected metric values to this file as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loggen: unexpected arguments %q\n", fs.Args())
		return 2
	}
	var err error
	if cfg.Wrapper, err = loggen.ParseWrapper(*wrapper); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *start != "" {
		if cfg.Start, err = time.Parse(time.RFC3339Nano, *start); err != nil {
			fmt.Fprintf(stderr, "loggen: -start: %v\n", err)
			return 2
		}
	}
	if err := generate(cfg, *out, *truthFile, stdout); err != nil {
		fmt.Fprintf(stderr, "loggen: %v\n", err)
		return 1
	}
	return 0
}

func generate(cfg loggen.Config, out, truthFile string, stdout io.Writer) (err error) {
	w := stdout
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
		w = f
	}
	truth, err := loggen.Generate(w, cfg)
	if err != nil || truthFile == "" {
		return err
	}
	b, err := json.MarshalIndent(truth, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(truthFile, append(b, '\n'), 0o644)
}
