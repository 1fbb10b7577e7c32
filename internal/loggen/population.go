package loggen

import (
	"hash/fnv"
	"math/rand/v2"
	"strconv"
)

// client is one mirrord user's CLI, as the operator's records describe it.
type client struct {
	user, name, host, id, version string
	favs                          []int // indices into population.targets this user works on
}

// target is a workload in the cluster.
type target struct {
	ns, typ, name, container string
}

// path is the documented `target` string: "deployment/app/container/main",
// or without the container part.
func (t target) path(withContainer bool) string {
	s := t.typ + "/" + t.name
	if withContainer && t.container != "" {
		s += "/container/" + t.container
	}
	return s
}

// repr is how a record spells its target. The exporter takes target_type and
// target_name when either is present and otherwise derives them from the
// `target` string; target_namespace is never derived.
type repr uint8

const (
	reprFields       repr = iota // target_namespace, target_type, target_name
	reprFieldsString             // those and the `target` string
	reprString                   // only `target`: the namespace label is ""
	reprStringNS                 // target_namespace and `target`
	reprNone                     // targetless: no target field at all
	reprNoneNS                   // targetless with only target_namespace
	reprTargetless               // target: "targetless"
	reprTargetlessNS             // target_namespace and target: "targetless"
)

// flattenable tells whether a record may use the flattened layout, where
// the top-level `target` is the module path: a record whose target is only
// known from the `target` string cannot.
func (r repr) flattenable() bool {
	return r == reprFields || r == reprFieldsString || r == reprNone || r == reprNoneNS
}

// party is who a record is about: the client and the target as spelled.
type party struct {
	c         *client
	t         target
	repr      repr
	container bool              // the `target` string has a container part
	labels    map[string]string // the five default labels; never modified
}

func newParty(c *client, t target, r repr, container bool) *party {
	p := &party{c: c, t: t, repr: r, container: container}
	ns, typ, name := t.ns, t.typ, t.name
	switch r {
	case reprString:
		ns = ""
	case reprNone, reprTargetless:
		ns, typ, name = "", "targetless", ""
	case reprNoneNS, reprTargetlessNS:
		typ, name = "targetless", ""
	}
	p.labels = map[string]string{
		"client_user":      c.user,
		"client_name":      c.name,
		"target_namespace": ns,
		"target_type":      typ,
		"target_name":      name,
	}
	return p
}

// with gives the party's labels plus one more.
func (p *party) with(k, v string) map[string]string {
	m := make(map[string]string, len(p.labels)+1)
	for lk, lv := range p.labels {
		m[lk] = lv
	}
	m[k] = v
	return m
}

// population is the fixed cast of a log: its users and workloads.
type population struct {
	clients []*client
	targets []target
}

// knownUsers lists client_user, client_name and client_hostname. The first
// ones are always used: a Windows domain user (backslash), a user with a
// double quote, non-ASCII names and a CI service account exercise label
// escaping and JSON escaping.
func knownUsers() [][3]string {
	return [][3]string{
		{"alice@corp.example", "alice", "alice-mbp.local"},
		{`CORP\dave`, "dave", "DAVE-PC"},
		{`eve.o"neil@corp.example`, "eve", "eve-thinkpad"},
		{"zoë@corp.example", "zoë", "zoe-laptop"},
		{"田中@corp.example", "tanaka", "tanaka-mac.local"},
		{"system:serviceaccount:ci:mirrord-ci", "runner", "gha-runner-7x9k2"},
		{"bob@corp.example", "bob", "bob-xps"},
		{"carol@corp.example", "carol", "carol-dev-vm"},
		{"grace@corp.example", "grace", "grace-mbp.local"},
		{"heidi@corp.example", "heidi", "heidi-wsl"},
		{"ivan@corp.example", "ivan", "ivan-desktop"},
		{"judy@corp.example", "judy", "judy-air.local"},
		{"mallory@contractor.example", "mallory", "mallory-x1"},
		{"oscar@corp.example", "oscar", "oscar-mbp.local"},
		{"peggy@corp.example", "peggy", "peggy-fw13"},
		{"trent@corp.example", "trent", "trent-linux"},
	}
}

func knownTargets() []target {
	return []target{
		{"shop", "deployment", "checkout", "main"},
		{"shop", "deployment", "cart", "app"},
		{"shop", "rollout", "web", "web"},
		{"shop", "pod", "shop-worker-6f7d8c9b4-tq2mz", "worker"},
		{"payments", "deployment", "ledger", "ledger"},
		{"payments", "statefulset", "postgres", "db"},
		{"payments", "cronjob", "settle", "job"},
		{"default", "deployment", "api", "main"},
		{"default", "pod", "debug-shell", "shell"},
		{"staging", "deployment", "api", "main"},
		{"staging", "rollout", "canary", "app"},
		{"team-a", "deployment", "ingest", "ingest"},
		{"team-a", "job", "migrate", "migrate"},
		{"team-a", "deployment", "ingest-v2", "ingest"},
	}
}

func newPopulation(rng *rand.Rand) *population {
	users := knownUsers()
	n := 8 + rng.IntN(len(users)-8+1)
	versions := []string{"3.166.0", "3.170.1", "3.178.0", "3.188.2", "3.190.0"}
	p := &population{targets: knownTargets()}
	for _, u := range users[:n] {
		h := fnv.New64a()
		h.Write([]byte(u[0]))
		c := &client{
			user: u[0], name: u[1], host: u[2],
			id:      strconv.FormatUint(h.Sum64(), 16),
			version: versions[rng.IntN(len(versions))],
		}
		if rng.IntN(6) == 0 {
			c.version = "" // a CLI older than 3.166 sends none
		}
		for range 1 + rng.IntN(4) {
			c.favs = append(c.favs, rng.IntN(len(p.targets)))
		}
		p.clients = append(p.clients, c)
	}
	return p
}

// pickParty chooses a client and, usually, one of its targets.
func (p *population) pickParty(rng *rand.Rand) *party {
	c := p.clients[rng.IntN(len(p.clients))]
	t := p.targets[c.favs[rng.IntN(len(c.favs))]]
	if rng.IntN(7) == 0 {
		// Targetless: keep only the namespace the client had selected.
		return newParty(c, target{ns: t.ns}, []repr{reprNone, reprNoneNS, reprTargetless, reprTargetlessNS}[rng.IntN(4)], false)
	}
	return newParty(c, t, targetedRepr(rng), rng.IntN(2) == 0)
}

func targetedRepr(rng *rand.Rand) repr {
	switch n := rng.IntN(20); {
	case n < 12:
		return reprFields
	case n < 15:
		return reprFieldsString
	case n < 18:
		return reprString
	default:
		return reprStringNS
	}
}

// copyParty is the session party after a Copy Target of orig: the same
// client on a fresh mirrord-copy-* pod in the same namespace.
func copyParty(rng *rand.Rand, orig *party) *party {
	const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	suffix := make([]byte, 5)
	for i := range suffix {
		suffix[i] = alnum[rng.IntN(len(alnum))]
	}
	t := target{ns: orig.t.ns, typ: "pod", name: "mirrord-copy-" + orig.t.name + "-" + string(suffix), container: orig.t.container}
	return newParty(orig.c, t, targetedRepr(rng), rng.IntN(2) == 0)
}
