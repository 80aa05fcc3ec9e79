package bankid

import (
	"context"
	"encoding/base64"
	"errors"

	"github.com/behorig/behorig/provisioning"
)

// Collector lets the domain ask BankID about signing orders (provisioning.OrderCollector).
type Collector struct {
	Client interface {
		Collect(ctx context.Context, orderRef string) (CollectResponse, error)
	}
}

// CollectOrder collects once. An order BankID no longer knows (it purges finished ones) is
// over: failed, as if expired.
func (c Collector) CollectOrder(ctx context.Context, orderRef string) (provisioning.CollectResult, error) {
	resp, err := c.Client.Collect(ctx, orderRef)
	var e *Error
	if errors.As(err, &e) && e.Code == ErrInvalidParameters {
		return provisioning.CollectResult{Status: StatusFailed, Hint: HintExpiredTransaction}, nil
	}
	if err != nil {
		return provisioning.CollectResult{}, err
	}
	res := provisioning.CollectResult{Status: resp.Status, Hint: resp.HintCode}
	if resp.Status == StatusComplete {
		res.Evidence = &provisioning.Evidence{}
		if cd := resp.CompletionData; cd != nil {
			// Undecodable evidence stays empty, and the domain refuses empty evidence.
			signature, _ := base64.StdEncoding.DecodeString(cd.Signature)
			ocsp, _ := base64.StdEncoding.DecodeString(cd.OCSPResponse)
			res.Evidence = &provisioning.Evidence{PersonalNumber: cd.User.PersonalNumber, Name: cd.User.Name,
				Signature: signature, OCSPResponse: ocsp, DeviceIP: cd.Device.IPAddress, DeviceUHI: cd.Device.UHI,
				BankIDIssueDate: cd.BankIDIssueDate, Simulated: IsSimulated(signature)}
		}
	}
	return res, nil
}
