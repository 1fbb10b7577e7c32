//go:build race

package pseudonym

// raceDetector tells tests that the race detector slows them down.
const raceDetector = true
