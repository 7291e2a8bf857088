package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The burst's stream of creates runs in a process of its own: this binary started
// again with -stream, as kubectl would be. No contender then shares a process with
// the stream it is timed against. When the bare writes' workers ran in the
// benchmark's process beside the stream, they took the Go scheduler's time from it
// and slowed it down, which the operator, a process of its own, could not do: the
// floor's stream was the slower one, and a slower stream is one a contender keeps
// pace with more easily.

// streamLine is one line the stream writes to its standard output: the first
// carries Start alone, each other a Tenant just created.
type streamLine struct {
	Start           int64     `json:"start,omitempty"` // unix nanoseconds, before the first create
	Name            string    `json:"name,omitempty"`
	UID             types.UID `json:"uid,omitempty"`
	ResourceVersion string    `json:"rv,omitempty"`
	Generation      int64     `json:"generation,omitempty"`
	At              int64     `json:"at,omitempty"` // unix nanoseconds, when the create returned
}

// runStream is the -stream mode: n Tenants named <prefix>-000 and on, created one
// after the other (rate a second when rate > 0) with the credentials of kubeconfig,
// each reported on stdout as it returns.
func runStream(ctx context.Context, kubeconfig, prefix string, n int, rate float64, qps int) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(qps), 2*qps
	c, err := client.New(cfg, client.Options{Scheme: newScheme()})
	if err != nil {
		return err
	}
	out := json.NewEncoder(os.Stdout)
	start := time.Now()
	if err := out.Encode(streamLine{Start: start.UnixNano()}); err != nil {
		return err
	}
	for i := range n {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
		}
		t := benchTenant(fmt.Sprintf("%s-%03d", prefix, i))
		if err := c.Create(ctx, t); err != nil {
			return err
		}
		line := streamLine{Name: t.Name, UID: t.UID, ResourceVersion: t.ResourceVersion, Generation: t.Generation, At: time.Now().UnixNano()}
		if err := out.Encode(line); err != nil {
			return err
		}
	}
	return nil
}

// stream is a running stream process.
type stream struct {
	cmd    *exec.Cmd
	lines  *bufio.Scanner
	stderr bytes.Buffer
}

// startStream starts the stream of n creates named <prefix>-000 and on.
func startStream(ctx context.Context, kubeconfig, prefix string, n int, rate float64, qps int) (*stream, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s := &stream{cmd: exec.CommandContext(ctx, self, "-stream", "-stream-kubeconfig", kubeconfig, "-stream-prefix", prefix,
		"-n", strconv.Itoa(n), "-rate", strconv.FormatFloat(rate, 'f', -1, 64), "-qps", strconv.Itoa(qps))}
	s.cmd.Stderr = &s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.lines = bufio.NewScanner(stdout)
	return s, nil
}

// next returns the stream's next line; ok is false at its end.
func (s *stream) next() (streamLine, bool, error) {
	if !s.lines.Scan() {
		return streamLine{}, false, s.lines.Err()
	}
	var l streamLine
	if err := json.Unmarshal(s.lines.Bytes(), &l); err != nil {
		return l, false, fmt.Errorf("stream wrote %q: %w", s.lines.Text(), err)
	}
	return l, true, nil
}

// wait waits for the stream to exit and returns the CPU it used (user + system).
func (s *stream) wait() (time.Duration, error) {
	if err := s.cmd.Wait(); err != nil {
		return 0, fmt.Errorf("stream of creates: %w\n%s", err, s.stderr.String())
	}
	return s.cmd.ProcessState.UserTime() + s.cmd.ProcessState.SystemTime(), nil
}

// kill stops the stream where it is and waits for it to exit.
func (s *stream) kill() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}
