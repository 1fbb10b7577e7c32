// Package collector applies the operator's events: the one goroutine that
// owns the open sessions and their ports updates the metric families from
// each decode.Event, expires sessions and series, and takes and restores the
// Snapshot the state file keeps.
package collector
