package main

import (
	"net"
	"os"
	"testing"
)

func TestPidListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if got := pidListening(port); got != os.Getpid() {
		t.Errorf("pidListening(%d) = %d, want this process %d", port, got, os.Getpid())
	}
	ln.Close()
	if got := pidListening(port); got != 0 {
		t.Errorf("after close: pidListening(%d) = %d, want 0", port, got)
	}
}

func TestLimitedCount(t *testing.T) {
	if n := limitedCount([]stepResult{{Limited: 2}, {}, {Limited: 5}}); n != 7 {
		t.Errorf("limitedCount = %d, want 7", n)
	}
}
