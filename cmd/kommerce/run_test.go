package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/internal/testenv"
)

// invoke runs the program like main does and returns its exit status and output.
func invoke(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"kommerce"}, args...), func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
	return exitCode(err, &stderr), stdout.String(), stderr.String()
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "help lists subcommands", args: []string{"--help"}, wantCode: 0, wantStdout: "inference"},
		{name: "no subcommand", args: nil, wantCode: 2, wantStderr: "no subcommand"},
		{name: "unknown subcommand", args: []string{"shop"}, wantCode: 2, wantStderr: `unknown subcommand "shop"`},
		{name: "subcommand help lists variables", args: []string{"api", "--help"}, wantCode: 0, wantStdout: "KOMMERCE_DATABASE_URL"},
		{name: "bad log level", args: []string{"api", "--log-level", "loud"}, wantCode: 2, wantStderr: "accepted values are debug, info, warn, error"},
		{name: "bad listen address from env", env: map[string]string{"KOMMERCE_HTTP_ADDR": "8080"}, args: []string{"api"}, wantCode: 2, wantStderr: "KOMMERCE_HTTP_ADDR"},
		{name: "bad database url", env: map[string]string{"KOMMERCE_DATABASE_URL": "mysql://x"}, args: []string{"migrate", "status"}, wantCode: 2, wantStderr: "postgres://"},
		{name: "migrate without action", args: []string{"migrate"}, wantCode: 2, wantStderr: "exactly one of up, down, status"},
		{name: "version", args: []string{"version"}, wantCode: 0, wantStdout: "kommerce dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := invoke(t, tt.env, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout %q lacks %q", stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.wantStderr)
			}
		})
	}
}

func TestVersionJSON(t *testing.T) {
	code, stdout, _ := invoke(t, nil, "version", "--json")
	var v map[string]string
	if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil || v["version"] == "" || v["goVersion"] == "" {
		t.Fatalf("version --json = %d %q", code, stdout)
	}
}

func TestMigrateUpDownStatus(t *testing.T) {
	db := testenv.NewEmptyDatabase(t)
	env := map[string]string{"KOMMERCE_DATABASE_URL": db.URL}
	steps := []struct {
		args       []string
		wantStdout string
	}{
		{args: []string{"status"}, wantStdout: "pending"},
		{args: []string{"up"}},
		{args: []string{"status"}, wantStdout: "applied"},
		{args: []string{"up"}}, // a second up is a no-op
		{args: []string{"down"}},
		{args: []string{"status"}, wantStdout: "pending"},
	}
	for _, s := range steps {
		code, stdout, stderr := invoke(t, env, append([]string{"migrate"}, s.args...)...)
		if code != 0 || !strings.Contains(stdout, s.wantStdout) {
			t.Fatalf("migrate %v = %d, stdout %q, stderr %q", s.args, code, stdout, stderr)
		}
	}
}

func TestMigrateUnreachableDatabaseFailsFast(t *testing.T) {
	env := map[string]string{"KOMMERCE_DATABASE_URL": "postgres://kommerce:x@127.0.0.1:1/kommerce?connect_timeout=2"}
	code, _, stderr := invoke(t, env, "migrate", "status")
	if code != 1 || !strings.Contains(stderr, "connect to PostgreSQL") {
		t.Fatalf("exit %d stderr %q; want 1 naming the connection failure", code, stderr)
	}
}
