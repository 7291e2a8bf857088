package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

type settings struct {
	addr    string
	level   string
	workers int
	verbose bool
	timeout time.Duration
	secret  string
}

func newSet(env map[string]string) (*Set, *settings) {
	var s settings
	set := NewSet("test", "A test command.", func(k string) string { return env[k] })
	set.String(&s.addr, "http-addr", "KOMMERCE_HTTP_ADDR", ":8080", "listen address", Check(HostPort))
	set.String(&s.level, "log-level", "KOMMERCE_LOG_LEVEL", "info", "level", Enum("debug", "info"))
	set.Int(&s.workers, "workers", "KOMMERCE_WORKERS", 4, "workers", Check(Positive))
	set.Bool(&s.verbose, "verbose", "KOMMERCE_VERBOSE", false, "chatty")
	set.Duration(&s.timeout, "timeout", "KOMMERCE_TIMEOUT", 5*time.Second, "timeout")
	set.String(&s.secret, "secret", "KOMMERCE_SECRET", "", "a secret", Secret(), Check(URL(true, "redis")))
	return set, &s
}

func TestParsePrecedence(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want settings
		rest []string
	}{
		{name: "defaults", want: settings{addr: ":8080", level: "info", workers: 4, timeout: 5 * time.Second}},
		{
			name: "environment over default",
			env:  map[string]string{"KOMMERCE_HTTP_ADDR": ":9000", "KOMMERCE_WORKERS": "8", "KOMMERCE_VERBOSE": "true"},
			want: settings{addr: ":9000", level: "info", workers: 8, verbose: true, timeout: 5 * time.Second},
		},
		{
			name: "flag over environment, flags after positionals",
			env:  map[string]string{"KOMMERCE_HTTP_ADDR": ":9000"},
			args: []string{"up", "--http-addr", "127.0.0.1:1", "--verbose", "extra", "--timeout=1m"},
			want: settings{addr: "127.0.0.1:1", level: "info", workers: 4, verbose: true, timeout: time.Minute},
			rest: []string{"up", "extra"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, got := newSet(tt.env)
			rest, err := set.Parse(tt.args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Errorf("settings = %+v, want %+v", *got, tt.want)
			}
			if strings.Join(rest, " ") != strings.Join(tt.rest, " ") {
				t.Errorf("positional = %q, want %q", rest, tt.rest)
			}
		})
	}
}

func TestParseRejectsBadValues(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantMsg []string
		notMsg  string
	}{
		{name: "enum", args: []string{"--log-level=loud"}, wantMsg: []string{"--log-level / KOMMERCE_LOG_LEVEL", `"loud"`, "accepted values are debug, info"}},
		{name: "host port from env", env: map[string]string{"KOMMERCE_HTTP_ADDR": "nope"}, wantMsg: []string{"KOMMERCE_HTTP_ADDR", "from environment", "host:port"}},
		{name: "int", args: []string{"--workers", "many"}, wantMsg: []string{"--workers", "whole number"}},
		{name: "positive", args: []string{"--workers", "0"}, wantMsg: []string{"at least 1"}},
		{name: "duration", args: []string{"--timeout", "soon"}, wantMsg: []string{"duration such as"}},
		{name: "bool", env: map[string]string{"KOMMERCE_VERBOSE": "yes please"}, wantMsg: []string{"true or false"}},
		{name: "secret value hidden", env: map[string]string{"KOMMERCE_SECRET": "http://user:hunter2@x"}, wantMsg: []string{"(hidden)", "redis://"}, notMsg: "hunter2"},
		{name: "unknown flag", args: []string{"--nope"}, wantMsg: []string{"flag provided but not defined: -nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, _ := newSet(tt.env)
			_, err := set.Parse(tt.args, &bytes.Buffer{})
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want a UsageError", err)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(ue.Msg, m) {
					t.Errorf("message %q lacks %q", ue.Msg, m)
				}
			}
			if tt.notMsg != "" && strings.Contains(ue.Msg, tt.notMsg) {
				t.Errorf("message %q leaks %q", ue.Msg, tt.notMsg)
			}
		})
	}
}

func TestUsageListsEveryVariable(t *testing.T) {
	set, _ := newSet(nil)
	var out bytes.Buffer
	if _, err := set.Parse([]string{"--help"}, &out); !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v, want ErrHelp", err)
	}
	for _, want := range []string{"A test command.", "--http-addr", "KOMMERCE_HTTP_ADDR", "[default :8080]", "(debug|info)", "KOMMERCE_SECRET"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}
