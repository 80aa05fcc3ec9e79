// "Markera alla på sidan" on the approval overview ticks every request's box on the page.
// Without this script the box still works: the server takes it as every request the page
// showed (the form carries them as onpage).
(function () {
  "use strict";
  document.querySelectorAll("[data-select-all]").forEach(function (all) {
    var form = all.form;
    var boxes = function () { return form.querySelectorAll('input[type="checkbox"][name="id"]'); };
    all.addEventListener("change", function () {
      boxes().forEach(function (b) { b.checked = all.checked; });
    });
    form.addEventListener("change", function (e) {
      if (e.target.name !== "id") { return; }
      var every = true;
      boxes().forEach(function (b) { every = every && b.checked; });
      all.checked = every;
    });
  });
})();
