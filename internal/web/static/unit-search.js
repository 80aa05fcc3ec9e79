// Unit search as you type: up to 5 hits under the field, all of them on Enter. Without this
// script the field still takes a name or an ansvarskod, which the server resolves. A field
// marked data-multiple holds several units separated by commas: the search is for the one
// being typed (after the last comma), and a pick puts in "Name (ansvarskod)", which reads as
// the unit's name and still names exactly one unit.
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
    var multiple = box.hasAttribute("data-multiple");
    // The units typed before the one being searched for, with their separator.
    function done() {
      var cut = input.value.lastIndexOf(",");
      return multiple && cut >= 0 ? input.value.slice(0, cut + 1) + " " : "";
    }
    function typing() {
      var cut = input.value.lastIndexOf(",");
      return multiple && cut >= 0 ? input.value.slice(cut + 1) : input.value;
    }
    function search(all) {
      var q = typing().trim();
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
              var picked = multiple ? u.name + " (" + u.ansvarskod + ")" : u.ansvarskod;
              input.value = done() + picked;
              last = picked;
              input.dispatchEvent(new Event("change", { bubbles: true }));
              list.innerHTML = "";
              status.textContent = "";
              input.focus();
            });
            li.appendChild(b);
            list.appendChild(li);
          });
          var text = units.length === 1 ? box.dataset.hitText : box.dataset.hitsText;
          status.textContent = (text || "%d").replace("%d", units.length);
        });
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(function () { search(false); }, 150); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); search(true); }
    });
  });
})();
