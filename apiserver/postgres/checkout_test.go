package postgres

import "testing"

func TestClientNetwork(t *testing.T) {
	for _, tc := range []struct{ name, ip, want string }{
		{"IPv4 is itself", "203.0.113.7", "203.0.113.7"},
		{"IPv4-mapped IPv6 is the IPv4 address", "::ffff:203.0.113.7", "203.0.113.7"},
		{"IPv6 is its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"another address of the same /64", "2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"a zone is dropped", "fe80::1%eth0", "fe80::/64"},
		{"unparsable is kept", "not-an-ip", "not-an-ip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clientNetwork(tc.ip); got != tc.want {
				t.Errorf("clientNetwork(%q) = %q, want %q", tc.ip, got, tc.want)
			}
		})
	}
	if string(clientIPHash("t", "2001:db8::1")) != string(clientIPHash("t", "2001:db8::ffff")) {
		t.Error("two addresses of one /64 hash apart")
	}
	if string(clientIPHash("t", "2001:db8:0:1::1")) == string(clientIPHash("t", "2001:db8:0:2::1")) {
		t.Error("two /64s hash alike")
	}
}
