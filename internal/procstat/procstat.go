// Package procstat reads what Linux's /proc/<pid>/stat says of a process: its
// command name, its parent and the CPU time it has used. The benchmarks read it to
// say which process spent the machine's CPU.
package procstat

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the stat file's times (USER_HZ, 100 on Linux).
const userHZ = 100

// Stat is one process as /proc/<pid>/stat shows it.
type Stat struct {
	PID, PPID int
	Comm      string        // the command name, at most 15 bytes
	CPU       time.Duration // user + system time used so far
}

// Read returns the stat of process pid.
func Read(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	return parse(pid, string(b))
}

// parse reads a stat line: "pid (comm) state ppid ..." with utime and stime the
// 14th and 15th fields. The name may hold spaces and parentheses, so it runs to the
// last ')'.
func parse(pid int, s string) (Stat, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return Stat{}, fmt.Errorf("process %d: stat %.40q has no (comm)", pid, s)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return Stat{}, fmt.Errorf("process %d: stat has %d fields after (comm), want at least 13", pid, len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return Stat{}, fmt.Errorf("process %d: parent %q: %w", pid, f[1], err)
	}
	user, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("process %d: utime %q: %w", pid, f[11], err)
	}
	sys, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("process %d: stime %q: %w", pid, f[12], err)
	}
	cpu := time.Duration(user+sys) * time.Second / userHZ //nolint:gosec // ticks since boot fit
	return Stat{PID: pid, PPID: ppid, Comm: s[open+1 : end], CPU: cpu}, nil
}

// All returns every process's stat. A process that exits while All reads is left
// out; its CPU is then no longer counted anywhere.
func All() []Stat {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	out := make([]Stat, 0, len(dirs))
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if st, err := Read(pid); err == nil {
			out = append(out, st)
		}
	}
	return out
}
