"use strict";
(function () {
  var input = document.getElementById("filter");
  var groups = ["sets", "workers"].map(function (name) {
    var table = document.getElementById(name + "-table");
    var rows = table ? Array.prototype.slice.call(table.tBodies[0].rows) : [];
    return {
      rows: rows,
      text: rows.map(searchText),
      shown: rows.map(function () { return true; }),
      count: document.getElementById(name + "-count"),
      empty: document.getElementById(name + "-empty"),
      total: rows.length
    };
  });
  var last = "";

  // What a row matches: its text, plus the region of each cell holding an
  // AMI (the region is the column head, so "us-west-2 arm64" finds sets
  // with AMIs there).
  function searchText(row) {
    var text = row.textContent;
    var cells = row.querySelectorAll("td[data-label]");
    for (var i = 0; i < cells.length; i++) {
      if (cells[i].querySelector(".ami")) text += " " + cells[i].getAttribute("data-label");
    }
    return text.toLowerCase();
  }

  function apply() {
    var query = input.value.toLowerCase().trim();
    if (query === last) return;
    last = query;
    var terms = query.split(/\s+/).filter(Boolean);
    groups.forEach(function (g) {
      var n = 0;
      for (var i = 0; i < g.rows.length; i++) {
        var t = g.text[i];
        var show = true;
        for (var j = 0; j < terms.length && show; j++) show = t.indexOf(terms[j]) !== -1;
        if (show !== g.shown[i]) {
          g.shown[i] = show;
          g.rows[i].hidden = !show;
        }
        if (show) n++;
      }
      var count = terms.length ? n + " of " + g.total + " shown" : g.total + " in all";
      if (g.count.textContent !== count) g.count.textContent = count;
      if (g.empty.hidden !== (n !== 0)) g.empty.hidden = n !== 0;
    });
  }

  // A link to a row the filter hides clears the filter, so links always land.
  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (target && target.hidden) {
      input.value = "";
      apply();
      target.scrollIntoView();
    }
  }

  input.addEventListener("input", apply);
  input.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && input.value) {
      input.value = "";
      apply();
    }
  });
  document.addEventListener("keydown", function (e) {
    var tag = document.activeElement && document.activeElement.tagName;
    if (e.key === "/" && !e.ctrlKey && !e.metaKey && !e.altKey && tag !== "INPUT" && tag !== "TEXTAREA") {
      e.preventDefault();
      input.focus();
    }
  });
  window.addEventListener("hashchange", reveal);
  last = null;
  apply();
  reveal();
})();
