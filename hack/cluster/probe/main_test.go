package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
)

func TestRunRefusesBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no command", args: nil, want: "usage: probe"},
		{name: "unknown command", args: []string{"ping", "x"}, want: `unknown command "ping"`},
		{name: "get without url", args: []string{"get"}, want: "get takes exactly one argument"},
		{name: "tcp with two addresses", args: []string{"tcp", "a:1", "b:2"}, want: "tcp takes exactly one argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

// TestServeAndGet is the check the cluster test makes between pods, on loopback.
func TestServeAndGet(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveOn(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	var out bytes.Buffer
	if err := run(context.Background(), []string{"get", "http://" + addr + "/"}, &out); err != nil {
		t.Fatalf("get: %v", err)
	}
	if !strings.HasPrefix(out.String(), "ok ") {
		t.Fatalf("get answered %q, want it to start with \"ok \"", out.String())
	}
	if err := run(context.Background(), []string{"tcp", addr}, &bytes.Buffer{}); err != nil {
		t.Fatalf("tcp to the server: %v", err)
	}
}

func TestTCPToClosedPortFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := run(context.Background(), []string{"tcp", addr}, &bytes.Buffer{}); err == nil {
		t.Fatalf("tcp to %s, where nothing listens, succeeded", addr)
	}
}
