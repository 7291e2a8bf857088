// Command kubeenv starts a real kube-apiserver and etcd (envtest, from the binaries
// hack/envtest.sh builds), writes an admin kubeconfig and keeps them running until it
// gets SIGINT or SIGTERM. End-to-end scripts and benchmarks use it as their cluster:
//
//	kubeenv -out /tmp/x/kubeconfig &   # the file appears once the API answers
//	kubectl --kubeconfig /tmp/x/kubeconfig apply -k config/default
//
// No CRDs are installed: the scripts install them the way users do.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

func main() {
	path := flag.String("out", "", "where to write the kubeconfig (required)")
	flag.Parse()
	if *path == "" {
		fmt.Fprintln(os.Stderr, "kubeenv: -out is required")
		os.Exit(2)
	}
	if err := run(*path); err != nil {
		fmt.Fprintf(os.Stderr, "kubeenv: %v\n", err)
		os.Exit(1)
	}
}

func run(path string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env, _, err := kubetest.Start()
	if err != nil {
		return err
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "kubeenv: stop: %v\n", err)
		}
	}()
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	// Write then rename, so a script polling for the file never reads half of it.
	if err := os.WriteFile(path+".tmp", kc, 0o600); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "kubeenv: API server %s, kubeconfig %s\n", env.Config.Host, path)
	<-ctx.Done()
	return nil
}
