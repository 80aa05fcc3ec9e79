package devenv

import "html/template"

// The dev page's phone: the SMS outbox (connectors/sms.Outbox), newest first, as the
// person's phone would show the codes that RADIUS and the password page send.
var _ = template.Must(devAppPage.New("phone").Parse(`<h2>Telefonen (SMS-utkorg)</h2>
<p>SMS som skulle ha skickats till mobilen: koder för fjärråtkomst (RADIUS) och för lösenordssidan.</p>
{{range .SMS}}<section class="sms"><h3>Till {{.To}}</h3><p>{{.At.Format "2006-01-02 15:04:05"}}</p><pre>{{.Text}}</pre></section>{{else}}<p>Inga SMS har skickats.</p>{{end}}
`))
