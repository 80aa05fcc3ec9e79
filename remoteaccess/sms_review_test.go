package remoteaccess_test

import (
	"context"
	"errors"
	"testing"

	"github.com/behorig/behorig/remoteaccess"
)

// The password page sends a code to whoever's username is typed there, without a password:
// anyone who knows a username can use up that person's codes for the hour. They must not
// use up the codes of the person's VPN login (which needs the password first), or the
// person could be kept out of remote access for good, an hour at a time.
func TestPasswordPageCodesDoNotUseUpTheLoginsCodes(t *testing.T) {
	s := newSMSSetup(t, nil, func(c *remoteaccess.Config) { c.SMSPerHour = 3 })
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposePassword, "browser-of-someone"); err != nil {
			t.Fatalf("password page code %d: %v", i+1, err)
		}
	}
	if _, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposePassword, "browser-of-someone"); !errors.Is(err, remoteaccess.ErrTooManyCodes) {
		t.Errorf("a fourth code on the password page within the hour: %v", err)
	}
	if _, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposeRADIUS, "vpn"); err != nil {
		t.Errorf("the VPN login's code after the password page's three: %v", err)
	}
}
