package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Guard refuses webhook targets on networks a tenant must not reach through the
// platform (SSRF): loopback, private (RFC 1918, unique-local, shared address space),
// link-local (cloud metadata lives at 169.254.169.254), multicast, unspecified and
// other special-purpose addresses. It checks twice: CheckURL when an endpoint is
// registered, and Control on every connection the delivery client dials, with the
// address actually dialled — so a name that resolved to a public address at
// registration and to an internal one later (DNS rebinding) is still refused.
type Guard struct {
	// AllowLoopback lets endpoints on 127.0.0.0/8 and ::1 through (tests, kommerce dev).
	AllowLoopback bool
	// AllowPrivate lets private and link-local networks through (a platform whose
	// receivers live on its own network).
	AllowPrivate bool
	// Resolver looks names up [net.DefaultResolver].
	Resolver *net.Resolver
}

// ErrRefused wraps every refusal; the message says which address and why.
var ErrRefused = errors.New("webhook target refused")

var (
	sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork        = netip.MustParsePrefix("0.0.0.0/8")
	benchmarking       = netip.MustParsePrefix("198.18.0.0/15")
	reserved           = netip.MustParsePrefix("240.0.0.0/4")
	nat64              = netip.MustParsePrefix("64:ff9b::/96")
)

// Allowed says whether ip may be dialled, and if not, why.
func (g Guard) Allowed(ip netip.Addr) error {
	ip = ip.Unmap()
	refuse := func(what string) error { return fmt.Errorf("%w: %s is a %s address", ErrRefused, ip, what) }
	switch {
	case !ip.IsValid():
		return fmt.Errorf("%w: invalid address", ErrRefused)
	case ip.IsLoopback():
		if g.AllowLoopback {
			return nil
		}
		return refuse("loopback")
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return refuse("unspecified")
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsLinkLocalMulticast() || ip == netip.MustParseAddr("255.255.255.255"):
		return refuse("multicast or broadcast")
	case ip.IsLinkLocalUnicast():
		if g.AllowPrivate {
			return nil
		}
		return refuse("link-local")
	case ip.IsPrivate() || sharedAddressSpace.Contains(ip) || benchmarking.Contains(ip) || nat64.Contains(ip):
		if g.AllowPrivate {
			return nil
		}
		return refuse("private")
	case reserved.Contains(ip):
		return refuse("reserved")
	}
	return nil
}

// CheckURL validates an endpoint URL: http or https, a host, no user info, and every
// address the host resolves to allowed.
func (g Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q: accepted values are http, https", u.Scheme)
	}
	if u.User != nil {
		return errors.New("user info in the URL is not accepted: put credentials in the receiver's checks of the signature")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("the URL has no host")
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return g.Allowed(ip)
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("host %q does not resolve: %v", host, err)
	}
	for _, ip := range ips {
		if err := g.Allowed(ip); err != nil {
			return fmt.Errorf("host %q: %w", host, err)
		}
	}
	return nil
}

// Control is a net.Dialer Control hook: it refuses a connection to a disallowed
// address after name resolution, right before the socket connects.
func (g Guard) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: dialled address %q: %v", ErrRefused, address, err)
	}
	return g.Allowed(ap.Addr())
}

// Client returns an HTTP client whose every connection passes Control, that uses no
// proxy from the environment and does not follow redirects (a redirect is the
// receiver's answer, recorded as such).
func (g Guard) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: g.Control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
