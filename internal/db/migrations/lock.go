package migrations

import (
	"fmt"

	"github.com/pressly/goose/v3/lock"
)

// lockID is the PostgreSQL advisory lock key held while migrating ("kommerce" in
// ASCII), so that it cannot collide with goose's default key used by other apps.
const lockID = 0x6b6f6d6d65726365

func newLocker() (lock.SessionLocker, error) {
	l, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID))
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	return l, nil
}
