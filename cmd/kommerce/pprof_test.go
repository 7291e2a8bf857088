package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestProfilingEndpoints(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	// Off: nothing listens, and stopping is harmless.
	stop, err := startProfiling("0", log)
	if err != nil {
		t.Fatalf("off: %v", err)
	}
	stop()

	// On a free port: the index and the command line answer.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stop, err = startProfiling(addr, log)
	if err != nil {
		t.Fatalf("start on %s: %v", addr, err)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap?debug=1"} {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || len(body) == 0 {
			t.Errorf("GET %s: %d, %d bytes", path, res.StatusCode, len(body))
		}
	}

	// A taken address fails at start, not later.
	if _, err := startProfiling(addr, log); err == nil {
		t.Errorf("a second listener on %s started; want an error", addr)
	}
	stop()
	if _, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Errorf("profiling endpoints still answer after stop")
	}
}

// Every server subcommand takes --pprof-addr, off by default, and refuses a malformed one.
func TestProfilingFlag(t *testing.T) {
	for _, cmd := range []string{"api", "dev", "ingest", "inference"} {
		code, stdout, stderr := invoke(t, nil, cmd, "--help")
		if code != 0 || !strings.Contains(stdout, "--pprof-addr") {
			t.Errorf("%s --help: exit %d, no --pprof-addr:\n%s%s", cmd, code, stdout, stderr)
		}
		code, _, stderr = invoke(t, nil, cmd, "--pprof-addr", "no-port")
		if code != 2 || !strings.Contains(stderr, "pprof-addr") {
			t.Errorf("%s --pprof-addr no-port: exit %d, %s; want a usage error naming the flag", cmd, code, stderr)
		}
	}
}
