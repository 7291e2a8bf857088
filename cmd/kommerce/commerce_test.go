package main

import (
	"strings"
	"testing"
)

// TestCommerceSettings: the commerce settings of kommerce api refuse bad values with
// exit status 2 and a message naming the setting, before anything starts.
func TestCommerceSettings(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown locking", nil, []string{"api", "--stock-locking", "optimistic"}, "accepted values are conditional, for-update"},
		{"the unsafe control is not a setting", map[string]string{"KOMMERCE_STOCK_LOCKING": "unsafe-read-then-write"}, []string{"api"}, "KOMMERCE_STOCK_LOCKING"},
		{"reservation TTL of zero", nil, []string{"api", "--reservation-ttl", "0s"}, "from 1s to 24h"},
		{"reservation TTL above a day", map[string]string{"KOMMERCE_RESERVATION_TTL": "25h"}, []string{"api"}, "KOMMERCE_RESERVATION_TTL"},
		{"guest reservation TTL of zero", nil, []string{"api", "--guest-reservation-ttl", "0s"}, "from 1s to 24h"},
		{"guest reservation TTL above a day", map[string]string{"KOMMERCE_GUEST_RESERVATION_TTL": "25h"}, []string{"api"}, "KOMMERCE_GUEST_RESERVATION_TTL"},
		{"currency", nil, []string{"api", "--default-currency", "euro"}, "ISO 4217"},
		{"sweep interval", nil, []string{"api", "--reservation-sweep-interval", "0s"}, "above zero"},
		{"guest cart retention of zero", nil, []string{"api", "--guest-cart-retention", "0s"}, "above zero"},
		{"customer cart retention not a duration", map[string]string{"KOMMERCE_CUSTOMER_CART_RETENTION": "90 days"}, []string{"api"}, "KOMMERCE_CUSTOMER_CART_RETENTION"},
		{"negative customer cart retention", nil, []string{"dev", "--customer-cart-retention", "-1h"}, "--customer-cart-retention"},
		{"webhook rate of zero", nil, []string{"api", "--webhook-rate", "0"}, "--webhook-rate"},
		{"webhook burst not a number", map[string]string{"KOMMERCE_WEBHOOK_BURST": "lots"}, []string{"api"}, "KOMMERCE_WEBHOOK_BURST"},
		{"fraud model without checksum", nil, []string{"api", "--fraud-model-uri", "/tmp/fraud.onnx"}, "--fraud-model-sha256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := invoke(t, tc.env, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}
