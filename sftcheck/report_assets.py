"""The verdict page's fixed style sheet and script (no data in here: both are constants).

The script only reads ``data-*`` attributes and ``textContent`` and toggles ``hidden`` /
``open`` / classes; it never writes markup, so escaped data stays text.  It makes no
network request.  Text colours are chosen for WCAG AA contrast (>= 4.5:1) on their
backgrounds; pytest-html's own grey body text (#999 on white, 2.8:1) is overridden.
"""

CSS = """
body{display:flex;flex-direction:column;color:#1a1a1a;font-size:14px}
#environment-header,#environment{order:10}
footer{order:11}
#environment-header h2:before{content:"pytest-metadata: "}
#environment td{color:#1a1a1a}
.summary__data>h2,.summary__data .run-count,.summary__data p.filter,.summary__data .controls,
#results-table{display:none}
.sft-page{color:#111;font-family:Helvetica,Arial,sans-serif;font-size:14px;line-height:1.4}
.sft-page [hidden]{display:none!important}
.sft-page a{color:#0a3a8c}
.sft-page h2{color:#111;font-size:18px;margin:18px 0 6px 0}
.sft-banner{padding:12px 16px;margin:8px 0 12px 0;border-radius:6px;border:3px solid #555;color:#111}
.sft-banner h2{margin:0 0 4px 0;font-size:24px;color:#111}
.sft-banner p{margin:4px 0;color:#111}
.sft-verdict-pass{background:#e6f4e6;border-color:#1e6b1e}
.sft-verdict-warn{background:#fff3d1;border-color:#8a5300}
.sft-verdict-fail,.sft-verdict-error{background:#fde4e4;border-color:#b02a1d}
.sft-verdict-incomplete{background:#efe6f5;border-color:#5b2a86}
.sft-verdict-empty{background:#eeeeee;border-color:#555}
.sft-bad{margin:6px 0;padding-left:20px}.sft-bad li{margin:2px 0}
.sft-counts{border-collapse:collapse;margin-top:6px;font-size:13px}
.sft-counts td,.sft-counts th,.sft-table td,.sft-table th{border:1px solid #bbb;padding:2px 8px;
  text-align:left;vertical-align:top;color:#111}
.sft-status{display:inline-block;min-width:3.6em;text-align:center;font-weight:bold;padding:0 6px;
  border-radius:3px;color:#fff;background:#555}
.sft-status-pass{background:#1e6b1e}.sft-status-warn{background:#8a5300}.sft-status-fail{background:#b02a1d}
.sft-status-error{background:#6d1650}.sft-status-skip{background:#555}
.sft-controls{display:flex;flex-wrap:wrap;gap:14px;align-items:center;margin:8px 0;padding:6px 8px;
  background:#f2f2f2;border-radius:4px}
.sft-controls label{white-space:nowrap}
.sft-grid{display:grid;grid-template-columns:5.2em 6.2em minmax(11em,17em) minmax(10em,1fr) 10em 10em;
  gap:4px 10px;align-items:baseline;padding:4px 6px}
.sft-head{font-weight:bold;border-bottom:2px solid #888}
.sft-head [data-sort]{cursor:pointer;text-decoration:underline dotted}
.sft-check{border-bottom:1px solid #ccc}
.sft-check>summary{cursor:pointer;list-style:none}
.sft-check>summary::-webkit-details-marker{display:none}
.sft-check[open]>summary{background:#f0f0f0}
.sft-check>summary:hover{background:#e8eefc}
.sft-cell-id code{font-size:13px;overflow-wrap:anywhere}
.sft-cell-value,.sft-cell-thr{overflow-wrap:anywhere;font-family:monospace;font-size:12px}
.sft-body{padding:4px 12px 12px 28px;border-left:4px solid #ccc;margin:0 0 8px 6px}
.sft-s-fail .sft-body,.sft-s-error .sft-body{border-left-color:#b02a1d}
.sft-s-warn .sft-body{border-left-color:#8a5300}
.sft-result{margin:4px 0}
.sft-page pre{white-space:pre-wrap;overflow-wrap:anywhere;word-break:normal;background:#f6f6f6;
  color:#111;padding:6px;margin:2px 0;max-height:400px;overflow:auto}
.sft-side{display:flex;gap:8px}.sft-side>div{flex:1;min-width:0}
.sft-context>div{margin:2px 0}
.sft-strip{font-family:monospace;line-height:1.9;overflow-wrap:anywhere}
.sft-strip>span{padding:1px 2px;margin:0 1px;border-radius:2px;white-space:pre}
.sft-strip .k1{background:#bfe8bf;color:#0b3d0b}
.sft-strip .k0{background:#e4e4e4;color:#8c1c1c}
.sft-strip .ks{outline:2px solid #1f4fbf;font-weight:bold}
.sft-ws{color:#666}
.sft-evidence{margin:6px 0 10px 0}
.sft-evidence h4{margin:8px 0 4px 0}
.sft-ref{color:#333;font-style:italic}
.sft-tf-bar{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0}
.sft-tf{border:1px solid #777;background:#fff;color:#111;border-radius:3px;padding:1px 8px;cursor:pointer}
.sft-tf-on{background:#0a3a8c;color:#fff}
"""

