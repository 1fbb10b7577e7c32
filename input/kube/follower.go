package kube

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// Input is the input name every Sink is made with.
const Input = "kubernetes"

// Defaults of the Config fields left empty.
const (
	DefaultNamespace     = "mirrord"
	DefaultLabelSelector = "app=mirrord-operator"
	DefaultContainer     = "mirrord-operator"
	DefaultMaxLineBytes  = 1 << 20
	DefaultMinBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
)

// Config configures a Follower.
type Config struct {
	// Kubeconfig names a kubeconfig file. Empty means the in-cluster
	// service account, else $KUBECONFIG, else ~/.kube/config.
	Kubeconfig string
	// REST, when set, is used instead of Kubeconfig.
	REST *rest.Config
	// Namespace, LabelSelector and Container select the logs followed: that
	// container of every pod in Namespace that LabelSelector matches.
	// Empty means DefaultNamespace, DefaultLabelSelector, DefaultContainer.
	Namespace     string
	LabelSelector string
	Container     string
	// NewSink makes the Sink of one container log, with input Input and
	// name "<namespace>/<pod>/<container>". A restarted container is a new
	// log: its Sink is made after the previous one's Close.
	NewSink func(input, name string) input.Sink
	// MaxLineBytes is the longest line handed over, timestamp excluded;
	// longer ones go to Sink.LineTooLong. Zero means DefaultMaxLineBytes.
	MaxLineBytes int
	// MinBackoff and MaxBackoff bound the delay before reconnecting, which
	// doubles from MinBackoff while attempts fail. MaxBackoff also is how
	// long a resumed stream may keep looking like another log before it is
	// taken as is. Zero means DefaultMinBackoff, DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	Logger                 log.Logger
	// Registerer takes the follower's self-metrics; nil registers none.
	Registerer prometheus.Registerer
	// Gate, when set, is entered around every line delivered, and the
	// container logs publish their positions (see Positions) inside it.
	Gate *input.Gate
	// Resume are the positions saved by an earlier run: a container
	// instance with one is read from there. Only the current and the
	// previous instance of a container can be read; the logs of instances
	// that came and went while the exporter was down are lost, and said so.
	Resume []Position
}

// Follower follows the logs of the matching pods.
type Follower struct {
	cfg     Config
	logger  log.Logger
	client  rest.Interface
	params  runtime.ParameterCodec
	metrics *metrics

	ready     chan struct{}
	readyOnce sync.Once
	running   atomic.Bool
	wg        sync.WaitGroup // one per container log being followed

	mu     sync.Mutex
	pods   map[types.UID]*podState
	denied map[string]bool // operations refused with 403, logged once until they succeed
	noPods bool            // the last list matched no pod and none was seen since
	// resume holds the saved positions no instance took yet, by pod UID
	// and container ID; live the instances whose positions are saved.
	resume map[resumeKey]Position
	live   map[*instance]bool
}

type resumeKey struct{ podUID, containerID string }

// New checks cfg, finds the API server and registers the self-metrics. It
// does not contact the API server: Run does, and keeps retrying.
func New(cfg Config) (*Follower, error) {
	if cfg.NewSink == nil {
		return nil, errors.New("kube: NewSink is required")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.LabelSelector == "" {
		cfg.LabelSelector = DefaultLabelSelector
	}
	if cfg.Container == "" {
		cfg.Container = DefaultContainer
	}
	if _, err := labels.Parse(cfg.LabelSelector); err != nil {
		return nil, fmt.Errorf("kube: label selector %q: %w", cfg.LabelSelector, err)
	}
	if cfg.MaxLineBytes == 0 {
		cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	switch {
	case cfg.MaxLineBytes < 0:
		return nil, fmt.Errorf("kube: negative max line bytes %d", cfg.MaxLineBytes)
	case cfg.MinBackoff < 0 || cfg.MaxBackoff < cfg.MinBackoff:
		return nil, fmt.Errorf("kube: backoff bounds %s..%s are not increasing", cfg.MinBackoff, cfg.MaxBackoff)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = log.NewNopLogger()
	}
	rc := cfg.REST
	if rc == nil {
		var err error
		if rc, err = loadRESTConfig(cfg.Kubeconfig); err != nil {
			return nil, fmt.Errorf("kube: %w", err)
		}
	}
	client, params, err := newRESTClient(rc, logger)
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	resume := make(map[resumeKey]Position, len(cfg.Resume))
	for _, p := range cfg.Resume {
		resume[resumeKey{p.PodUID, p.ContainerID}] = p
	}
	return &Follower{
		cfg:     cfg,
		logger:  logger,
		client:  client,
		params:  params,
		metrics: m,
		ready:   make(chan struct{}),
		pods:    make(map[types.UID]*podState),
		denied:  make(map[string]bool),
		resume:  resume,
		live:    make(map[*instance]bool),
	}, nil
}

// Positions returns the position of every container log being read. The
// caller must hold the Gate closed: positions are published inside it,
// with the lines delivered. Saved positions not taken yet (before the
// first pod list) are returned too, so that a save then loses nothing.
func (f *Follower) Positions() []Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Position, 0, len(f.live)+len(f.resume))
	for in := range f.live {
		out = append(out, in.published)
	}
	for _, p := range f.resume {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Position) int {
		return cmp.Or(cmp.Compare(a.PodUID, b.PodUID), cmp.Compare(a.RestartCount, b.RestartCount), cmp.Compare(a.ContainerID, b.ContainerID))
	})
	return out
}

