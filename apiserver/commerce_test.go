package apiserver

import (
	"testing"
	"time"
)

func TestCharges(t *testing.T) {
	over := func(n int64) *int64 { return &n }
	tests := []struct {
		name          string
		s             CheckoutSettings
		subtotal      int64
		shipping, tax int64
	}{
		{"no rules", CheckoutSettings{}, 1000, 0, 0},
		{"flat shipping", CheckoutSettings{ShippingAmount: 499}, 1000, 499, 0},
		{"nothing to ship", CheckoutSettings{ShippingAmount: 499, TaxRateBPS: 2000}, 0, 0, 0},
		{"free from the threshold", CheckoutSettings{ShippingAmount: 499, FreeShippingOver: over(1000)}, 1000, 0, 0},
		{"just below the threshold", CheckoutSettings{ShippingAmount: 499, FreeShippingOver: over(1000)}, 999, 499, 0},
		{"tax on items and shipping", CheckoutSettings{ShippingAmount: 500, TaxRateBPS: 2000}, 1000, 500, 300},
		{"tax rounds half up", CheckoutSettings{TaxRateBPS: 1900}, 50, 0, 10},        // 9.5 -> 10
		{"tax rounds down below half", CheckoutSettings{TaxRateBPS: 1900}, 49, 0, 9}, // 9.31 -> 9
		{"100% tax", CheckoutSettings{TaxRateBPS: 10000}, 1234, 0, 1234},
		{"largest cart does not overflow", CheckoutSettings{ShippingAmount: MaxAmount, TaxRateBPS: 10000}, MaxCartLines * MaxLineQty * MaxAmount, MaxAmount, MaxCartLines*MaxLineQty*MaxAmount + MaxAmount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			shipping, tax := tc.s.Charges(tc.subtotal)
			if shipping != tc.shipping || tax != tc.tax {
				t.Fatalf("Charges(%d) = %d, %d; want %d, %d", tc.subtotal, shipping, tax, tc.shipping, tc.tax)
			}
		})
	}
}

func TestTaxName(t *testing.T) {
	for bps, want := range map[int]string{2000: "VAT (20%)", 1950: "VAT (19.5%)", 725: "VAT (7.25%)", 0: "VAT (0%)", 5: "VAT (0.05%)"} {
		if got := (CheckoutSettings{TaxLabel: "VAT", TaxRateBPS: bps}).TaxName(); got != want {
			t.Errorf("%d bps: %q, want %q", bps, got, want)
		}
	}
}

func TestDefaultSettings(t *testing.T) {
	s := CheckoutDefaults{}.Settings("default")
	if s.Currency != "EUR" || s.ReservationTTL() != 15*time.Minute || s.Stored || s.Fraud != nil {
		t.Fatalf("defaults: %+v", s)
	}
	if s := (CheckoutDefaults{ReservationTTL: 300 * time.Millisecond}).Settings("x"); s.ReservationTTLSeconds != 1 {
		t.Fatalf("sub-second TTL: %+v", s)
	}
}

func TestOrderStates(t *testing.T) {
	ends := map[OrderStatus]bool{OrderCancelled: true, OrderRefunded: true}
	for _, s := range OrderStatuses {
		if !s.Valid() {
			t.Errorf("%s is not valid", s)
		}
		if s.CanBecome(s) {
			t.Errorf("%s may become itself", s)
		}
		if s.CanBecome(OrderPendingPayment) {
			t.Errorf("%s may go back to pending_payment", s)
		}
		for _, to := range OrderStatuses {
			if ends[s] && s.CanBecome(to) {
				t.Errorf("final state %s may become %s", s, to)
			}
		}
	}
	if OrderStatus("lost").Valid() || OrderStatus("lost").CanBecome(OrderPaid) {
		t.Error("an unknown state is accepted")
	}
	for _, s := range []OrderStatus{OrderFulfilled, OrderShipped, OrderDelivered, OrderRefunded} {
		if s.CanBecome(OrderCancelled) {
			t.Errorf("%s may be cancelled", s)
		}
	}
}

func TestIdempotencyKeys(t *testing.T) {
	for key, ok := range map[string]bool{"a": true, "0b5f3f0e-2f6a-4a3e-9f57-1c1f0a1e2d3c": true, "x!~": true,
		"": false, "with space": false, "tab\t": false, "é": false, string(make([]byte, 256)): false} {
		if ValidIdempotencyKey(key) != ok {
			t.Errorf("ValidIdempotencyKey(%q) = %v", key, !ok)
		}
	}
}

func TestCheckoutSettingsInput(t *testing.T) {
	neg := int64(-1)
	tests := []struct {
		name  string
		in    CheckoutSettingsInput
		field string
	}{
		{"ok", CheckoutSettingsInput{Currency: "EUR", ReservationTTLSeconds: 900, Fraud: &FraudPolicy{Action: FraudReview, Threshold: 0.8}}, ""},
		{"currency", CheckoutSettingsInput{Currency: "eur", ReservationTTLSeconds: 900}, "currency"},
		{"ttl above a day", CheckoutSettingsInput{Currency: "EUR", ReservationTTLSeconds: 86401}, "reservation_ttl_seconds"},
		{"negative shipping", CheckoutSettingsInput{Currency: "EUR", ReservationTTLSeconds: 60, ShippingAmount: -1}, "shipping_amount"},
		{"negative free shipping", CheckoutSettingsInput{Currency: "EUR", ReservationTTLSeconds: 60, FreeShippingOver: &neg}, "free_shipping_over"},
		{"threshold zero", CheckoutSettingsInput{Currency: "EUR", ReservationTTLSeconds: 60, Fraud: &FraudPolicy{Action: FraudLog}}, "fraud.threshold"},
		{"allow is no policy", CheckoutSettingsInput{Currency: "EUR", ReservationTTLSeconds: 60, Fraud: &FraudPolicy{Action: FraudAllow, Threshold: 0.5}}, "fraud.action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ErrorField(tc.in.Validate()); got != tc.field {
				t.Fatalf("field %q, want %q", got, tc.field)
			}
		})
	}
}

func TestHoardPolicyWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   HoardPolicy
		want HoardPolicy
	}{
		{"zero takes the defaults", HoardPolicy{}, DefaultHoardPolicy},
		{"set fields stay", HoardPolicy{MaxUnitsGuest: 2, MaxUnpaid: 7},
			HoardPolicy{MaxUnitsGuest: 2, MaxUnitsCustomer: DefaultHoardPolicy.MaxUnitsCustomer, MaxUnpaid: 7, MaxUnpaidPerAddress: DefaultHoardPolicy.MaxUnpaidPerAddress,
				GuestReservationTTLSeconds: DefaultHoardPolicy.GuestReservationTTLSeconds}},
		{"negative (off) stays", HoardPolicy{MaxUnitsGuest: -1, MaxUnitsCustomer: -1, MaxUnpaid: -1, MaxUnpaidPerAddress: -1, GuestReservationTTLSeconds: -1},
			HoardPolicy{MaxUnitsGuest: -1, MaxUnitsCustomer: -1, MaxUnpaid: -1, MaxUnpaidPerAddress: -1, GuestReservationTTLSeconds: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.WithDefaults(); got != tt.want {
				t.Errorf("WithDefaults() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
