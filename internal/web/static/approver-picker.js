// The approver picker: when the unit changes, the approver field offers the managers who can
// attest that unit (by name, with their e-mail or user id as the value). Without this script
// the list holds the managers of the unit the page was shown with, and the field still takes
// a name, an e-mail or a user id.
(function () {
  "use strict";
  var unit = document.getElementById("unit");
  var list = document.getElementById("approvers");
  if (!unit || !list) { return; }
  var asked = unit.value.trim();
  function refresh() {
    var value = unit.value.trim();
    if (value === asked) { return; }
    asked = value;
    fetch("/approvers/search?unit=" + encodeURIComponent(value), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (approvers) {
        if (!approvers || value !== asked) { return; }
        list.innerHTML = "";
        approvers.forEach(function (a) {
          var o = document.createElement("option");
          o.value = a.email || a.subject;
          o.textContent = a.name;
          list.appendChild(o);
        });
      });
  }
  unit.addEventListener("change", refresh);
})();