// takeResume returns the saved position of a container instance, if any,
// and forgets it. f.mu is held.
func (f *Follower) takeResume(podUID types.UID, containerID string) (Position, bool) {
	k := resumeKey{string(podUID), containerID}
	p, ok := f.resume[k]
	delete(f.resume, k)
	return p, ok
}

// hasResume reports whether a container instance has a saved position.
// f.mu is held.
func (f *Follower) hasResume(podUID types.UID, containerID string) bool {
	_, ok := f.resume[resumeKey{string(podUID), containerID}]
	return ok
}

// dropUnusedResume logs the saved positions of the logs no pod serves any
// more, after the first pod list, and forgets them.
func (f *Follower) dropUnusedResume() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, p := range f.resume {
		level.Warn(f.logger).Log("msg", "A container log read before the restart is no longer served (pod deleted, or container restarted more than once); what was left of it is lost", "log", p.Namespace+"/"+p.Pod+"/"+p.Container, "container_id", p.ContainerID, "last_read", p.Last)
		delete(f.resume, k)
	}
}

// Ready is closed once the pods were first listed: until then the exporter
// cannot know it is following anything.
func (f *Follower) Ready() <-chan struct{} { return f.ready }

// Run watches the pods and follows their logs until ctx is cancelled. API
// errors are retried, never returned. When Run returns, every Sink made was
// closed.
func (f *Follower) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("kube: Run called twice")
	}
	level.Info(f.logger).Log("msg", "Following pod logs through the Kubernetes API", "namespace", f.cfg.Namespace, "selector", f.cfg.LabelSelector, "container", f.cfg.Container)
	f.watchPods(ctx)
	f.wg.Wait()
	return nil
}

// permission names the RBAC rule an operation needs.
func permission(op string) string {
	switch op {
	case opList:
		return "list on pods"
	case opWatch:
		return "watch on pods"
	default:
		return "get on pods/log"
	}
}

// forbidden logs a 403 once per operation, naming the missing permission,
// until the operation succeeds again: retries do not repeat it.
func (f *Follower) forbidden(op string, err error) {
	f.mu.Lock()
	logged := f.denied[op]
	f.denied[op] = true
	f.mu.Unlock()
	if logged {
		level.Debug(f.logger).Log("msg", "Still forbidden", "op", op, "err", err)
		return
	}
	level.Error(f.logger).Log("msg", fmt.Sprintf("Missing RBAC permission: the exporter's service account needs %s in namespace %s (the Helm chart's rbac.create, on by default, creates this Role; keep it true and operator.namespace the operator's namespace); retrying with backoff", permission(op), f.cfg.Namespace), "op", op, "err", err)
}

// allowed notes that op succeeded, so that a later 403 is logged again.
func (f *Follower) allowed(op string) {
	f.mu.Lock()
	was := f.denied[op]
	delete(f.denied, op)
	f.mu.Unlock()
	if was {
		level.Info(f.logger).Log("msg", "Kubernetes API permission granted now", "permission", permission(op), "namespace", f.cfg.Namespace)
	}
}

// noPodsListed logs at error level when a list matches no pod, once until a
// pod matches again: with no pod there is nothing to read, and the usual
// cause is a namespace or selector that does not name the operator.
func (f *Follower) noPodsListed(none bool) {
	f.mu.Lock()
	was := f.noPods
	f.noPods = none
	f.mu.Unlock()
	if none && !was {
		level.Error(f.logger).Log("msg", fmt.Sprintf("No pod in namespace %s matches label selector %s, so no operator log is read; set the Helm chart's operator.namespace and operator.labelSelector (--kubernetes.namespace, --kubernetes.label-selector) to the mirrord operator's; watching for one", f.cfg.Namespace, f.cfg.LabelSelector))
	}
}
