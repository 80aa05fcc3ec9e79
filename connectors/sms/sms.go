// Package sms sends text messages through 46elks, Twilio or a generic HTTP gateway, each a
// connectors.SMSSender, tries them in the configured order (Failover), or keeps the messages
// in PostgreSQL for `behorig dev` (Outbox).
//
// The text of a message is never logged nor put in an error: it holds a one-time code. Logs
// and errors name the provider, the masked number, the HTTP status and the provider's error
// code.
package sms

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/behorig/behorig/connectors"
)

// DefaultTimeout bounds one gateway's call when the config does not say.
const DefaultTimeout = 10 * time.Second

// Provider names, as the config spells them.
const (
	Provider46elks = "46elks"
	ProviderTwilio = "twilio"
	ProviderHTTP   = "http"
)

// GatewayError is a gateway's refusal: its HTTP status and, where the provider has them, its
// error code and message (never the text sent).
type GatewayError struct {
	Provider string
	Status   int
	Code     int
	Message  string
	// recipient is set when the provider said the number itself is at fault.
	recipient bool
}

func (e *GatewayError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d", e.Provider, e.Status)
	if e.Code != 0 {
		s += fmt.Sprintf(" code %d", e.Code)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap makes a refusal that is the number's fault match connectors.ErrSMSRecipient.
func (e *GatewayError) Unwrap() error {
	if e.recipient {
		return connectors.ErrSMSRecipient
	}
	return nil
}

// maxAnswer bounds what is read of a gateway's answer.
const maxAnswer = 64 << 10

// post sends a form with Basic auth and returns the answer's status and body, within the
// timeout. A transport error or a timeout is returned as an error; any HTTP answer is not.
func post(ctx context.Context, client *http.Client, timeout time.Duration, endpoint, user, password string, form url.Values) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(timeout, DefaultTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := cmp.Or(client, http.DefaultClient).Do(req)
	if err != nil {
		// url.Error names the URL, which holds no secret (Basic auth is in a header).
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// errorText is a short, printable excerpt of a gateway's error answer, with the message's
// text removed and its number masked should the gateway have echoed them (Twilio's 21211
// names the number).
func errorText(body []byte, m connectors.SMS) string {
	s := string(body)
	if m.Text != "" {
		s = strings.ReplaceAll(s, m.Text, "…")
	}
	if m.To != "" {
		s = strings.ReplaceAll(s, m.To, connectors.MaskMobile(m.To))
	}
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if len([]rune(s)) > 120 {
		s = string([]rune(s)[:120]) + "…"
	}
	return s
}

// FortySixElks sends through 46elks (https://46elks.se): POST {URL}/sms, form-encoded, Basic
// auth with the API username and password, a JSON SMS object in answer.
type FortySixElks struct {
	// URL is the API's base, https://api.46elks.com/a1.
	URL      string
	Username string
	Password string
	// From is the sender: up to 11 letters and digits, or an E.164 number of the account.
	From    string
	Timeout time.Duration
	Client  *http.Client
}

var _ connectors.SMSSender = FortySixElks{}

// Send posts the message with dontlog=message, so that 46elks keeps no copy of the code.
//
// Every refusal is a failure the next gateway may not share: 46elks answers errors with a
// short text whose wording is not documented, so a wrong number cannot be told reliably from
// a wrong password or an empty account, and guessing wrong would leave a person without a
// code that another gateway would have delivered.
func (g FortySixElks) Send(ctx context.Context, m connectors.SMS) (connectors.SMSReceipt, error) {
	form := url.Values{"from": {g.From}, "to": {m.To}, "message": {m.Text}, "dontlog": {"message"}}
	status, body, err := post(ctx, g.Client, g.Timeout, strings.TrimRight(g.URL, "/")+"/sms", g.Username, g.Password, form)
	if err != nil {
		return connectors.SMSReceipt{}, fmt.Errorf("46elks: %w", err)
	}
	if status/100 != 2 {
		return connectors.SMSReceipt{}, &GatewayError{Provider: Provider46elks, Status: status, Message: errorText(body, m)}
	}
	var answer struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.ID == "" {
		return connectors.SMSReceipt{}, &GatewayError{Provider: Provider46elks, Status: status, Message: "answer without an SMS id"}
	}
	if answer.Status == "failed" {
		return connectors.SMSReceipt{}, &GatewayError{Provider: Provider46elks, Status: status, Message: "status failed"}
	}
	return connectors.SMSReceipt{Provider: Provider46elks, MessageID: answer.ID}, nil
}

// Twilio sends through Twilio's Messages resource: POST
// {URL}/Accounts/{AccountSID}/Messages.json, form-encoded, Basic auth AccountSID:AuthToken,
// 201 with the Message resource in answer, and errors as JSON {code, message, more_info,
// status}.
type Twilio struct {
	// URL is the API's base, https://api.twilio.com/2010-04-01.
	URL        string
	AccountSID string
	AuthToken  string
	// From is a Twilio number or an alphanumeric sender id.
	From string
	// ValidityPeriod is how long Twilio may queue the message: a code that arrives after it
	// expired only confuses. Zero leaves Twilio's default.
	ValidityPeriod time.Duration
	Timeout        time.Duration
	Client         *http.Client
}

var _ connectors.SMSSender = Twilio{}

// twilioRecipientCodes are Twilio's errors that are the number's own fault on any gateway:
// 21211 not a valid phone number, 21614 cannot receive SMS. Not 21610 (the person sent STOP
// to this Twilio number: another gateway still reaches them) nor 21612/21408 (Twilio's own
// routing and the account's regions).
var twilioRecipientCodes = map[int]bool{21211: true, 21614: true}

// Send posts the message.
func (g Twilio) Send(ctx context.Context, m connectors.SMS) (connectors.SMSReceipt, error) {
	form := url.Values{"To": {m.To}, "From": {g.From}, "Body": {m.Text}}
	if g.ValidityPeriod >= time.Second {
		form.Set("ValidityPeriod", fmt.Sprint(int(g.ValidityPeriod.Seconds())))
	}
	endpoint := strings.TrimRight(g.URL, "/") + "/Accounts/" + url.PathEscape(g.AccountSID) + "/Messages.json"
	status, body, err := post(ctx, g.Client, g.Timeout, endpoint, g.AccountSID, g.AuthToken, form)
	if err != nil {
		return connectors.SMSReceipt{}, fmt.Errorf("twilio: %w", err)
	}
	if status/100 != 2 {
		var answer struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &answer) != nil || answer.Code == 0 {
			return connectors.SMSReceipt{}, &GatewayError{Provider: ProviderTwilio, Status: status, Message: errorText(body, m)}
		}
		return connectors.SMSReceipt{}, &GatewayError{Provider: ProviderTwilio, Status: status, Code: answer.Code,
			Message: errorText([]byte(answer.Message), m), recipient: status/100 == 4 && twilioRecipientCodes[answer.Code]}
	}
	var answer struct {
		SID    string `json:"sid"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.SID == "" {
		return connectors.SMSReceipt{}, &GatewayError{Provider: ProviderTwilio, Status: status, Message: "answer without a message sid"}
	}
	if answer.Status == "failed" || answer.Status == "undelivered" {
		return connectors.SMSReceipt{}, &GatewayError{Provider: ProviderTwilio, Status: status, Message: "status " + answer.Status}
	}
	return connectors.SMSReceipt{Provider: ProviderTwilio, MessageID: answer.SID}, nil
}

// HTTPGateway sends through a gateway of one's own (an operator's or the organisation's SMS
// relay): POST {URL} with the form fields id, to, from and message, Basic auth when Username
// is set. Any 2xx answer is taken; a JSON answer's "id" is kept as the message id.
type HTTPGateway struct {
	URL      string
	Username string
	Password string
	From     string
	Timeout  time.Duration
	Client   *http.Client
}

var _ connectors.SMSSender = HTTPGateway{}

// Send posts the message. The id lets the gateway drop a retry it already took.
func (g HTTPGateway) Send(ctx context.Context, m connectors.SMS) (connectors.SMSReceipt, error) {
	form := url.Values{"id": {m.ID}, "to": {m.To}, "from": {g.From}, "message": {m.Text}}
	status, body, err := post(ctx, g.Client, g.Timeout, g.URL, g.Username, g.Password, form)
	if err != nil {
		return connectors.SMSReceipt{}, fmt.Errorf("http gateway: %w", err)
	}
	if status/100 != 2 {
		return connectors.SMSReceipt{}, &GatewayError{Provider: ProviderHTTP, Status: status, Message: errorText(body, m)}
	}
	var answer struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.ID == "" {
		answer.ID = m.ID
	}
	return connectors.SMSReceipt{Provider: ProviderHTTP, MessageID: answer.ID}, nil
}

// Gateway is one sender of a Failover, named for the log.
type Gateway struct {
	Name   string
	Sender connectors.SMSSender
}

// Failover tries its gateways in order and returns the first that took the message. A
// gateway that fails or times out (each bounds its own call) passes the message to the next;
// a refusal that is the number's fault (connectors.ErrSMSRecipient) ends the round, since
// every gateway would refuse it and the person needs the number corrected, not more tries.
// When none took it, the error wraps connectors.ErrSMSUnavailable and each gateway's error
// (so also ErrSMSRecipient when that ended the round).
//
// The same message (the same code) goes to the next gateway: should a gateway that timed out
// deliver after all, the person gets the same code twice, not two codes of which one fails.
type Failover struct {
	Gateways []Gateway
	Logger   *slog.Logger
}

var _ connectors.SMSSender = Failover{}

// Send tries the gateways in order.
func (f Failover) Send(ctx context.Context, m connectors.SMS) (connectors.SMSReceipt, error) {
	log := cmp.Or(f.Logger, slog.Default())
	if len(f.Gateways) == 0 {
		return connectors.SMSReceipt{}, fmt.Errorf("%w: no gateway is configured", connectors.ErrSMSUnavailable)
	}
	var errs []error
	for i, g := range f.Gateways {
		receipt, err := g.Sender.Send(ctx, m)
		if err == nil {
			log.InfoContext(ctx, "sms sent", "gateway", g.Name, "provider", receipt.Provider, "provider_id", receipt.MessageID,
				"to", connectors.MaskMobile(m.To), "sms_id", m.ID, "attempt", i+1)
			return receipt, nil
		}
		log.WarnContext(ctx, "sms gateway failed", "gateway", g.Name, "to", connectors.MaskMobile(m.To), "sms_id", m.ID, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", g.Name, err))
		if errors.Is(err, connectors.ErrSMSRecipient) || ctx.Err() != nil {
			// The number's fault, which every gateway would share; or the caller gave up,
			// and no gateway after this one would be heard either.
			break
		}
	}
	return connectors.SMSReceipt{}, fmt.Errorf("send sms to %s: %w: %w", connectors.MaskMobile(m.To), connectors.ErrSMSUnavailable, errors.Join(errs...))
}
