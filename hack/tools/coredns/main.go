// Command coredns is the cluster bed's DNS server: CoreDNS with only the plugins the
// bed's Corefile names (hack/cluster.sh). The upstream command compiles every plugin
// CoreDNS ships, cloud DNS providers and their SDKs included, which took ~15 minutes
// of a 2-core machine's cold CI run; this one links what the Corefile uses.
package main

import (
	"github.com/coredns/coredns/coremain"

	// The plugins of the Corefile; each registers itself with the server.
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }
