// Package input holds what every input of operator log lines shares: the
// Sink contract each stream delivers its lines to, the Gate that stops
// inputs between two deliveries while the state is saved, and the bounded
// line Splitter. The inputs themselves are input/file (files and standard
// input) and input/kube (pod logs through the Kubernetes API).
package input
