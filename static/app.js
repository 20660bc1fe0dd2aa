// HiveMatrix pages: the little script beside htmx. No inline scripts anywhere, so the
// Content-Security-Policy can forbid them.
(function () {
  "use strict";
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  // htmx writes carry the session's CSRF token in a header.
  document.addEventListener("htmx:configRequest", function (e) {
    var t = csrf();
    if (t) { e.detail.headers["X-CSRF-Token"] = t; }
  });
  // An htmx request that fails shows the problem's detail as a flash message.
  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr, msg = "Request failed (" + xhr.status + ")";
    try {
      var p = JSON.parse(xhr.responseText);
      if (p && p.detail) { msg = p.detail + (p.correlation_id ? " (correlation id " + p.correlation_id + ")" : ""); }
    } catch (_) { /* not JSON */ }
    var box = document.getElementById("flash-area");
    if (box) {
      var div = document.createElement("div");
      div.className = "flash flash-error";
      div.setAttribute("role", "alert");
      div.textContent = msg;
      box.appendChild(div);
    }
  });
  // Forms and buttons with data-confirm ask first (deletes).
  document.addEventListener("submit", function (e) {
    var f = e.target, q = f.getAttribute("data-confirm");
    if (q && !window.confirm(q)) { e.preventDefault(); }
  }, true);
  // Content swapped into a <dialog> (ticket details) opens it as a modal.
  document.addEventListener("htmx:afterSwap", function (e) {
    var t = e.detail.target;
    if (t && t.tagName === "DIALOG" && !t.open && t.showModal) { t.showModal(); }
  });
  // Selects with data-autosubmit submit their form on change (filters, page size).
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.matches && t.matches("[data-autosubmit]") && t.form) { t.form.requestSubmit(); }
  });
})();
