package unwrap

import (
	"math/rand/v2"
	"testing"
)

// readLogPieces are the fragments random "log" strings are made of: every
// escape, broken ones, surrogates, control characters and quotes, around
// plain runs of several lengths so that stops fall in every byte of a word.
var readLogPieces = []string{
	`a`, `abcdefg`, `0123456789abcdef`, `"`, `\`, `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\x`,
	`\u0041`, `\u00e9`, `\ud83d`, `\ude00`, `\ud83d\ude00`, `\u12`, `\uZZZZ`, "\x00", "\x1f", "\t", "\xff", "\xc3\xa9",
}

func TestReadLogMatchesTwoPasses(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 200000 {
		var b []byte
		for n := r.IntN(12); n >= 0; n-- {
			b = append(b, readLogPieces[r.IntN(len(readLogPieces))]...)
		}
		if r.IntN(2) == 0 {
			b = append(b, `\n"`...)
		}
		checkReadLog(t, b)
	}
}
