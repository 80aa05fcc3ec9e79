package web_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestComments(t *testing.T) {
	s := newSite(t, siteOptions{})
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix)
	rolf, ingrid := s.as(t, "rolf.bestallare"), s.as(t, "ingrid.it")
	if resp := rolf.post(t, "/requests/"+sub.ID+"/comments", url.Values{"comment": {"Hon börjar den 1:a."}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("comment: %d", resp.StatusCode)
	}
	ingrid.post(t, "/requests/"+sub.ID+"/comments", url.Values{"comment": {"Licensen är beställd <b>hos</b> leverantören"}, "internal": {"ja"}})
	ingrid.post(t, "/requests/"+sub.ID+"/comments", url.Values{"comment": {"Klart på fredag."}})

	if page := body(t, ingrid.get(t, "/requests/"+sub.ID)); !strings.Contains(page, "Licensen är beställd &lt;b&gt;hos&lt;/b&gt; leverantören") ||
		!strings.Contains(page, "Hon börjar den 1:a.") {
		t.Fatal("IT does not see every comment, escaped")
	}
	page := body(t, rolf.get(t, "/requests/"+sub.ID))
	if strings.Contains(page, "Licensen") || !strings.Contains(page, "Klart på fredag.") || strings.Contains(page, `name="internal"`) {
		t.Fatal("the requester sees an internal comment or the internal box, or misses IT's reply")
	}
	// A requester cannot write an internal comment, nor an empty one; nothing is saved.
	if resp := rolf.post(t, "/requests/"+sub.ID+"/comments", url.Values{"comment": {"hemlig"}, "internal": {"ja"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an internal comment by a requester: %d", resp.StatusCode)
	}
	resp := rolf.post(t, "/requests/"+sub.ID+"/comments", url.Values{"comment": {"   "}})
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `<a href="#comment">`) {
		t.Fatalf("an empty comment: %d", resp.StatusCode)
	}
	sven := s.withSouthManager(t)
	if resp := sven.post(t, "/requests/"+sub.ID+"/comments", url.Values{"comment": {"x"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a comment on a request one cannot see: %d", resp.StatusCode)
	}
	if n := s.count(t, "SELECT count(*) FROM comments"); n != 3 {
		t.Fatalf("%d comments stored, want 3", n)
	}
}

func (s *site) upload(t *testing.T, path, name string, content []byte) *http.Response {
	t.Helper()
	return s.postFiles(t, path, nil, "file", map[string][]byte{name: content})
}

var pdf = []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")

func TestAttachments(t *testing.T) {
	s := newSite(t, siteOptions{})
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix)
	rolf := s.as(t, "rolf.bestallare")
	resp := rolf.upload(t, "/requests/"+sub.ID+"/attachments", `..\..\intyg "IT-säkerhet".pdf`, pdf)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", resp.StatusCode, body(t, resp))
	}
	page := body(t, rolf.get(t, "/requests/"+sub.ID))
	i := strings.Index(page, `<a href="/attachments/`)
	if i < 0 || !strings.Contains(page, "intyg IT-säkerhet.pdf") {
		t.Fatalf("the attachment is not listed:\n%s", page)
	}
	link := page[i+len(`<a href="`) : i+len(`<a href="`)+len("/attachments/")+36]
	got := rolf.get(t, link)
	content, _ := io.ReadAll(got.Body)
	if got.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(got.Header.Get("Content-Disposition"), "attachment;") ||
		got.Header.Get("X-Content-Type-Options") != "nosniff" || !bytes.Equal(content, pdf) {
		t.Fatalf("download: %v %q", got.Header, content)
	}
	sven := s.withSouthManager(t)
	if resp := sven.get(t, link); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another unit's manager downloading: %d", resp.StatusCode)
	}

	// An HTML page named .pdf, an empty file and an oversized one are refused; nothing is stored.
	for name, content := range map[string][]byte{
		"sneaky.pdf": []byte("<html><script>alert(1)</script></html>"),
		"empty.pdf":  {},
		"huge.pdf":   append(append([]byte{}, pdf...), make([]byte, 11<<20)...),
	} {
		resp := rolf.upload(t, "/requests/"+sub.ID+"/attachments", name, content)
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
		if page := body(t, resp); !strings.Contains(page, `<a href="#file">`) {
			t.Errorf("%s: the error is not linked to the file field", name)
		}
	}
	if n := s.count(t, "SELECT count(*) FROM attachments"); n != 1 {
		t.Fatalf("%d attachments stored, want 1", n)
	}
}
