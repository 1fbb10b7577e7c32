package decode

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// hasEventMessageRef is the fast path as first written: bytes.Index on the
// whole key. hasEventMessage must make the same decision on every record.
func hasEventMessageRef(rec []byte) bool {
	for rest := rec; ; {
		i := bytes.Index(rest, messageKey)
		if i < 0 {
			return false
		}
		rest = rest[i+len(messageKey):]
		j := 0
		for j < len(rest) && isSpace(rest[j]) {
			j++
		}
		if j >= len(rest) || rest[j] != ':' {
			continue
		}
		j++
		for j < len(rest) && isSpace(rest[j]) {
			j++
		}
		if j >= len(rest) || rest[j] != '"' {
			continue
		}
		val := rest[j+1:]
		end := bytes.IndexByte(val, '"')
		if end < 0 {
			return false
		}
		if bytes.IndexByte(val[:end], '\\') >= 0 {
			return true
		}
		if _, ok := messageKinds[string(val[:end])]; ok {
			return true
		}
	}
}

// fastPathPieces are the fragments random records are made of: enough
// quotes, keys, colons, event messages and near misses for the two searches
// to disagree if they can.
var fastPathPieces = []string{
	`"`, `"message"`, `message"`, `"message`, `"messag`, `g`, `gg"`, `:`, ` `, "\t", `\`, `\"`,
	`"Session Start"`, `"Port Stolen"`, `"Max seat count reached!"`, `"polling pods"`, `Port Steal`,
	`{`, `}`, `,`, `"fields":{`, `"timestamp":"2026-08-17T18:15:08Z"`, `"x"`, `1`, `null`,
}

func randomFastPathRecord(r *rand.Rand) []byte {
	var b []byte
	for n := r.IntN(24); n >= 0; n-- {
		b = append(b, fastPathPieces[r.IntN(len(fastPathPieces))]...)
	}
	return b
}

func TestHasEventMessageMatchesReference(t *testing.T) {
	var recs [][]byte
	for _, s := range []string{
		``, `"message"`, `"message":"Session Start"`, `"message"message":"Session Start"`,
		`"message":"message":"Session Start"`, `"message" : "Port Stolen"`, `"message":"x`,
		`"message":"a\"b"`, `"message":1,"fields":{"message":"Copy Target"}`, `{"message":"Max seat count reached!"}`,
		`"messag"message"`, `g"message":"Session End"`, `"message"`[:8],
	} {
		recs = append(recs, []byte(s))
	}
	// The fuzz corpus, which holds real records and earlier crashers.
	files, _ := filepath.Glob("testdata/fuzz/FuzzDecode/*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, b) // the file's text: the record is a substring of it
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		recs = append(recs, randomFastPathRecord(r))
	}
	for _, rec := range recs {
		if got, want := hasEventMessage(rec), hasEventMessageRef(rec); got != want {
			t.Fatalf("hasEventMessage(%q) = %v, reference says %v", rec, got, want)
		}
	}
}
