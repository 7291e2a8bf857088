package discovery

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/internal/events"
)

// BehaviourPublisher sends validated behaviour events (behaviour.recorded, see
// internal/events) to a tenant's behaviour topic and returns once the broker
// acknowledged them (apiserver/kafka.Kafka.Publish).
type BehaviourPublisher interface {
	Publish(ctx context.Context, tenantID, topicPrefix string, evs []events.Behaviour) error
}

// Behaviour implements apiserver.BehaviourService.
type Behaviour struct {
	Publisher BehaviourPublisher // nil: events are validated, then refused with 503
	// Timeout bounds waiting for the broker (default 5s): a shopper's app should
	// not hang on an analytics call.
	Timeout time.Duration
	Now     func() time.Time
}

var _ apiserver.BehaviourService = (*Behaviour)(nil)

// Record implements apiserver.BehaviourService. The tenant and the user come from
// the request, never from the body (ParseBehaviour refuses those fields).
func (b *Behaviour) Record(ctx context.Context, body io.Reader) (int, error) {
	t, err := apiserver.RequireTenant(ctx)
	if err != nil {
		return 0, err
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	evs, err := ParseBehaviour(body, now())
	if err != nil {
		return 0, inputError(err)
	}
	if b.Publisher == nil {
		return 0, apiserver.Errorf(apiserver.ErrUnavailable, "Behaviour events are not configured on this server.")
	}
	if p := apiserver.PrincipalFromContext(ctx); p != nil {
		for i := range evs {
			evs[i].UserID = p.UserID
		}
	}
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := b.Publisher.Publish(pctx, t.ID, t.TopicPrefix, evs); err != nil {
		return 0, unavailable("Events cannot be recorded right now; retry later.", err)
	}
	return len(evs), nil
}

func inputError(err error) error {
	var ie *InputError
	if !errors.As(err, &ie) {
		return err
	}
	if ie.TooLarge {
		return apiserver.Errorf(apiserver.ErrPayloadTooLarge, "%s", ie.Message)
	}
	field := ie.Field
	if field == "" {
		field = "body"
	}
	return &apiserver.Error{Code: apiserver.ErrInvalid, Field: field, Message: ie.Message}
}
