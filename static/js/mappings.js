// CRM Mappings: find a mapping by name, keep unsaved changes from being lost, and bring errors into view.
(function () {
  "use strict";
  var dirty = new Set();
  var submitting = false;
  // With this script, a row's Save shows once the row is changed (22 idle Save buttons say nothing).
  document.documentElement.classList.add("js-mappings");
  function changed(element) {
    var row = element.closest("tr");
    if (row) { row.classList.add("dirty"); }
  }

  document.querySelectorAll("section.mapping-section form, #activity-writeback form").forEach(function (form) {
    form.addEventListener("input", function (event) { dirty.add(form); changed(event.target); });
    form.addEventListener("change", function (event) { dirty.add(form); changed(event.target); });
    form.addEventListener("submit", function () { submitting = true; });
  });
  // Inputs tied to a form by their form="" attribute (the rule selects of a row) count for that form.
  document.querySelectorAll("[form]").forEach(function (input) {
    input.addEventListener("change", function () {
      var form = document.getElementById(input.getAttribute("form"));
      if (form) { dirty.add(form); }
      changed(input);
    });
  });
  window.addEventListener("beforeunload", function (event) {
    if (dirty.size && !submitting) {
      event.preventDefault();
      event.returnValue = "";  // the browser asks whether to leave: the change is not saved yet
    }
  });

  // A change that could not be saved: its section's errors come into view (the banner at the top says so too).
  var error = document.querySelector(".mapping-section .errorlist, #activity-writeback .errorlist");
  if (error) { error.scrollIntoView({block: "center"}); }

  // Search: show only the mapping rows (and sections) whose Salesforce or Rox field matches.
  var search = document.getElementById("mapping-search");
  if (search) {
    search.addEventListener("input", function () {
      var words = search.value.trim().toLowerCase();
      document.querySelectorAll("section.mapping-section").forEach(function (section) {
        var shown = 0;
        section.querySelectorAll("table.mapping-rows tbody tr").forEach(function (row) {
          // The row's own fields: its Salesforce field and its Rox field (not every option of its selects).
          var rox = row.cells.length > 1 ? row.cells[1].textContent : "";
          var text = ((row.getAttribute("data-sf-field") || "") + " " + rox).toLowerCase();
          var match = !words || text.indexOf(words) !== -1;
          row.hidden = !match;
          if (match) { shown += 1; }
        });
        var title = section.querySelector("h3");
        var titleMatch = title && title.textContent.toLowerCase().indexOf(words) !== -1;
        section.hidden = Boolean(words) && !shown && !titleMatch;
      });
    });
  }
}());
