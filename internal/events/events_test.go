package events_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/internal/events"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("every event type and version needs a golden fixture: %v", err)
	}
	return b
}

// fixtureName is the golden file of a contract: "<name>.v<version>.json".
func fixtureName(c events.Contract) string {
	return c.Name + ".v" + strconv.Itoa(c.Version) + ".json"
}

// TestGoldenFixtures decodes each event type's fixture strictly into its Go type and
// encodes it back: the bytes must be the file's, so any change to the wire format
// of an event (a field added, renamed, retyped, reordered) is a diff in testdata.
func TestGoldenFixtures(t *testing.T) {
	seen := map[reflect.Type][]reflect.Value{}
	for _, c := range events.Contracts {
		t.Run(string(c.Type), func(t *testing.T) {
			want := fixture(t, fixtureName(c))
			v, err := events.Decode(c.Type, want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if got = append(got, '\n'); !bytes.Equal(got, want) {
				t.Fatalf("%s encodes differently from its fixture:\n%s\nfixture:\n%s", c.Type, got, want)
			}
			enc, err := events.Encode(c.Type, v)
			if err != nil {
				t.Fatal(err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, compact.Bytes()) {
				t.Fatalf("Encode(%s) = %s, want %s", c.Type, enc, compact.Bytes())
			}
			rv := reflect.ValueOf(v).Elem()
			seen[rv.Type()] = append(seen[rv.Type()], rv)
		})
	}
	// The fixtures of each Go type together set every field that can be left out of
	// the JSON (omitempty) or be null, so that none goes untested: a field that is
	// always written shows in the byte comparison above anyway.
	for typ, vals := range seen {
		for _, path := range unsetFields(typ, vals, "") {
			t.Errorf("no fixture of events.%s sets %s", typ.Name(), path)
		}
	}
}

// unsetFields lists the JSON paths of optional fields (omitempty, or a pointer) that
// are zero in every one of vals, looking into nested structs of the package.
func unsetFields(typ reflect.Type, vals []reflect.Value, prefix string) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := prefix + strings.Split(f.Tag.Get("json"), ",")[0]
		optional := strings.Contains(f.Tag.Get("json"), ",omitempty") || f.Type.Kind() == reflect.Pointer
		var set []reflect.Value
		for _, v := range vals {
			if fv := v.Field(i); !fv.IsZero() {
				set = append(set, fv)
			}
		}
		if len(set) == 0 {
			if optional {
				out = append(out, name)
			}
			continue
		}
		ft := f.Type
		var elems []reflect.Value
		switch {
		case ft.Kind() == reflect.Struct && ft.NumField() > 0 && ft.Field(0).IsExported() && ft.PkgPath() == typ.PkgPath():
			elems = set
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			for _, s := range set {
				for j := range s.Len() {
					elems = append(elems, s.Index(j))
				}
			}
			ft = ft.Elem()
		default:
			continue
		}
		out = append(out, unsetFields(ft, elems, name+".")...)
	}
	return out
}

// TestNoOrphanFixtures keeps testdata in step with Contracts: a fixture of a type no
// longer registered is a contract that was dropped without a decision.
func TestNoOrphanFixtures(t *testing.T) {
	want := map[string]bool{"envelope.json": true}
	for _, c := range events.Contracts {
		want[fixtureName(c)] = true
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !want[filepath.Base(f)] {
			t.Errorf("%s is the fixture of no registered event type", f)
		}
	}
}

func TestEnvelopeFixture(t *testing.T) {
	want := fixture(t, "envelope.json")
	var env events.Envelope
	dec := json.NewDecoder(bytes.NewReader(want))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if got = append(got, '\n'); !bytes.Equal(got, want) {
		t.Fatalf("the envelope encodes differently from its fixture:\n%s", got)
	}
	if _, err := events.Decode(env.Type, env.Data); err != nil {
		t.Fatalf("the envelope's data: %v", err)
	}
}

// TestContractsAreWellFormed checks what the registry itself promises: one contract
// per wire type, the version in the name, every type on a stream whose topic exists.
func TestContractsAreWellFormed(t *testing.T) {
	seen := map[events.Type]bool{}
	for _, c := range events.Contracts {
		if seen[c.Type] {
			t.Errorf("%s is registered twice", c.Type)
		}
		seen[c.Type] = true
		if got := events.TypeOf(c.Name, c.Version); got != c.Type {
			t.Errorf("%s: name %q version %d make %q", c.Type, c.Name, c.Version, got)
		}
		if !regexp.MustCompile(`^[a-z]+\.[a-z_]+$`).MatchString(c.Name) {
			t.Errorf("%s: name %q is not <aggregate>.<what happened>", c.Type, c.Name)
		}
		if c.Aggregate == "" {
			t.Errorf("%s has no aggregate type", c.Type)
		}
		if s := events.StreamOf(c.Type); !contains(events.Streams, s) {
			t.Errorf("%s is on stream %q, which is not in Streams", c.Type, s)
		}
		if _, ok := events.Lookup(c.Type); !ok {
			t.Errorf("Lookup(%s) finds nothing", c.Type)
		}
	}
	if _, ok := events.Lookup("order.shipped"); ok {
		t.Error("Lookup found a type that is not registered")
	}
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestStreams(t *testing.T) {
	tests := []struct {
		typ  events.Type
		want events.Stream
	}{
		{events.ProductCreated, events.StreamCatalog},
		{events.CategoryUpdated, events.StreamCatalog},
		{events.StockChanged, events.StreamInventory},
		{events.OrderCreated, events.StreamOrders},
		{events.PaymentUpdated, events.StreamOrders},
		{events.BehaviourEvent, events.StreamBehaviour},
		{events.ModelExposure, events.StreamBehaviour},
		{"order.created.v2", events.StreamOrders},
		{events.PasswordResetRequested, events.StreamAccounts},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			if got := events.StreamOf(tt.typ); got != tt.want {
				t.Fatalf("StreamOf(%s) = %s, want %s", tt.typ, got, tt.want)
			}
		})
	}
}

