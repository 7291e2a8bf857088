// Command probe is the test image of hack/cluster_test.sh: one small static binary
// that can be a server or a client, so that the cluster's network (Services, cluster
// DNS, NetworkPolicy, the host services) is checked from inside real pods without
// pulling any image from a registry.
//
//	probe serve [addr]          answer every HTTP request with "ok <hostname>" (default :8080)
//	probe get <url>             one GET; exit 0 only on 200
//	probe tcp <host:port>       open a TCP connection and close it
//	probe lookup <name>         resolve a name with the pod's resolver
//	probe kafka <host:port>     ask a Kafka broker for the brokers it advertises, then dial each
//
// Clients give up after 3 seconds, so a connection that a policy drops fails quickly.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

const timeout = 3 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: probe serve [addr] | get <url> | tcp <host:port> | lookup <name> | kafka <host:port>")
	}
	cmd, args := args[0], args[1:]
	if cmd == "serve" {
		addr := ":8080"
		if len(args) > 0 {
			addr = args[0]
		}
		return serve(ctx, addr)
	}
	if len(args) != 1 {
		return fmt.Errorf("%s takes exactly one argument", cmd)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch cmd {
	case "get":
		return get(ctx, args[0], stdout)
	case "tcp":
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", args[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "connected to %s from %s\n", conn.RemoteAddr(), conn.LocalAddr())
		return conn.Close()
	case "lookup":
		addrs, err := net.DefaultResolver.LookupHost(ctx, args[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, addrs)
		return nil
	case "kafka":
		return kafkaBrokers(ctx, args[0], stdout)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serveOn(ctx, ln)
}

// serveOn answers until ctx ends. It keeps serving for a moment after SIGTERM so that a
// request routed to it while kube-proxy removes the endpoint still gets an answer.
func serveOn(ctx context.Context, ln net.Listener) error {
	host, _ := os.Hostname()
	srv := &http.Server{
		ReadHeaderTimeout: timeout,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "ok %s\n", host)
		}),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	drain := time.NewTimer(time.Second)
	defer drain.Stop()
	<-drain.C
	shutdown, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return srv.Shutdown(shutdown)
}

func get(ctx context.Context, url string, stdout io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s", url, resp.Status)
	}
	_, err = stdout.Write(body)
	return err
}

// kafkaBrokers shows what a Kafka client in a pod would do after its bootstrap
// connection: it connects to the addresses the broker advertises, which must be
// reachable from the pod for producing or consuming to work.
func kafkaBrokers(ctx context.Context, bootstrap string, stdout io.Writer) error {
	conn, err := (&kafka.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", bootstrap)
	if err != nil {
		return fmt.Errorf("bootstrap %s: %w", bootstrap, err)
	}
	defer conn.Close()
	brokers, err := conn.Brokers()
	if err != nil {
		return fmt.Errorf("metadata from %s: %w", bootstrap, err)
	}
	var unreachable error
	for _, b := range brokers {
		addr := net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			fmt.Fprintf(stdout, "broker %d advertises %s: unreachable from here (%v)\n", b.ID, addr, err)
			unreachable = errors.Join(unreachable, fmt.Errorf("broker %d at %s: %w", b.ID, addr, err))
			continue
		}
		c.Close()
		fmt.Fprintf(stdout, "broker %d advertises %s: reachable\n", b.ID, addr)
	}
	return unreachable
}
