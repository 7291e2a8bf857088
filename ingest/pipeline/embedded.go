package pipeline

import (
	"fmt"
	"path/filepath"

	"github.com/kommerce/kommerce/internal/kafkadev"
	"github.com/kommerce/kommerce/internal/search/bleve"
)

// Embedded is the in-process stand-in for Kafka and Elasticsearch that `kommerce
// dev` uses when KOMMERCE_KAFKA_BROKERS and KOMMERCE_ELASTICSEARCH_URL are unset:
// franz-go's kfake cluster and Bleve, both keeping their state under one directory.
type Embedded struct {
	Kafka  *kafkadev.Cluster
	Search *bleve.Backend
}

// OpenEmbedded starts the in-process cluster (state in <dataDir>/kafka) and opens
// the Bleve indexes (<dataDir>/search). Pass Kafka.Brokers() and Search to Run, give
// the API search.NewSearcher(Search) and a behaviour publisher on the same brokers.
func OpenEmbedded(dataDir string) (*Embedded, error) {
	k, err := kafkadev.Start(kafkadev.Options{DataDir: filepath.Join(dataDir, "kafka")})
	if err != nil {
		return nil, err
	}
	s, err := bleve.Open(filepath.Join(dataDir, "search"))
	if err != nil {
		k.Close()
		return nil, fmt.Errorf("open bleve: %w", err)
	}
	return &Embedded{Kafka: k, Search: s}, nil
}

// Close stops both.
func (e *Embedded) Close() error {
	err := e.Search.Close()
	e.Kafka.Close()
	return err
}
