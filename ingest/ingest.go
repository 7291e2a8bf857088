// Package ingest moves domain events from the outbox to their side effects: the relay
// publishes outbox rows to each tenant's Kafka topics, and consumers (the search
// indexer today; features and experiment metrics later) apply them idempotently.
//
// This package holds the domain: the message and handler contract every consumer
// implements, how a handler classifies failures (retry, dead-letter, wait) and the
// tenant directory; the events themselves are internal/events. Adapters live in
// subpackages: postgres (the outbox relay and the tenant directory), kafka (topics, the consumer runner with its
// dead-letter queue and replay, the behaviour publisher), indexer (the search indexer).
// Run in run.go wires them together for `kommerce ingest` and `kommerce dev`.
package ingest

import (
	"context"
	"errors"
	"time"
)

// Message is one Kafka record as a handler sees it.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   map[string]string
	Time      time.Time
}

// Handler processes batches of messages. It returns one error per message, in order:
// nil when the message's effect is done (including "already done": handlers must be
// idempotent, because every message can arrive more than once), an error made with
// Permanent when retrying cannot help (the message goes to the dead-letter topic at
// once), an error made with Unavailable when a dependency is down (the batch is
// retried until it comes back, nothing is dead-lettered), or any other error for a
// failure that may pass (retried a few times with backoff, then dead-lettered).
type Handler interface {
	Handle(ctx context.Context, msgs []Message) []error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, msgs []Message) []error

// Handle implements Handler.
func (f HandlerFunc) Handle(ctx context.Context, msgs []Message) []error { return f(ctx, msgs) }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a property of the message itself (malformed, unknown type,
// refused by the engine): the message is dead-lettered without retries.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was made with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// Unavailable marks err as an outage of something the handler needs (the search
// engine, the database): the consumer waits and retries without limit rather than
// dead-lettering healthy messages.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return &unavailableError{err: err}
}

// IsUnavailable reports whether err was made with Unavailable.
func IsUnavailable(err error) bool {
	var u *unavailableError
	return errors.As(err, &u)
}

// Tenant is what ingest needs to know of a tenant.
type Tenant struct {
	ID          string
	Slug        string
	TopicPrefix string
	IndexPrefix string
	// Storefronts are the storefront names whose search indices hold this tenant's
	// catalog; "default" is always one of them.
	Storefronts []string
}

// DefaultStorefront is the storefront every tenant has: the one the API serves when a
// request names the tenant by header rather than by a storefront's hostname.
const DefaultStorefront = "default"

// Directory lists tenants. Implementations cache; Tenant may refresh on a miss so a
// tenant created a moment ago is found.
type Directory interface {
	// Tenants returns every tenant whose events are processed.
	Tenants(ctx context.Context) ([]Tenant, error)
	// Tenant returns one tenant by id; ok is false when there is none.
	Tenant(ctx context.Context, id string) (t Tenant, ok bool, err error)
}

// OutboundMessage is a record to publish.
type OutboundMessage struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers map[string]string
}

// Publisher writes records and returns once the broker acknowledged all of them
// (or with an error, in which case any of them may or may not have been written).
type Publisher interface {
	Publish(ctx context.Context, msgs []OutboundMessage) error
}

// TopicCreator makes sure a tenant's topics exist before anything is published to them.
type TopicCreator interface {
	EnsurePrefix(ctx context.Context, topicPrefix string) error
}
