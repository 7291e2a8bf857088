package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Contract is one event type at one version: its wire name and the Go type of its
// data. Producers encode with Encode and consumers decode with Decode, so neither
// side can use another shape for the type.
type Contract struct {
	Type    Type
	Name    string // the type without its version suffix, e.g. "order.created"
	Version int
	// Aggregate is the envelope's aggregate_type, and what its aggregate_id is.
	Aggregate string
	data      reflect.Type
}

// New returns a pointer to a zero value of the contract's data type.
func (c Contract) New() any { return reflect.New(c.data).Interface() }

func contract[T any](t Type, aggregate string) Contract {
	name, version := ParseType(t)
	return Contract{Type: t, Name: name, Version: version, Aggregate: aggregate, data: reflect.TypeFor[T]()}
}

// Contracts lists every event type the platform emits, at every version in use.
var Contracts = []Contract{
	contract[Product](ProductCreated, "product"),
	contract[Product](ProductUpdated, "product"),
	contract[Product](ProductDeleted, "product"),
	contract[Category](CategoryCreated, "category"),
	contract[Category](CategoryUpdated, "category"),
	contract[Stock](StockChanged, "stock"),
	contract[Order](OrderCreated, "order"),
	contract[OrderTransition](OrderTransitioned, "order"),
	contract[Payment](PaymentUpdated, "payment"),
	contract[Behaviour](BehaviourEvent, "session"),
	contract[Exposure](ModelExposure, "subject"),
	contract[AccountToken](PasswordResetRequested, "user"),
	contract[AccountToken](VerificationRequested, "user"),
}

var byType = func() map[Type]Contract {
	m := make(map[Type]Contract, len(Contracts))
	for _, c := range Contracts {
		m[c.Type] = c
	}
	return m
}()

// Lookup returns the contract of a wire type; ok is false for a type no producer
// emits.
func Lookup(t Type) (c Contract, ok bool) {
	c, ok = byType[t]
	return c, ok
}

// ParseType splits a wire type into its name and version: "order.created" is
// ("order.created", 1), "order.created.v2" is ("order.created", 2).
func ParseType(t Type) (name string, version int) {
	s := string(t)
	if i := strings.LastIndex(s, ".v"); i > 0 {
		if n, err := strconv.Atoi(s[i+2:]); err == nil && n > 1 {
			return s[:i], n
		}
	}
	return s, 1
}

// TypeOf returns the wire type of an event name at a version (see Versions).
func TypeOf(name string, version int) Type {
	if version <= 1 {
		return Type(name)
	}
	return Type(name + ".v" + strconv.Itoa(version))
}

// Encode returns the data of an event of type t: data must be the Go type the
// contract of t names (a value or a pointer to one). A producer handing over
// anything else gets an error instead of writing an event its consumers cannot
// read.
func Encode(t Type, data any) ([]byte, error) {
	c, ok := Lookup(t)
	if !ok {
		return nil, fmt.Errorf("event type %q has no contract in internal/events", t)
	}
	got := reflect.TypeOf(data)
	if got != nil && got.Kind() == reflect.Pointer {
		got = got.Elem()
	}
	if got != c.data {
		return nil, fmt.Errorf("event %s carries %v, its contract says events.%s", t, got, c.data.Name())
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	return b, nil
}

// Decode reads the data of an event of type t strictly: into the contract's Go type,
// refusing unknown fields, a value of another JSON type and trailing data. It
// returns a pointer to the decoded value (*Product for product.created, ...).
func Decode(t Type, data []byte) (any, error) {
	c, ok := Lookup(t)
	if !ok {
		return nil, fmt.Errorf("event type %q has no contract in internal/events", t)
	}
	v := c.New()
	if err := decodeStrict(data, v); err != nil {
		return nil, fmt.Errorf("event %s does not match its contract: %w", t, err)
	}
	return v, nil
}

// DecodeInto reads the data of an event of type t strictly into v, which must be a
// pointer to the contract's Go type.
func DecodeInto(t Type, data []byte, v any) error {
	c, ok := Lookup(t)
	if !ok {
		return fmt.Errorf("event type %q has no contract in internal/events", t)
	}
	if rt := reflect.TypeOf(v); rt == nil || rt.Kind() != reflect.Pointer || rt.Elem() != c.data {
		return fmt.Errorf("event %s decodes into *events.%s, not %T", t, c.data.Name(), v)
	}
	if err := decodeStrict(data, v); err != nil {
		return fmt.Errorf("event %s does not match its contract: %w", t, err)
	}
	return nil
}

func decodeStrict(data []byte, v any) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return fmt.Errorf("data is null")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}
