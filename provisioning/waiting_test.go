package provisioning_test

import (
	"errors"
	"testing"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// IT asks the requester for more information: the request waits for the user, and the
// requester's answer (a comment or a file) makes it "Besvarat av användaren", a status the
// requester sees until IT goes on. IT's own comments change nothing.
func TestAnsweredByUser(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	it, requester := app.Actors["it-handler"], app.Actors["requester"]
	for _, answer := range []string{"comment", "file"} {
		t.Run(answer, func(t *testing.T) {
			pnr := map[string]string{"comment": "19500118-2046", "file": "19850113-9995"}[answer]
			sub := submitApproved(t, app, grantInput(pnr, "Åsa", "Lind", provisioning.ItemInput{System: "meddix"}))
			app.WaitStatus(t, sub.ID, provisioning.StatusInProgress)
			if err := app.Service.AskForInformation(ctx, requester, sub.ID, "Vilken enhet?"); !errors.Is(err, provisioning.ErrForbidden) {
				t.Fatalf("the requester asked: %v", err)
			}
			var ve *provisioning.ValidationError
			if err := app.Service.AskForInformation(ctx, it, sub.ID, "  "); !errors.As(err, &ve) {
				t.Fatalf("an empty question: %v", err)
			}
			if err := app.Service.AskForInformation(ctx, it, sub.ID, "Vilken enhet ska behörigheten gälla?"); err != nil {
				t.Fatal(err)
			}
			v := app.WaitStatus(t, sub.ID, provisioning.StatusAwaitingUser)
			if !v.InformationAsked || v.Viewer.RecordPaperTerms || !v.Viewer.SetStatus {
				t.Fatalf("waiting for the answer: asked %v, viewer %+v", v.InformationAsked, v.Viewer)
			}
			seen, err := app.Service.Request(ctx, requester, sub.ID)
			if err != nil || len(seen.Comments) != 1 || seen.Comments[0].Body != "Vilken enhet ska behörigheten gälla?" {
				t.Fatalf("the requester does not see the question: %+v, %v", seen.Comments, err)
			}
			if _, err := app.Service.RecordPaperTerms(ctx, it, sub.ID, ""); !errors.Is(err, provisioning.ErrConflict) {
				t.Fatalf("paper terms on a request waiting for an answer: %v", err)
			}
			if err := app.Service.AddComment(ctx, it, sub.ID, "Påminnelse", false); err != nil {
				t.Fatal(err)
			}
			app.WaitStatus(t, sub.ID, provisioning.StatusAwaitingUser)
			if answer == "comment" {
				err = app.Service.AddComment(ctx, requester, sub.ID, "Hemtjänst Norr", false)
			} else {
				_, err = app.Service.AddAttachment(ctx, requester, sub.ID, "svar.pdf", certificatePDF)
			}
			if err != nil {
				t.Fatal(err)
			}
			v = app.WaitStatus(t, sub.ID, provisioning.StatusAnsweredByUser)
			if v.InformationAsked {
				t.Fatal("the question is still open after the answer")
			}
			// A second comment leaves it answered; IT goes on.
			if err := app.Service.AddComment(ctx, requester, sub.ID, "Och Ekbacken", false); err != nil {
				t.Fatal(err)
			}
			app.WaitStatus(t, sub.ID, provisioning.StatusAnsweredByUser)
			if err := app.Service.SetHandlingStatus(ctx, it, sub.ID, provisioning.StatusInProgress, ""); err != nil {
				t.Fatal(err)
			}
			app.WaitStatus(t, sub.ID, provisioning.StatusInProgress)
		})
	}
}

// Waiting for the person's terms is not a question: a comment does not answer it, and IT
// cannot ask or set a status past it.
func TestTermsWaitIsNotAQuestion(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	sub := submitApproved(t, app, grantInput("19500118-2046", "Åsa", "Lind", provisioning.ItemInput{System: "treserva", Role: "utforare"}))
	app.WaitStatus(t, sub.ID, provisioning.StatusAwaitingUser)
	if err := app.Service.AddComment(ctx, app.Actors["requester"], sub.ID, "Hon är på semester", false); err != nil {
		t.Fatal(err)
	}
	v := app.WaitStatus(t, sub.ID, provisioning.StatusAwaitingUser)
	if v.InformationAsked || !v.Viewer.RecordPaperTerms || v.Viewer.SetStatus || v.Viewer.Ask {
		t.Fatalf("terms wait: asked %v, viewer %+v", v.InformationAsked, v.Viewer)
	}
	if err := app.Service.AskForInformation(ctx, app.Actors["it-handler"], sub.ID, "?"); !errors.Is(err, provisioning.ErrConflict) {
		t.Fatalf("IT asked while the terms are awaited: %v", err)
	}
	if err := app.Service.SetHandlingStatus(ctx, app.Actors["it-handler"], sub.ID, provisioning.StatusInProgress, ""); !errors.Is(err, provisioning.ErrConflict) {
		t.Fatalf("IT set a status past the terms: %v", err)
	}
}
