package faulttest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kommerce/kommerce/internal/testenv"
)

// throwaway is a private instance of a real service (Kafka or Elasticsearch),
// started by hack/services.sh from the artefacts it already cached, with its own
// state directory and ports, so that a test may stop, kill and restart it without
// touching the shared instances other tests use.
type throwaway struct {
	t       *testing.T
	service string // "kafka" or "elasticsearch"
	state   string
	port    int
	env     []string
}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "hack", "services.sh")); err != nil {
		t.Fatalf("cannot find hack/services.sh from %s: %v", root, err)
	}
	return root
}

// freePorts finds a port p such that p+off is free for every offset given (p itself
// included). It picks below the kernel's ephemeral range: a port that was free a
// moment ago in that range can become the source port of any outgoing connection
// before the service (a JVM, seconds to start on a busy machine) binds it, which is
// how a throwaway Kafka once failed with "Address already in use".
func freePorts(t *testing.T, offs ...int) int {
	lo, hi := 20000, ephemeralLow()
	span := 0
	for _, o := range offs {
		span = max(span, o)
	}
	if hi-span <= lo {
		hi = 65000 // an unusual ephemeral range: fall back to the whole space
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid()))) //nolint:gosec // picking ports, not secrets
next:
	for i := 0; i < 200; i++ {
		p := lo + r.IntN(hi-span-lo)
		for _, o := range append([]int{0}, offs...) {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+o))
			if err != nil {
				continue next
			}
			_ = l.Close()
		}
		return p
	}
	t.Fatal("no free port set below the ephemeral range")
	return 0
}

// ephemeralLow is the first port the kernel hands out as a source port (32768 when
// it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 20000 {
		return 32768
	}
	return n
}

// startThrowaway starts a private instance and stops it (and removes its state)
// when the test ends. A machine without the cached artefacts skips the test, or
// fails it under KOMMERCE_TEST_REQUIRE_SERVICES / CI.
func startThrowaway(t *testing.T, service string) *throwaway {
	t.Helper()
	state, err := os.MkdirTemp("", "kommerce-fault-"+service+"-")
	if err != nil {
		t.Fatal(err)
	}
	// Elasticsearch runs as an unprivileged user when the tests run as root; it
	// must be able to reach its state directory.
	if err := os.Chmod(state, 0o755); err != nil {
		t.Fatal(err)
	}
	tw := &throwaway{t: t, service: service, state: state}
	switch service {
	case "kafka":
		tw.port = freePorts(t, 1, 2) // the broker, its controller and the cluster listener
		tw.env = []string{"KOMMERCE_KAFKA_PORT=" + strconv.Itoa(tw.port)}
	case "elasticsearch":
		tw.port = freePorts(t, 100) // HTTP and transport
		tw.env = []string{"KOMMERCE_ES_PORT=" + strconv.Itoa(tw.port)}
	default:
		t.Fatalf("unknown service %s", service)
	}
	tw.env = append(tw.env, "KOMMERCE_STATE_DIR="+state)
	t.Cleanup(func() {
		_ = tw.run("down")
		_ = os.RemoveAll(state)
	})
	if out, err := tw.output("up"); err != nil {
		msg := fmt.Sprintf("start a throwaway %s with hack/services.sh: %v\n%s", service, err, out)
		if testenv.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return tw
}

func (tw *throwaway) output(action string) (string, error) {
	cmd := exec.Command(filepath.Join(repoRoot(tw.t), "hack", "services.sh"), action, tw.service)
	cmd.Env = append(os.Environ(), tw.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (tw *throwaway) run(action string) error {
	out, err := tw.output(action)
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", action, tw.service, err, out)
	}
	return nil
}

// addr is the instance's Kafka broker address or Elasticsearch URL.
func (tw *throwaway) addr() string {
	if tw.service == "kafka" {
		return "127.0.0.1:" + strconv.Itoa(tw.port)
	}
	return "http://127.0.0.1:" + strconv.Itoa(tw.port)
}

// kill stops the instance abruptly (SIGKILL), as a crash or an OOM kill would.
func (tw *throwaway) kill() {
	tw.t.Helper()
	pidFile := map[string]string{"kafka": "kafka/kafka.pid", "elasticsearch": "elasticsearch/es.pid"}[tw.service]
	b, err := os.ReadFile(filepath.Join(tw.state, pidFile))
	if err != nil {
		tw.t.Fatalf("pid of the throwaway %s: %v", tw.service, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		tw.t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		tw.t.Fatalf("kill %s: %v", tw.service, err)
	}
	testenv.Eventually(tw.t, 60*time.Second, "killed service gone", func() (bool, string) {
		return gone(pid), fmt.Sprintf("the killed %s (pid %d) is still running", tw.service, pid)
	})
}

// gone reports whether pid has exited. A killed process nobody has reaped yet (a
// zombie: the scripts that started it have exited) counts as gone.
func gone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// restart starts the instance again on the same state and ports.
func (tw *throwaway) restart() {
	tw.t.Helper()
	if err := tw.run("up"); err != nil {
		tw.t.Fatal(err)
	}
}
