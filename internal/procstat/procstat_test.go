package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	// A name with a space and a parenthesis, as a process may choose.
	line := "4242 (we(ird) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 1 0 12345 1000 10 18446744073709551615"
	st, err := parse(4242, line)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != 4242 || st.PPID != 17 || st.Comm != "we(ird) name" || st.CPU != 3800*time.Millisecond {
		t.Errorf("parsed %+v; want pid 4242, ppid 17, comm %q, cpu 3.8s", st, "we(ird) name")
	}
	for _, bad := range []string{"", "4242 no parens S 1", "4242 (x) S 1 2 3", "4242 (x) S notanumber 0 0 0 0 0 0 0 0 0 0 0", "4242 (x) S 1 0 0 0 0 0 0 0 0 0 -5 0"} {
		if _, err := parse(4242, bad); err == nil {
			t.Errorf("parse(%q) = nil error", bad)
		}
	}
}

func TestReadSelf(t *testing.T) {
	// Spend CPU until the kernel has counted some (a tick is 10 ms; on a busy machine
	// a fixed spin may not get one), so there is some to see.
	var st Stat
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		var err error
		if st, err = Read(os.Getpid()); err != nil {
			t.Fatal(err)
		}
		if st.CPU > 0 {
			break
		}
		for end := time.Now().Add(10 * time.Millisecond); time.Now().Before(end); {
		}
	}
	if st.PID != os.Getpid() || st.PPID != os.Getppid() || st.Comm == "" || st.CPU <= 0 {
		t.Errorf("read %+v for this process (parent %d)", st, os.Getppid())
	}
	found := false
	for _, p := range All() {
		if p.PID == os.Getpid() {
			found = true
		}
	}
	if !found {
		t.Error("All left this process out")
	}
}
