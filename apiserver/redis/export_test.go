package redis

// Hooks into the near cache for the tests of package redis_test.

// NearReady reports whether s is subscribed, so that its near cache keeps entries.
func NearReady(s *Store) bool {
	n := s.nearCache()
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.ready
}

// NearHas reports whether s holds a near copy of key.
func NearHas(s *Store, key string) bool { return s.Holds(key) }

// DropSubscription closes s's subscription connection, as a network failure would,
// and reports whether there was one.
func DropSubscription(s *Store) bool {
	n := s.nearCache()
	n.mu.RLock()
	ps := n.sub
	n.mu.RUnlock()
	return ps != nil && ps.Close() == nil
}

// SetGate makes s take a value from gate before each (re)subscription; call it
// before s is first used.
func SetGate(s *Store, gate chan struct{}) { s.gate = gate }

// Pongs is the number of health pings s's subscription has answered.
func Pongs(s *Store) uint64 { return s.nearCache().pongs.Load() }

// Subscription identifies s's live subscription (nil between subscriptions).
func Subscription(s *Store) any {
	n := s.nearCache()
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sub
}

// SubscriberStopped is closed once s's subscriber has ended for good.
func SubscriberStopped(s *Store) <-chan struct{} { return s.nearCache().stopped }
