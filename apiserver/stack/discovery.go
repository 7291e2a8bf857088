package stack

import (
	"time"

	disc "github.com/kommerce/kommerce/apiserver/discovery"
	"github.com/kommerce/kommerce/apiserver/httpapi"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/inference/recs"
	"github.com/kommerce/kommerce/internal/search"
)

// KafkaProducers are the producers discovery needs (apiserver/kafka.Kafka).
type KafkaProducers interface {
	disc.BehaviourPublisher
	disc.ExposureSinks
}

// DiscoveryOptions configures search, behaviour events and recommendations. The
// caller owns (and closes) the engine and the Kafka producers.
type DiscoveryOptions struct {
	// Search is the engine the ingest indexer fills (elasticsearch.New or
	// bleve.Open); nil answers the search routes with 503 unavailable.
	Search search.Backend
	// Settings are the storefronts' search settings; nil uses the defaults.
	Settings disc.SettingsSource
	// SearchCacheTTL keeps search and autocomplete answers in this replica for
	// that long (disc.ResultCache; `kommerce api` defaults to 1s, Elasticsearch's
	// refresh interval); 0 caches nothing. It adds at most that much to the time a
	// write takes to become searchable.
	SearchCacheTTL time.Duration
	// Kafka publishes behaviour events and recommendation exposures
	// (apiserver/kafka.New); nil answers POST /api/v1/events with 503 and logs no
	// exposures.
	Kafka KafkaProducers
	// InferenceURL is the model server; empty serves popularity only.
	InferenceURL string
	// RecsModel is the recommendation model's name on the server (default "recs");
	// RecsControlPercent of shoppers get popularity as the control arm.
	RecsModel          string
	RecsControlPercent int
	// RecsRanking is a popularity ranking served ahead of the catalog's (e.g. the
	// ranking file of `kommerce train recommendations`).
	RecsRanking recs.Popularity
	// RecsTimeout bounds one model call (default 150ms).
	RecsTimeout time.Duration
}

// discovery builds the services behind the discovery routes.
func discovery(o Options, db *postgres.DB, sf *documentSource) httpapi.DiscoveryConfig {
	d := o.Discovery
	store := &postgres.DiscoveryStore{DB: db}
	sfs := &disc.Storefronts{Store: store, Log: o.Logger, Managed: sourceOrNil(sf)}
	s := &disc.Search{Storefronts: sfs, Settings: d.Settings}
	if sf != nil {
		s.Settings = &disc.DocumentSettings{Store: o.Storefront}
	}
	if d.Search != nil {
		s.Searcher = search.NewSearcher(d.Search)
		s.Cache = disc.NewResultCache(d.SearchCacheTTL, 0, o.Registry)
	}
	b := &disc.Behaviour{}
	r := &disc.Recommendations{Store: store, Storefronts: sfs, InferenceURL: d.InferenceURL, Model: d.RecsModel,
		ControlPercent: d.RecsControlPercent, Ranking: d.RecsRanking, Timeout: d.RecsTimeout, Log: o.Logger}
	if d.Kafka != nil {
		b.Publisher = d.Kafka
		r.Exposures = d.Kafka
	}
	if sf != nil {
		// The storefront's document says which model versions answer and how
		// traffic is split between them; each reload is a new document pointer.
		r.Experiments = func() (recs.Experiment, any) {
			doc := sf.store.Current()
			return sf.experiment(doc), doc
		}
	}
	return httpapi.DiscoveryConfig{Search: s, Behaviour: b, Recommendations: r}
}
