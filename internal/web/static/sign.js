// The signing page: a new QR code every second and BankID's message, from our server, which
// asks BankID at most every two seconds. Without this script the page has a link to update.
(function () {
  "use strict";
  var box = document.querySelector("[data-sign-status]");
  if (!box) { return; }
  var img = box.querySelector("img.qr"), message = box.querySelector(".sign-message");
  document.querySelectorAll(".no-script").forEach(function (e) { e.hidden = true; });
  var timer = setInterval(function () {
    fetch(box.dataset.signStatus, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 404 || r.status === 410) { clearInterval(timer); location.reload(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (s) {
        if (!s) { return; }
        if (s.state !== "pending") {
          // Say the outcome in the live region before the page shows it.
          clearInterval(timer);
          if (s.message) { message.textContent = s.message; }
          setTimeout(function () { location.reload(); }, 1500);
          return;
        }
        if (s.qr) { img.src = s.qr; }
        if (s.message && message.textContent !== s.message) { message.textContent = s.message; }
      });
  }, 1000);
})();
