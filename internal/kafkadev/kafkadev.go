// Package kafkadev runs an in-process Kafka-compatible cluster (franz-go's kfake) for
// `kommerce dev` and `make run`, so events and search work with nothing else
// installed. It speaks the Kafka protocol on a loopback port, so the same kafka-go
// producers and consumer groups run against it unchanged. Only the embedded default
// uses it; tests and production run the real broker.
package kafkadev

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configure Start.
type Options struct {
	// DataDir keeps the cluster's topics and committed offsets across restarts;
	// empty keeps everything in memory.
	DataDir string
	// Port to listen on (0: a free one).
	Port int
	// Topics are created at start with Partitions partitions each.
	Topics     []string
	Partitions int32
}

// Cluster is a running in-process cluster.
type Cluster struct {
	c *kfake.Cluster
}

// Start starts a one-broker cluster. Topic auto-creation stays off, as on the real
// brokers, so code that forgets to create its topics fails in dev too.
func Start(o Options) (*Cluster, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.ClusterID("kommerce-dev")}
	if o.Port != 0 {
		opts = append(opts, kfake.Ports(o.Port))
	}
	if o.DataDir != "" {
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	if len(o.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(max(o.Partitions, 1), o.Topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start in-process kafka: %w", err)
	}
	return &Cluster{c: c}, nil
}

// Brokers returns the bootstrap addresses ("127.0.0.1:port").
func (c *Cluster) Brokers() []string { return c.c.ListenAddrs() }

// Close stops the cluster (flushing its data directory, if any).
func (c *Cluster) Close() { c.c.Close() }
