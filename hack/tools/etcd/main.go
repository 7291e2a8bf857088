// Command etcd is the etcd server for envtest, built from its Go module so that no
// release binary has to be downloaded.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
