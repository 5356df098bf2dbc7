// app.js: the little glue the server-rendered pages need. The Content-Security-Policy allows
// scripts only from this origin, so there are no inline scripts or handlers anywhere; behaviour
// hangs off data- attributes through delegated listeners, which also cover htmx-swapped content.
(function () {
  "use strict";

  // Lets app.css hide controls that need JavaScript (.js-only) or show their fallback.
  document.documentElement.classList.add("js");

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  if (window.htmx) {
    var config = window.htmx.config;
    config.allowEval = false; // the CSP forbids eval; never attempt it
    config.allowScriptTags = false; // swapped-in markup never runs scripts
    config.includeIndicatorStyles = false; // app.css styles .htmx-indicator; no injected <style>
    config.historyCacheSize = 0; // never keep page snapshots (a new device's config) in localStorage
    config.selfRequestsOnly = true;
    // 422 answers carry the form again with its field errors, so they are swapped like a 200.
    config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true },
      { code: "[45]..", swap: false, error: true },
      { code: "...", swap: false }
    ];

    document.addEventListener("htmx:configRequest", function (event) {
      var token = csrfToken();
      if (token) {
        event.detail.headers["X-CSRF-Token"] = token;
      }
    });

    var requestError = function (message) {
      var box = document.getElementById("request-error");
      if (!box) return;
      box.textContent = message;
      box.hidden = false;
    };
    document.addEventListener("htmx:beforeRequest", function () {
      var box = document.getElementById("request-error");
      if (box) box.hidden = true;
    });
    document.addEventListener("htmx:responseError", function (event) {
      var status = event.detail.xhr ? event.detail.xhr.status : 0;
      if (status === 403) {
        requestError("Your session has changed. Reload the page and try again.");
      } else {
        requestError("The request failed (" + status + "). Reload the page and try again.");
      }
    });
    document.addEventListener("htmx:sendError", function () {
      requestError("The server could not be reached. Check your connection and try again.");
    });
  }

  function target(button, attribute) {
    var selector = button.getAttribute(attribute);
    return selector ? document.querySelector(selector) : null;
  }

  function flashLabel(button, text) {
    var original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = original; }, 2000);
  }

  function selectContents(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // <button data-copy="#id">: copies the element's text. The clipboard API needs a secure
  // context; elsewhere the text is selected for the user to copy.
  function copy(button) {
    var element = target(button, "data-copy");
    if (!element) return;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(element.textContent).then(
        function () { flashLabel(button, "Copied"); },
        function () { selectContents(element); flashLabel(button, "Press Ctrl+C to copy"); }
      );
    } else {
      selectContents(element);
      flashLabel(button, "Press Ctrl+C to copy");
    }
  }

  // <button data-download="#id" data-filename="x.conf">: saves the element's text as a file.
  function download(button) {
    var element = target(button, "data-download");
    if (!element) return;
    var blob = new Blob([element.textContent], { type: "application/octet-stream" });
    var url = URL.createObjectURL(blob);
    var link = document.createElement("a");
    link.href = url;
    link.download = button.getAttribute("data-filename") || "download.txt";
    document.body.appendChild(link);
    link.click();
    link.remove();
    window.setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-download]");
    if (!button) return;
    event.preventDefault();
    if (button.hasAttribute("data-copy")) {
      copy(button);
    } else {
      download(button);
    }
  });

  // <dialog> elements open from [data-dialog="#id"] and close from [data-close]. The opener may
  // be a link to a page that does the same without JavaScript; with it, the dialog opens instead.
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog]");
    if (opener) {
      var dialog = target(opener, "data-dialog");
      if (dialog && dialog.showModal) {
        event.preventDefault();
        dialog.showModal();
      }
      return;
    }
    var closer = event.target.closest("dialog [data-close]");
    if (closer) closer.closest("dialog").close();
  });

  // A client setting with a "Use default" box ([data-use-default]): typing a value of one's
  // own unticks the box, since the value is meant to be used.
  document.addEventListener("input", function (event) {
    var field = event.target.closest(".override");
    if (!field || event.target.matches("[data-use-default]")) return;
    var box = field.querySelector("[data-use-default]");
    if (box) box.checked = false;
  });
})();
