package metrics

import (
	"context"
	"time"

	"github.com/behorig/behorig/connectors"
)

// SMS instruments one SMS gateway as party "sms:<gateway>" (sms:46elks, sms:twilio, ...):
// each gateway of a failover is wrapped on its own, so that an operator sees which provider
// is slow or failing while the next one still delivers. A refusal of the number itself
// (connectors.ErrSMSRecipient) is the gateway answering, not failing.
type SMS struct {
	Inner   connectors.SMSSender
	Gateway string
	Metrics *Metrics
}

var _ connectors.SMSSender = SMS{}

func (s SMS) Send(ctx context.Context, m connectors.SMS) (receipt connectors.SMSReceipt, err error) {
	defer func(start time.Time) {
		observed := err
		if isAnswer(err, connectors.ErrSMSRecipient) {
			observed = nil
		}
		s.Metrics.ObserveCall("sms:"+s.Gateway, "send", time.Since(start), observed)
	}(time.Now())
	return s.Inner.Send(ctx, m)
}
