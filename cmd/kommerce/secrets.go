package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/secretbox"
)

func secretsKeyFlag(set *config.Set, p *string, unset string) {
	set.String(p, "secrets-key-file", "KOMMERCE_SECRETS_KEY_FILE", "",
		"file of the keys sealing the signing keys and Stripe secrets stored in PostgreSQL: one \"<id> <base64 of 32 bytes>\" a line, the first seals, all open (in a cluster, a mounted Secret); "+unset)
}

// loadSecretsKey reads the key file at path; with no path it creates and uses
// localDefault when that is set (kommerce dev), else it returns nil (secrets stored
// in plaintext, and sealed ones unreadable).
func loadSecretsKey(path, localDefault string) (*secretbox.Keyring, error) {
	switch {
	case path != "":
		return secretbox.Load(path)
	case localDefault != "":
		return secretbox.LoadOrCreate(localDefault)
	}
	return nil, nil
}

// sealStoredSecrets runs at start: it seals the legacy plaintext secrets with box
// and checks every sealed one opens, so a missing or wrong key file stops the
// server at once rather than failing logins later.
// localDefault names the key file kommerce dev used without --secrets-key-file,
// for the hint when it was lost with its data dir.
func sealStoredSecrets(ctx context.Context, pool *pgxpool.Pool, box *secretbox.Keyring, localDefault string, log *slog.Logger) error {
	rep, err := postgres.SealSecrets(ctx, postgres.NewDB(pool), box, false)
	if err != nil {
		hint := ""
		if localDefault != "" {
			hint = fmt.Sprintf(" (%s is the key file made on the first start: if the data dir was wiped, restore it, or start on an empty database)", localDefault)
		}
		return fmt.Errorf("%w; start with the key file that sealed them (--secrets-key-file / KOMMERCE_SECRETS_KEY_FILE)%s", err, hint)
	}
	if box == nil {
		if rep.Rows > 0 {
			log.Warn("stored signing keys and Stripe secrets are in plaintext: set --secrets-key-file / KOMMERCE_SECRETS_KEY_FILE to seal them", "values", rep.Rows)
		}
		return nil
	}
	log.Info("stored secrets sealed", "key_id", box.KeyID(), "values", rep.Rows, "sealed_now", rep.Rewritten)
	return nil
}
