//go:build race

package collector

// raceDetector tells tests that the race detector slows them down.
const raceDetector = true