# Filters, sorting, links to hidden rows, and the per-example table filters.
JS = r"""
(function () {
  "use strict";
  function all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function init() {
    var list = document.getElementById("sft-checks");
    if (list) {
      var boxes = all("input.sft-status-filter");
      var stage = document.getElementById("sft-stage-filter");
      var search = document.getElementById("sft-search");
      var shown = document.getElementById("sft-shown");
      var checks = function () { return all("details.sft-check", list); };
      var apply = function () {
        var on = {};
        boxes.forEach(function (b) { on[b.value] = b.checked; });
        var st = stage ? stage.value : "";
        var q = search ? search.value.toLowerCase() : "";
        var n = 0;
        checks().forEach(function (d) {
          var vis = on[d.dataset.status] !== false && (!st || d.dataset.stage === st) &&
            (!q || d.textContent.toLowerCase().indexOf(q) >= 0);
          d.hidden = !vis;
          if (vis) { n += 1; }
        });
        if (shown) { shown.textContent = n + " of " + checks().length + " checks shown"; }
      };
      boxes.forEach(function (b) { b.addEventListener("change", apply); });
      if (stage) { stage.addEventListener("change", apply); }
      if (search) { search.addEventListener("input", apply); }
      all("#sft-checks-head [data-sort]").forEach(function (h) {
        h.addEventListener("click", function () {
          var key = h.dataset.sort;
          var desc = h.dataset.dir === "asc";
          all("#sft-checks-head [data-sort]").forEach(function (o) { delete o.dataset.dir; });
          h.dataset.dir = desc ? "desc" : "asc";
          var items = checks();
          items.sort(function (a, b) {
            var x = a.dataset[key] || "", y = b.dataset[key] || "";
            var c = x < y ? -1 : (x > y ? 1 : 0);
            return desc ? -c : c;
          });
          items.forEach(function (d) { list.appendChild(d); });
        });
      });
      var reveal = function () {
        var id = decodeURIComponent(location.hash.slice(1));
        var el = id ? document.getElementById(id) : null;
        var d = el ? el.closest("details.sft-check") : null;
        if (!d) { return; }
        if (d.hidden) {
          boxes.forEach(function (b) { b.checked = true; });
          if (stage) { stage.value = ""; }
          if (search) { search.value = ""; }
          apply();
        }
        d.open = true;
        el.scrollIntoView();
      };
      window.addEventListener("hashchange", reveal);
      reveal();
      apply();
    }
    all(".sft-tagged").forEach(function (box) {
      var tag = "";
      var q = box.querySelector(".sft-tf-search");
      var filter = function () {
        var s = q ? q.value.toLowerCase() : "";
        all("tbody tr", box).forEach(function (tr) {
          var tags = " " + (tr.dataset.tags || "") + " ";
          tr.hidden = !((!tag || tags.indexOf(" " + tag + " ") >= 0) &&
                        (!s || tr.textContent.toLowerCase().indexOf(s) >= 0));
        });
      };
      all(".sft-tf", box).forEach(function (b) {
        b.addEventListener("click", function () {
          tag = b.dataset.tag;
          all(".sft-tf", box).forEach(function (x) { x.classList.toggle("sft-tf-on", x === b); });
          filter();
        });
      });
      if (q) { q.addEventListener("input", filter); }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
"""
