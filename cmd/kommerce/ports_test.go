package main

import (
	"regexp"
	"testing"
)

// TestDefaultListenAddressesAreDistinct reads every listener's default from --help, as
// a user does, and checks no two servers that run side by side share one: `make run`
// (kommerce dev) and then `kommerce operator`, as docs/operator.md suggests, must
// both start. dev and api are the same server and never run together.
func TestDefaultListenAddressesAreDistinct(t *testing.T) {
	listener := regexp.MustCompile(`--(http-addr|metrics-addr|probe-addr|report-addr)\s.*\[default ([^\]]*)\]`)
	owner := map[string]string{}
	for _, cmd := range []string{"dev", "ingest", "inference", "operator"} {
		code, stdout, stderr := invoke(t, nil, cmd, "--help")
		if code != 0 {
			t.Fatalf("%s --help: exit %d, %s", cmd, code, stderr)
		}
		found := 0
		for _, m := range listener.FindAllStringSubmatch(stdout, -1) {
			found++
			who := cmd + " --" + m[1]
			if other, ok := owner[m[2]]; ok {
				t.Errorf("%s and %s both listen on %s by default", other, who, m[2])
			}
			owner[m[2]] = who
		}
		if found == 0 {
			t.Errorf("%s --help names no listen address:\n%s", cmd, stdout)
		}
	}
	_, stdout, _ := invoke(t, nil, "api", "--help")
	if m := listener.FindStringSubmatch(stdout); m == nil || owner[m[2]] != "dev --http-addr" {
		t.Errorf("api --help gives listener %q; want the one of dev (listeners %v)", m, owner)
	}
}
