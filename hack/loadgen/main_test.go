package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // part of the error; empty: no error
	}{
		{"minimal", []string{"-url", "http://x/", "-duration", "1s"}, ""},
		{"stop file instead of duration", []string{"-url", "http://x/", "-stop-file", "/tmp/s"}, ""},
		{"no url", []string{"-duration", "1s"}, "-url is required"},
		{"no end", []string{"-url", "http://x/"}, "-duration or -stop-file"},
		{"zero rate", []string{"-url", "http://x/", "-duration", "1s", "-rate", "0"}, "want 0 < rate"},
		{"header without colon", []string{"-url", "http://x/", "-duration", "1s", "-H", "X-Tenant acme"}, "is not Name: value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.args, &bytes.Buffer{})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("parse: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("parse: error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestRunCountsFailures runs against a server that answers every third request
// with a 500 and stops once it has seen 30 requests (by creating the stop file):
// every request sent is counted once, as ok or failed, and the header is sent.
func TestRunCountsFailures(t *testing.T) {
	stopFile := filepath.Join(t.TempDir(), "stop")
	var seen, wrongHeader, userA, userB atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Kommerce-Tenant") != "acme" {
			wrongHeader.Add(1)
		}
		switch r.Header.Get("Authorization") {
		case "Bearer a":
			userA.Add(1)
		case "Bearer b":
			userB.Add(1)
		}
		n := seen.Add(1)
		if n == 30 {
			if err := os.WriteFile(stopFile, nil, 0o600); err != nil {
				t.Error(err)
			}
		}
		if n%3 == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()

	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-url", srv.URL, "-rate", "200", "-stop-file", stopFile, "-show", "2",
		"-H", "X-Kommerce-Tenant: acme", "-rotate", "Authorization: Bearer a", "-rotate", "Authorization: Bearer b"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var s summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	if s.Sent != seen.Load() || s.OK+s.Failed != s.Sent {
		t.Fatalf("sent %d, ok %d, failed %d; the server saw %d", s.Sent, s.OK, s.Failed, seen.Load())
	}
	if s.Sent < 30 || s.Failed != s.Sent/3 || s.Statuses["500"] != int(s.Failed) {
		t.Fatalf("sent %d, failed %d, statuses %v: want every third failed", s.Sent, s.Failed, s.Statuses)
	}
	if len(s.Failures) != 2 || !strings.Contains(s.Failures[0], "status 500: boom") {
		t.Fatalf("failures %q: want the first 2, naming the status and body", s.Failures)
	}
	if got := strings.Count(stderr.String(), "loadgen: failed:"); got != 2 {
		t.Fatalf("stderr has %d failure lines, want 2:\n%s", got, &stderr)
	}
	if wrongHeader.Load() != 0 {
		t.Fatalf("%d requests lacked the -H header", wrongHeader.Load())
	}
	// In turn: the two users' counts differ by at most one.
	if a, b := userA.Load(), userB.Load(); a+b != s.Sent || a-b > 1 || b-a > 1 {
		t.Fatalf("users a %d, b %d of %d requests: want the -rotate headers in turn", a, b, s.Sent)
	}
}

// TestRunCountsTransportErrors: nothing listens, every request fails without a status.
func TestRunCountsTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"-url", url, "-rate", "50", "-duration", "200ms"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatalf("run: %v", err)
	}
	var s summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	if s.Sent == 0 || s.Failed != s.Sent || s.OK != 0 || s.Statuses["error"] != int(s.Sent) {
		t.Fatalf("summary %+v: want every request failed as a transport error", s)
	}
}
