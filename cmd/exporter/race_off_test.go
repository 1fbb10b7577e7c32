//go:build !race

package main

// raceDetector tells tests that the race detector slows them down.
const raceDetector = false
