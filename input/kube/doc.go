// Package kube follows the mirrord operator's logs through the Kubernetes
// API server, the way `kubectl logs -f --timestamps` does, and hands every
// line, in order, to a per-container-log input.Sink: no line lost, none delivered
// twice.
//
// It watches the pods that match a label selector (a hand-written list and
// watch, relisting when the watch's resource version has expired) and
// streams the log of one container of each with follow=true and
// timestamps=true, through a REST client that knows the core/v1 types only:
// the generated clientset (even just its core/v1 part, which registers every
// API group) and informers would make the exporter about 24 MB bigger.
//
// # Exactly once across reconnects
//
// The kubelet prefixes every line with its RFC 3339 timestamp and, given
// sinceTime (whole seconds), resends every line stamped at or after it, in
// log order. A Position keeps the newest timestamp read, how many lines read
// so far are stamped in or after its second, and the timestamp of the first
// of them. A dropped stream is resumed at that second and exactly that many
// lines are skipped, which holds even when timestamps are not monotonic
// within a second (stdout and stderr are stamped apart).
//
// The pod status the watch shows can lag behind the kubelet, which resolves
// the container name to the newest container at each request. So the first
// line resent must carry the recorded timestamp; if not, the stream is
// another log: nothing of it is delivered, and the follower waits for the
// status, then reads the old log with previous=true. (Only if that persists
// for MaxBackoff with the same container running, the kubelet having rotated
// the lines away, is the stream taken as is, skipping lines no newer than
// those read, with a warning.) A restarted container is a new log, read into
// a new Sink created after the old one was closed; it starts from the
// previous instance's Position, so that if the kubelet had served the new
// log in place of the old one, no line is read twice, and otherwise all of
// the new log, newer than the old, is resent anyway. A deleted pod's stream
// is read to its end (the kubelet ends it once the container stopped)
// before its Sink is closed.
//
// What no follower of the API can recover: lines the kubelet no longer
// serves (rotated away before a reconnect, the log of a container restarted
// twice in between, a deleted pod's log not yet read), which is logged; and
// a line stamped in an earlier second than a line before it (a clock step),
// if a stream breaks between them, which the kubelet does not resend.
//
// # Permissions
//
// The exporter needs, in the operator's namespace only: get, list and watch
// on pods, and get on pods/log.
package kube
