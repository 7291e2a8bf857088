package apiserver

import (
	"testing"
	"time"
)

func TestReservationTTLFor(t *testing.T) {
	for _, tc := range []struct {
		name            string
		storefront      int
		guestTTL        int64
		guest, customer time.Duration
	}{
		{"guests shorter", 900, 600, 10 * time.Minute, 15 * time.Minute},
		{"storefront shorter than the guests'", 300, 600, 5 * time.Minute, 5 * time.Minute},
		{"guest TTL off", 900, -1, 15 * time.Minute, 15 * time.Minute},
		{"guest TTL unset", 900, 0, 15 * time.Minute, 15 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := CheckoutSettings{ReservationTTLSeconds: tc.storefront, Hoarding: HoardPolicy{GuestReservationTTLSeconds: tc.guestTTL}}
			if g, c := s.ReservationTTLFor(true), s.ReservationTTLFor(false); g != tc.guest || c != tc.customer {
				t.Errorf("guest %v, customer %v; want %v, %v", g, c, tc.guest, tc.customer)
			}
		})
	}
}

func TestGuestReservationTTLDefault(t *testing.T) {
	if got := (HoardPolicy{}).WithDefaults().GuestReservationTTLSeconds; got != 600 {
		t.Errorf("default guest TTL %d s, want 600", got)
	}
	in := CheckoutSettingsInput{Currency: "EUR", ReservationTTLSeconds: 900,
		Hoarding: &HoardPolicy{MaxUnitsGuest: 1, MaxUnitsCustomer: 1, MaxUnpaid: 1, MaxUnpaidPerAddress: 1, GuestReservationTTLSeconds: 60}}
	if err := in.Validate(); ErrorField(err) != "hoarding.guest_reservation_ttl_seconds" {
		t.Errorf("a stored guest TTL: %v, want an error naming hoarding.guest_reservation_ttl_seconds", err)
	}
}
