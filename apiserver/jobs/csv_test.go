package jobs

import (
	"testing"

	"github.com/kommerce/kommerce/apiserver"
)

func TestParsePrice(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"19.99", 1999, true},
		{"20", 2000, true},
		{"0.5", 50, true},
		{" 7.05 ", 705, true},
		{"0", 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1,50", 0, false},
		{"1.999", 0, false},
		{"abc", 0, false},
		{"1e3", 0, false},
		{"99999999999999", 0, false},
		{"10000000000.01", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, msg := ParsePrice(tc.in)
			if (msg == "") != tc.ok || got != tc.want {
				t.Fatalf("ParsePrice(%q) = %d, %q; want %d ok=%v", tc.in, got, msg, tc.want, tc.ok)
			}
			if tc.ok && FormatPrice(got) != func() string { p, _ := ParsePrice(FormatPrice(got)); return FormatPrice(p) }() {
				t.Fatalf("FormatPrice does not round-trip %d", got)
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		ok   bool
	}{
		{"required only", []string{"sku", "name", "currency", "price"}, true},
		{"all, any order and case, BOM", []string{"\uFEFFPrice", " SKU ", "name", "description", "status", "currency"}, true},
		{"unknown column", []string{"sku", "name", "currency", "price", "colour"}, false},
		{"missing price", []string{"sku", "name", "currency"}, false},
		{"twice", []string{"sku", "name", "currency", "price", "sku"}, false},
		{"empty", []string{""}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHeader(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseHeader(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && apiserver.ErrorCode(err) != apiserver.ErrInvalid {
				t.Fatalf("code %s", apiserver.ErrorCode(err))
			}
		})
	}
}

func TestParseRow(t *testing.T) {
	h, err := ParseHeader([]string{"sku", "name", "status", "currency", "price"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		rec  []string
		cols []string // columns with an error, in order
	}{
		{"valid", []string{"A-1", "Mug", "published", "EUR", "9.50"}, nil},
		{"empty status is kept", []string{"A-1", "Mug", "", "EUR", "9.50"}, nil},
		{"bad price", []string{"A-1", "Mug", "", "EUR", "9,50"}, []string{"price"}},
		{"everything wrong", []string{"-x", " ", "sold", "eur", ""}, []string{"sku", "name", "status", "currency", "price"}},
		{"short row", []string{"A-1", "Mug"}, []string{""}},
		{"NUL in name", []string{"A-1", "M\x00g", "", "EUR", "1"}, []string{"name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, errs := h.ParseRow(7, tc.rec)
			var cols []string
			for _, e := range errs {
				if e.Row != 7 || e.Message == "" {
					t.Fatalf("bad error %+v", e)
				}
				cols = append(cols, e.Column)
			}
			if len(cols) != len(tc.cols) {
				t.Fatalf("errors in %q, want %q (%+v)", cols, tc.cols, errs)
			}
			for i := range cols {
				if cols[i] != tc.cols[i] {
					t.Fatalf("errors in %q, want %q", cols, tc.cols)
				}
			}
			if (r != nil) != (len(tc.cols) == 0) {
				t.Fatalf("row %+v with errors %+v", r, errs)
			}
		})
	}
}