func TestParseType(t *testing.T) {
	tests := []struct {
		typ     events.Type
		name    string
		version int
	}{
		{"order.created", "order.created", 1},
		{"order.created.v2", "order.created", 2},
		{"order.created.v12", "order.created", 12},
		{"order.created.v1", "order.created.v1", 1}, // version 1 is never suffixed
		{"order.created.vx", "order.created.vx", 1},
		{"behaviour.recorded", "behaviour.recorded", 1},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			name, v := events.ParseType(tt.typ)
			if name != tt.name || v != tt.version {
				t.Fatalf("ParseType(%s) = %q, %d; want %q, %d", tt.typ, name, v, tt.name, tt.version)
			}
		})
	}
	if got := events.TypeOf("order.created", 3); got != "order.created.v3" {
		t.Fatalf("TypeOf(order.created, 3) = %s", got)
	}
}

// TestDecodeRefuses shows that data off its contract is refused, not half read.
func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name string
		typ  events.Type
		data string
		want string
	}{
		{"unknown field", events.StockChanged, `{"sku":"a","product_id":"p","available":1,"version":1,"warehouse":"w"}`, `unknown field "warehouse"`},
		{"field of another type", events.OrderCreated, `{"id":"o","total":"12.00"}`, "cannot unmarshal string"},
		{"renamed field", events.PaymentUpdated, `{"orderId":"o"}`, `unknown field "orderId"`},
		{"trailing data", events.StockChanged, `{"sku":"a"} {"sku":"b"}`, "trailing data"},
		{"null", events.ProductUpdated, `null`, "data is null"},
		{"not an object", events.ModelExposure, `[1,2]`, "cannot unmarshal array"},
		{"unregistered type", "order.shipped", `{}`, "has no contract"},
		{"unregistered version", "stock.changed.v2", `{}`, "has no contract"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.Decode(tt.typ, []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode(%s, %s) = %v, want an error with %q", tt.typ, tt.data, err, tt.want)
			}
		})
	}
	var p events.Product
	if err := events.DecodeInto(events.StockChanged, []byte(`{"sku":"a"}`), &p); err == nil {
		t.Fatal("DecodeInto read stock.changed into a Product")
	}
	var s events.Stock
	if err := events.DecodeInto(events.StockChanged, []byte(`{"sku":"a","available":3}`), &s); err != nil || s.Available != 3 {
		t.Fatalf("DecodeInto = %v, %+v", err, s)
	}
}

// TestEncodeRefusesAnotherShape is the producer side: an event whose data is not its
// contract's Go type fails when it is made, before anything is written.
func TestEncodeRefusesAnotherShape(t *testing.T) {
	tests := []struct {
		name string
		typ  events.Type
		data any
	}{
		{"another event's type", events.OrderCreated, events.Product{ID: "p"}},
		{"a look-alike struct", events.StockChanged, struct {
			SKU string `json:"sku"`
		}{"a"}},
		{"a map", events.OrderTransitioned, map[string]any{"order_id": "o"}},
		{"raw JSON", events.PaymentUpdated, json.RawMessage(`{"order_id":"o"}`)},
		{"nil", events.CategoryCreated, nil},
		{"unregistered type", "order.shipped", events.Order{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := events.Encode(tt.typ, tt.data); err == nil {
				t.Fatalf("Encode(%s, %T) = %s, want an error", tt.typ, tt.data, b)
			}
		})
	}
	if _, err := events.Encode(events.StockChanged, &events.Stock{SKU: "a"}); err != nil {
		t.Fatalf("Encode of a pointer to the contract's type: %v", err)
	}
}

// TestDocsListEveryEvent keeps docs/events.md complete: every event type and every
// field of its data appears there.
func TestDocsListEveryEvent(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	for _, c := range events.Contracts {
		if !strings.Contains(text, "`"+string(c.Type)+"`") {
			t.Errorf("docs/events.md does not list %s", c.Type)
		}
		for _, f := range jsonFields(reflect.TypeOf(c.New()).Elem(), "") {
			if !strings.Contains(text, "`"+f+"`") {
				t.Errorf("docs/events.md does not describe field %s of %s", f, c.Type)
			}
		}
	}
}

// jsonFields lists the JSON names of a struct's fields, nested ones as parent.child.
func jsonFields(typ reflect.Type, prefix string) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := prefix + strings.Split(f.Tag.Get("json"), ",")[0]
		out = append(out, name)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == typ.PkgPath() {
			out = append(out, jsonFields(ft, name+".")...)
		}
	}
	return out
}
