package unwrap

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFormat(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    Format
		wantErr bool
	}{
		"auto":        {in: "auto", want: Auto},
		"json":        {in: "json", want: JSON},
		"docker":      {in: "docker", want: Docker},
		"cri":         {in: "cri", want: CRI},
		"empty":       {in: "", wantErr: true},
		"upper case":  {in: "CRI", wantErr: true},
		"unknown":     {in: "containerd", wantErr: true},
		"with spaces": {in: " json", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseFormat(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseFormat(%q) = %v, want an error", tc.in, got)
				}
				if !errors.Is(err, ErrUnknownFormat) {
					t.Errorf("error %v does not wrap ErrUnknownFormat", err)
				}
				for _, v := range []string{"auto", "json", "docker", "cri", tc.in} {
					if !strings.Contains(err.Error(), v) {
						t.Errorf("error %q does not name %q", err, v)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFormat(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseFormat(%q) = %v, want %v", tc.in, got, tc.want)
			}
			if got.String() != tc.in {
				t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
			}
		})
	}
}

func TestFormatStringUnknown(t *testing.T) {
	if got, want := Format(42).String(), "Format(42)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestStatusString(t *testing.T) {
	tests := map[string]struct {
		st   Status
		want string
	}{
		"record":   {st: Record, want: "record"},
		"pending":  {st: Pending, want: "pending"},
		"invalid":  {st: Invalid, want: "invalid"},
		"too long": {st: TooLong, want: "too_long"},
		"unknown":  {st: Status(9), want: "Status(9)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.st.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
