// Package sfsettingstest writes storefront settings documents the way the kubelet
// writes a ConfigMap volume, for the tests of the packages that read them.
package sfsettingstest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/kommerce/kommerce/internal/sfsettings"
)

// Document returns a valid document for tenant/storefront with one channel
// (shop.example.com, EUR), 19 % VAT, 4.95 shipping free from 50.00, a 15 minute
// reservation TTL and one allowed origin.
func Document(tenant, storefront string) *sfsettings.Document {
	free := int64(5000)
	return &sfsettings.Document{
		APIVersion: sfsettings.APIVersion, Tenant: tenant, Storefront: storefront, Generation: 1,
		Channels: []sfsettings.Channel{{Name: "web", Hostname: "shop.example.com", Currency: "EUR", Locales: []string{"de-DE", "en"}}},
		Search: sfsettings.Search{
			Synonyms:     []sfsettings.Synonyms{{Terms: []string{"sneaker", "trainer"}}},
			Boosts:       []sfsettings.Boost{{Field: "name", WeightPercent: 300}},
			Autocomplete: sfsettings.Autocomplete{Enabled: true, MinChars: 2, MaxSuggestions: 8},
		},
		Inventory: sfsettings.Inventory{ReservationTTLSeconds: 900},
		Checkout:  sfsettings.Checkout{TaxRateBasisPoints: 1900, TaxLabel: "VAT", ShippingAmount: 495, FreeShippingOver: &free},
		CORS:      sfsettings.CORS{AllowedOrigins: []string{"https://shop.example.com"}},
	}
}

// Volume is a directory laid out like a mounted ConfigMap: Path
// (<dir>/storefront.json) is a symlink to ..data/storefront.json, and ..data a
// symlink to a timestamped directory holding the real file.
type Volume struct {
	Dir string
	n   atomic.Int64
}

// NewVolume returns an empty volume in dir.
func NewVolume(dir string) *Volume { return &Volume{Dir: dir} }

// Path is the file an API pod is pointed at.
func (v *Volume) Path() string { return filepath.Join(v.Dir, sfsettings.Key) }

// WriteDocument marshals d and writes it with Write.
func (v *Volume) WriteDocument(d *sfsettings.Document) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return v.Write(b)
}

// Write replaces the file's content the kubelet's way (its atomic writer): the data
// goes into a new timestamped directory, a new symlink to it is renamed over
// ..data in one step, and the old directory is removed. A reader resolving Path
// sees the old file or the new one, never a half-written one.
func (v *Volume) Write(data []byte) error {
	n := v.n.Add(1)
	ts := fmt.Sprintf("..2026_12_05_08_00_00.%d", n)
	if err := os.Mkdir(filepath.Join(v.Dir, ts), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(v.Dir, ts, sfsettings.Key), data, 0o644); err != nil { //nolint:gosec // a ConfigMap volume is world-readable
		return err
	}
	old, _ := os.Readlink(filepath.Join(v.Dir, "..data"))
	tmp := filepath.Join(v.Dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(v.Dir, "..data")); err != nil {
		return err
	}
	if _, err := os.Lstat(v.Path()); os.IsNotExist(err) {
		if err := os.Symlink(filepath.Join("..data", sfsettings.Key), v.Path()); err != nil {
			return err
		}
	}
	if old != "" {
		return os.RemoveAll(filepath.Join(v.Dir, old))
	}
	return nil
}
