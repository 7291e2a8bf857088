package testenv

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	ikafka "github.com/kommerce/kommerce/ingest/kafka"
)

// Kafka is one test's topic on the test broker.
type Kafka struct {
	Brokers []string
	Topic   string
}

var kafkaReach reachability

// KafkaBrokers returns the test brokers, failing or skipping t when they do not answer.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	brokers := strings.Split(env("KOMMERCE_TEST_KAFKA_BROKERS", DefaultKafkaBrokers), ",")
	if err := kafkaReach.check(func() error {
		conn, err := dialer.Dial("tcp", brokers[0])
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.Brokers()
		return err
	}); err != nil {
		Unavailable(t, "kafka", strings.Join(brokers, ","), err)
	}
	return brokers
}

// NewKafkaTopic creates a topic with the given partitions for t and deletes it in
// cleanup.
func NewKafkaTopic(t testing.TB, partitions int) *Kafka {
	t.Helper()
	brokers := KafkaBrokers(t)
	topic := Name(t, "test", ".")
	if err := CreateTopics(brokers, partitions, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	t.Cleanup(func() {
		if err := DeleteTopics(brokers, topic); err != nil {
			t.Logf("delete topic %s: %v", topic, err)
		}
	})
	return &Kafka{Brokers: brokers, Topic: topic}
}

// CreateTopics creates topics with replication factor 1 through the controller and
// returns once the brokers' metadata lists every partition with a leader. The
// controller answers before the brokers have the new topic in their metadata
// cache; a writer that asks in between gets Unknown Topic Or Partition and, since
// kafka-go does not retry that on the first metadata request, fails the test.
func CreateTopics(brokers []string, partitions int, topics ...string) error {
	conn, err := controller(brokers)
	if err != nil {
		return err
	}
	defer conn.Close()
	cfgs := make([]kafka.TopicConfig, len(topics))
	for i, name := range topics {
		cfgs[i] = kafka.TopicConfig{Topic: name, NumPartitions: partitions, ReplicationFactor: 1}
	}
	if err := conn.CreateTopics(cfgs...); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 3 * time.Second}
	return ikafka.WaitForTopics(ctx, client, partitions, topics...)
}

// DeleteTopics deletes topics through the controller.
func DeleteTopics(brokers []string, topics ...string) error {
	conn, err := controller(brokers)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.DeleteTopics(topics...)
}

func controller(brokers []string) (*kafka.Conn, error) {
	conn, err := dialer.Dial("tcp", brokers[0])
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c, err := conn.Controller()
	if err != nil {
		return nil, fmt.Errorf("find controller: %w", err)
	}
	return dialer.Dial("tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)))
}

// dialer bounds every connection attempt, so a stopped broker fails fast.
var dialer = &kafka.Dialer{Timeout: 3 * time.Second}
