// Command pause is the sandbox ("pause") image of the cluster that hack/cluster.sh
// starts: the first process of every pod, holding the pod's namespaces open.
//
// It is built from this source because no image registry can be reached on our
// machines. It does what the upstream pause container does: it waits until it is told
// to stop and, being PID 1 of a pod that shares its PID namespace, reaps the zombie
// children re-parented to it so that they do not pile up.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "pause takes no arguments: it waits for SIGTERM or SIGINT")
		os.Exit(2)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	children := make(chan os.Signal, 1)
	signal.Notify(children, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			return
		case <-children:
			reap()
		}
	}
}

// reap collects every child that has exited; one SIGCHLD may stand for several.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
