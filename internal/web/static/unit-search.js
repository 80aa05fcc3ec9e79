// Unit search as you type: up to 5 hits under the field, all of them on Enter. Without this
// script the field still takes a name or an ansvarskod, which the server resolves.
(function () {
  "use strict";
  document.querySelectorAll("[data-unit-search]").forEach(function (box) {
    var input = box.querySelector("input");
    var list = document.createElement("ul");
    list.className = "unit-hits";
    list.id = input.id + "-hits";
    var status = document.createElement("p");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    box.appendChild(list);
    box.appendChild(status);
    var timer, last = "";
    function search(all) {
      var q = input.value.trim();
      if (!all && q === last) { return; }
      last = q;
      if (q.length < 2 && !all) { list.innerHTML = ""; status.textContent = ""; return; }
      fetch("/units/search?q=" + encodeURIComponent(q) + (all ? "&all=1" : ""), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (units) {
          list.innerHTML = "";
          units.forEach(function (u) {
            var li = document.createElement("li");
            var b = document.createElement("button");
            b.type = "button";
            b.textContent = u.name + " (" + u.ansvarskod + ")";
            b.addEventListener("click", function () {
              input.value = u.ansvarskod;
              last = u.ansvarskod;
              list.innerHTML = "";
              status.textContent = "";
              input.focus();
            });
            li.appendChild(b);
            list.appendChild(li);
          });
          status.textContent = (box.dataset.hitsText || "%d").replace("%d", units.length);
        });
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(function () { search(false); }, 150); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); search(true); }
    });
  });
})();
