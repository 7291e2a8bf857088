package events

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// envelopeCase is one envelope of the AppendJSON tests, by its parts.
type envelopeCase struct {
	id, typ, tenant, aggType, aggID string
	nanos                           int64 // occurred_at, Unix nanoseconds
	offset                          int   // its zone's offset east of UTC, seconds
	data                            string
}

func (c envelopeCase) envelope() Envelope {
	at := time.Unix(0, c.nanos).UTC()
	if c.offset != 0 {
		at = at.In(time.FixedZone("x", c.offset))
	}
	var data json.RawMessage
	if c.data != "" {
		data = json.RawMessage(c.data)
	}
	return Envelope{ID: c.id, Type: Type(c.typ), TenantID: c.tenant, AggregateType: c.aggType, AggregateID: c.aggID, OccurredAt: at, Data: data}
}

var envelopeCases = []envelopeCase{
	{id: "00000000-0000-4000-8000-000000000001", typ: "product.created", tenant: "6a1f3c2e-0000-4000-8000-000000000001", aggType: "product", aggID: "p1",
		nanos: 1764979200123456789, data: `{"id":"p1","version":1,"name":"Chair"}`},
	// jsonb's own output: a space after every colon and comma.
	{id: "e", typ: "product.updated", tenant: "t", aggType: "product", aggID: "p1", nanos: 1764979200000000000,
		data: `{"id": "p1", "name": "Chair, \"big\": red", "tags": [1, 2.5e3, true, null], "attributes": {"a b": " c "}, "version": 4}`},
	{id: "e", typ: "t.x", tenant: "t", aggType: "a", aggID: "a", data: " \t\n{ \"a\" :\r\n [ ] } \n"},
	{id: "e", typ: "t.x", tenant: "t", aggType: "a", aggID: "a", data: `"a string with \\ and \" and \u00e9 and é"`},
	{id: "e", typ: "t.x", tenant: "t", aggType: "a", aggID: "a", data: `{"s":"\\"}`},
	{id: "e", typ: "t.x", tenant: "t", aggType: "a", aggID: "a", data: `null`},
	{id: "e", typ: "t.x", tenant: "t", aggType: "a", aggID: "a"}, // no data: null
	// What json.Marshal escapes, in the data and in the fields.
	{id: "e", typ: "t.x", tenant: "t", aggType: "a", aggID: "a", data: `{"html":"<b> & </b>"}`},
	{id: "e", typ: "t.x", tenant: "t", aggType: "a", aggID: "a", data: "{\"ls\":\"\u2028 \u2029\"}"},
	{id: "e", typ: "t.x", tenant: "t", aggType: "a", aggID: "a", data: "{\"euro\":\"\u20ac\"}"}, // 0xE2, not escaped
	{id: "e", typ: "t.x", tenant: "t", aggType: "product", aggID: `a "quoted" \ id`, data: `1`},
	{id: "e", typ: "t.x", tenant: "t", aggType: "product", aggID: "tab\there", data: `1`},
	{id: "e", typ: "t.x", tenant: "t", aggType: "product", aggID: "<script>&", data: `1`},
	{id: "e", typ: "t.x", tenant: "t", aggType: "product", aggID: "bücher", data: `1`},
	{id: "e", typ: "t.x", tenant: "t", aggType: "product", aggID: "bad \xff utf-8", data: `1`},
	// Times: a zone other than UTC, and years json.Marshal refuses.
	{id: "e", typ: "t.x", tenant: "t", aggType: "a", aggID: "a", nanos: 1764979200000000000, offset: 3600, data: `1`},
	{id: "e", typ: "t.x", tenant: "t", aggType: "a", aggID: "a", nanos: 1764979200000000000, offset: 24*3600 + 60, data: `1`},
}

// TestAppendJSONIsMarshal: AppendJSON writes what json.Marshal writes, byte for byte,
// and fails where it fails; appending to a buffer keeps what was there.
func TestAppendJSONIsMarshal(t *testing.T) {
	for _, c := range envelopeCases {
		checkAppendJSON(t, c)
	}
	for _, year := range []int{-1, 10000} {
		far := envelopeCase{id: "e", typ: "t.x", tenant: "t", aggType: "a", aggID: "a", data: `1`}.envelope()
		far.OccurredAt = time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := far.AppendJSON(nil); err == nil {
			t.Errorf("the year %d: no error, as json.Marshal has", year)
		}
	}
	got, err := envelopeCases[0].envelope().AppendJSON([]byte("prefix:"))
	want, _ := json.Marshal(envelopeCases[0].envelope())
	if err != nil || string(got) != "prefix:"+string(want) {
		t.Errorf("appended to a buffer: %s, %v", got, err)
	}
}

func checkAppendJSON(t *testing.T, c envelopeCase) {
	t.Helper()
	e := c.envelope()
	want, werr := json.Marshal(e)
	got, gerr := e.AppendJSON(nil)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("%+v: json.Marshal error %v, AppendJSON error %v", c, werr, gerr)
	}
	if werr == nil && !bytes.Equal(got, want) {
		t.Fatalf("%+v:\nAppendJSON   %s\njson.Marshal %s", c, got, want)
	}
}

// FuzzAppendJSON compares AppendJSON with json.Marshal on any valid data and any
// field values (go test -fuzz FuzzAppendJSON ./internal/events; the cases above are
// its seeds).
func FuzzAppendJSON(f *testing.F) {
	for _, c := range envelopeCases {
		f.Add(c.id, c.typ, c.tenant, c.aggType, c.aggID, c.nanos, c.offset, c.data)
	}
	f.Add("e", "t.x", "t", "a", "a", int64(0), 0, strings.Repeat(`{"a": [`, 50)+"1"+strings.Repeat("]}", 50))
	f.Fuzz(func(t *testing.T, id, typ, tenant, aggType, aggID string, nanos int64, offset int, data string) {
		if data != "" && !json.Valid([]byte(data)) {
			t.Skip("data must be valid JSON")
		}
		checkAppendJSON(t, envelopeCase{id, typ, tenant, aggType, aggID, nanos, offset % (48 * 3600), data})
	})
}

func BenchmarkEnvelopeJSON(b *testing.B) {
	data := []byte(`{"id": "p-00000123", "name": "Sturdy Cotton Chair", "description": "` + strings.Repeat("lorem ipsum dolor sit amet ", 30) +
		`", "variants": [{"sku": "p-00000123-1", "prices": [{"amount": 1999, "currency": "USD"}, {"amount": 1899, "currency": "EUR"}]}], "version": 1}`)
	e := Envelope{ID: "00000000-0000-4000-8000-000000000001", Type: ProductCreated, TenantID: "6a1f3c2e-0000-4000-8000-000000000001",
		AggregateType: "product", AggregateID: "p-00000123", OccurredAt: time.Now().UTC(), Data: data}
	b.Run("json.Marshal", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := json.Marshal(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := e.AppendJSON(make([]byte, 0, len(data)+300)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
