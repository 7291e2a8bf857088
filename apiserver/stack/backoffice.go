package stack

import (
	"github.com/kommerce/kommerce/apiserver/httpapi"
	"github.com/kommerce/kommerce/apiserver/postgres"
)

// backoffice builds the webhook, e-mail template and account-token services.
func backoffice(o Options, db *postgres.DB) httpapi.BackofficeConfig {
	return httpapi.BackofficeConfig{
		Webhooks:                 &postgres.WebhookService{DB: db, Box: o.Secrets, Guard: o.WebhookGuard},
		Notifications:            &postgres.NotificationService{DB: db},
		AccountTokens:            &postgres.AccountTokenService{DB: db, Box: o.Secrets, Params: o.Password},
		AccountTokenAddressLimit: o.RegisterAddressLimit,
		AccountTokenEmailLimit:   o.RegisterEmailLimit,
	}
}
