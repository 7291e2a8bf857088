package kafka

import (
	"fmt"
	"testing"

	kafka "github.com/segmentio/kafka-go"
)

// The relay's producer (franz-go) and every kafka-go writer must put a key on the
// same partition, or an entity's events would be split over two partitions and
// lose their order.
func TestKeyPartitionMatchesKafkaGoHash(t *testing.T) {
	for _, n := range []int{1, 2, 3, 6, 7, 12} {
		parts := make([]int, n)
		for i := range parts {
			parts[i] = i
		}
		for i := 0; i < 2000; i++ {
			key := []byte(fmt.Sprintf("%08x-tenant/p%04d", i*7919, i))
			want := (&kafka.Hash{}).Balance(kafka.Message{Key: key}, parts...)
			if got := keyPartition(key, n); got != want {
				t.Fatalf("key %q among %d partitions: %d, kafka-go's Hash says %d", key, n, got, want)
			}
		}
	}
}
