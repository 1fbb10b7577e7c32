// Package pseudonym replaces the values that name people (a user's email, a
// client's name, a machine's hostname) with stable keyed pseudonyms, so that
// metrics can count and tell people apart without naming them.
//
// What it guarantees:
//   - Stable: the same value under the same key always gives the same
//     pseudonym, across restarts, replicas and the `mirrord-exporter
//     pseudonym` command, so that distinct counts and per-person series are
//     those of the raw values.
//   - Keyed: a pseudonym is HMAC-SHA256(key, value). Without the key, a list
//     of candidate emails cannot be hashed and matched (which is what makes
//     an unkeyed hash, or Prometheus' hashmod relabeling, only a thin
//     pseudonym); with the key, whoever holds it can find one person on
//     purpose.
//   - Recognisable: every pseudonym is Prefix followed by Digits lower-case
//     hex digits (64 bits of the HMAC), e.g. "anon-1f0c3e9a5b7d2c48",
//     valid in any Prometheus label value and never mistaken for a raw one.
//   - Distinct in practice: by the birthday bound, n values collide with
//     probability about n²/2^65: 3·10^-10 for 100,000 people, 3·10^-8 for a
//     million (the package's test checks a million generated names), and
//     still under 10^-3 for 190 million. A mirrord installation has
//     thousands of users at most.
//   - An empty value stays empty: an absent field is not a person.
//
// It does not make data anonymous: the pseudonyms are linkable (one person's
// series stay together), and the key's holder can reverse them by hashing
// candidates. Keep the key as secret as the raw values.
package pseudonym

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// Prefix starts every pseudonym.
const Prefix = "anon-"

// Digits is the number of hex digits of the HMAC a pseudonym keeps: 64 bits
// (see the package doc for the collision figures).
const Digits = 16

// MinKeyBytes is the shortest key accepted. A key is the only secret
// between a pseudonym and a list of candidate emails: anyone holding one
// known (value, pseudonym) pair can test keys offline, so a key must be out
// of reach of a brute-force search. 16 bytes of random data (128 bits) are;
// a short password is not. `head -c 32 /dev/urandom | base64` makes a good
// one.
const MinKeyBytes = 16

// Key is a pseudonymization key. Its methods may be called concurrently.
type Key struct {
	key []byte
}

// NewKey returns the key of the given bytes, at least MinKeyBytes long.
func NewKey(b []byte) (*Key, error) {
	if len(b) == 0 {
		return nil, errors.New("the key is empty")
	}
	if len(b) < MinKeyBytes {
		return nil, fmt.Errorf("the key is %d bytes, shorter than the %d required (make one with: head -c 32 /dev/urandom | base64)", len(b), MinKeyBytes)
	}
	return &Key{key: bytes.Clone(b)}, nil
}

// ReadKeyFile reads a key from a file: its whole content, without the
// trailing line ending that editors and `echo` add.
func ReadKeyFile(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	k, err := NewKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Of returns the pseudonym of value; "" for "".
func (k *Key) Of(value string) string {
	if value == "" {
		return ""
	}
	return k.sum([]byte(value))
}

func (k *Key) sum(b []byte) string {
	m := hmac.New(sha256.New, k.key)
	m.Write(b)
	var sum [sha256.Size]byte
	var out [len(Prefix) + Digits]byte
	copy(out[:], Prefix)
	hex.Encode(out[len(Prefix):], m.Sum(sum[:0])[:Digits/2])
	return string(out[:])
}

// fingerprintInput is hashed into the key's fingerprint; no log field
// value has this form.
const fingerprintInput = "\x00mirrord-exporter pseudonym key fingerprint v1"

// Fingerprint tells keys apart without revealing them: the pseudonym of a
// fixed string that is no person's. A state file keeps it to notice a
// change of key.
func (k *Key) Fingerprint() string {
	return k.sum([]byte(fingerprintInput))
}
