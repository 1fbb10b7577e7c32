package chartcheck

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// dockerBuild is the build stage of the Dockerfile: its ENV and ARG
// defaults, and the RUN line that runs go build.
type dockerBuild struct {
	env   []string
	build string
	final string // the instructions of the last stage
}

var continuation = regexp.MustCompile(`\\\n\s*`)

func parseDockerfile(t *testing.T) dockerBuild {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var d dockerBuild
	stages := 0
	for _, line := range strings.Split(continuation.ReplaceAllString(string(src), " "), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		if instr == "FROM" {
			stages++
		}
		if stages > 1 {
			d.final += line + "\n"
			continue
		}
		switch instr {
		case "ENV", "ARG":
			// KEY=VALUE pairs without spaces in the values: enough for ours.
			for _, kv := range strings.Fields(rest) {
				if strings.Contains(kv, "=") {
					d.env = append(d.env, kv)
				}
			}
		case "RUN":
			if strings.Contains(rest, "go build") {
				d.build = rest
			}
		}
	}
	if d.build == "" || stages != 2 {
		t.Fatalf("Dockerfile: want two stages and a RUN with go build, got %d stages, build %q", stages, d.build)
	}
	return d
}

// Values the test injects, to find them in --version.
const (
	testVersion  = "9.8.7-chartcheck"
	testRevision = "0123456789abcdef"
)

var (
	exporterOnce sync.Once
	exporterPath string
	exporterErr  string
)

// exporterBinary builds the exporter with the Dockerfile's own command, once.
func exporterBinary(t *testing.T) string {
	t.Helper()
	exporterOnce.Do(func() {
		d := parseDockerfile(t)
		const out = "/out/exporter"
		if !strings.Contains(d.build, "-o "+out) || !strings.Contains(d.final, "COPY --from=build "+out+" ") {
			exporterErr = "the build stage must write " + out + " and the final stage copy it"
			return
		}
		dir, err := os.MkdirTemp("", "chartcheck")
		if err != nil {
			exporterErr = err.Error()
			return
		}
		// Shared by the tests; TestMain removes it.
		path := filepath.Join(dir, "exporter")
		exporterErr = "the build failed (see the first test that ran it)"
		env := append(d.env, "VERSION="+testVersion, "REVISION="+testRevision)
		run(t, repoRoot, env, "sh", "-c", strings.Replace(d.build, out, path, 1))
		exporterPath = path
	})
	if exporterPath == "" {
		t.Fatalf("exporter binary: %s", exporterErr)
	}
	return exporterPath
}

func TestDockerfile(t *testing.T) {
	d := parseDockerfile(t)
	for _, want := range []string{"CGO_ENABLED=0", "GOWORK=off"} {
		if !strings.Contains(strings.Join(d.env, " "), want) {
			t.Errorf("build stage does not set %s", want)
		}
	}
	for _, want := range []string{"-trimpath", `-s -w`, "version.Version=${VERSION:-$(cat VERSION)}", "version.Revision=${REVISION}",
		"version.Branch=${BRANCH}", "version.BuildUser=${BUILD_USER}", "version.BuildDate=${BUILD_DATE}"} {
		if !strings.Contains(d.build, want) {
			t.Errorf("go build line lacks %s: %s", want, d.build)
		}
	}
	// EXPOSE documents the exporter's own default port.
	listen := regexp.MustCompile(`--web\.listen-address=:(\d+)`).FindSubmatch(exporterHelp(t))
	if listen == nil {
		t.Fatal("no default --web.listen-address in --help")
	}
	for _, want := range []string{"FROM gcr.io/distroless/static-debian12:nonroot", "USER nonroot", "EXPOSE " + string(listen[1]),
		"org.opencontainers.image.source=", "org.opencontainers.image.version=", "org.opencontainers.image.revision=",
		`ENTRYPOINT ["/bin/mirrord-exporter"]`} {
		if !strings.Contains(d.final, want) {
			t.Errorf("final stage lacks %s", want)
		}
	}

	bin := exporterBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A static binary has no interpreter and no dynamic section: it runs on
	// distroless static or scratch, which have no libc.
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("binary is not static: has %s", p.Type)
		}
	}
	if f.Section(".dynamic") != nil {
		t.Error("binary is not static: has a .dynamic section")
	}

	// kingpin has printed the version on stderr or stdout across releases.
	outb, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, outb)
	}
	out := string(outb)
	for _, want := range []string{testVersion, testRevision} {
		if !strings.Contains(out, want) {
			t.Errorf("--version does not show %s:\n%s", want, out)
		}
	}

	// Without --build-arg VERSION, the VERSION file's version: never empty.
	version, err := os.ReadFile(filepath.Join(repoRoot, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(t.TempDir(), "exporter")
	run(t, repoRoot, d.env, "sh", "-c", strings.Replace(d.build, "/out/exporter", plain, 1))
	if outb, err = exec.Command(plain, "--version").CombinedOutput(); err != nil {
		t.Fatalf("--version: %v\n%s", err, outb)
	}
	if want := "version " + strings.TrimSpace(string(version)); !strings.Contains(string(outb), want) {
		t.Errorf("built without VERSION, --version does not show %q:\n%s", want, outb)
	}
}
