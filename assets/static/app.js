// app.js: the little glue the server-rendered pages need. The Content-Security-Policy allows
// scripts only from this origin, so there are no inline scripts or handlers anywhere; behaviour
// hangs off data- attributes through delegated listeners, which also cover htmx-swapped content.
(function () {
  "use strict";

  // Lets app.css hide controls that need JavaScript (.js-only) or show their fallback.
  document.documentElement.classList.add("js");

  // The browser gives focus to an [autofocus] element while the page loads, before the line
  // above shows the .js-only ones: it passes over those (a passkey's button). Now that they
  // show, the first [autofocus] on the page gets focus, unless focus went somewhere already.
  if (!document.activeElement || document.activeElement === document.body) {
    var autofocus = Array.prototype.find.call(document.querySelectorAll("[autofocus]"), function (el) {
      return el.offsetParent !== null;
    });
    if (autofocus) autofocus.focus();
  }

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
    // htmx carries these attributes over from an element it replaces to the new one with the
    // same id, for CSS transitions. It would copy a style attribute (ECharts styles its chart
    // element) with setAttribute, which the Content-Security-Policy (style-src 'self') blocks.
    config.attributesToSettle = ["class", "width", "height"];
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

    // The error box belongs to what the user did. The background refreshes of live regions
    // (below) neither hide an error of the user's request nor leave one of their own behind
    // after they succeed again.
    var fromLiveRefresh = function (event) {
      var elt = event.detail && event.detail.elt;
      return Boolean(elt && elt.closest && elt.closest("[data-live-refresh]"));
    };
    var requestError = function (message, live) {
      var box = document.getElementById("request-error");
      if (!box || (live && !box.hidden && !box.hasAttribute("data-from-live"))) return;
      box.textContent = message;
      box.hidden = false;
      box.toggleAttribute("data-from-live", live);
    };
    document.addEventListener("htmx:beforeRequest", function (event) {
      var box = document.getElementById("request-error");
      if (box && (!fromLiveRefresh(event) || box.hasAttribute("data-from-live"))) box.hidden = true;
    });
    document.addEventListener("htmx:responseError", function (event) {
      var status = event.detail.xhr ? event.detail.xhr.status : 0;
      if (status === 403) {
        requestError("Your session has changed. Reload the page and try again.", fromLiveRefresh(event));
      } else if (status === 507) {
        requestError("The server cannot write: disk full. Nothing was changed; try again once an administrator has freed some space.", fromLiveRefresh(event));
      } else {
        requestError("The request failed (" + status + "). Reload the page and try again.", fromLiveRefresh(event));
      }
    });
    document.addEventListener("htmx:sendError", function (event) {
      requestError("The server could not be reached. Check your connection and try again.", fromLiveRefresh(event));
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
        placeFocus(dialog);
      }
      return;
    }
    var closer = event.target.closest("dialog [data-close]");
    if (closer) closer.closest("dialog").close();
  });

  // Where focus goes when a dialog opens or a form's answer arrives, so that it never falls to
  // the page's body: the first field a message names ([aria-invalid]), else what the answer
  // points at ([data-focus]: a result, made focusable with tabindex="-1"), else an
  // [autofocus] element, else the form's first field. An answer's [data-dialog-title] becomes
  // the title of the dialog it is in ("Device laptop created"). Returns whether it moved.
  var fieldSelector = "input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])";
  function placeFocus(root) {
    var dialog = root.closest("dialog");
    var titled = root.querySelector("[data-dialog-title]");
    if (dialog && titled) {
      var title = document.getElementById(dialog.getAttribute("aria-labelledby"));
      if (title) title.textContent = titled.getAttribute("data-dialog-title");
    }
    var candidates = [root.querySelector("[aria-invalid=true]"), root.querySelector("[data-focus]"),
      root.querySelector("[autofocus]"), root.querySelector(fieldSelector)];
    for (var i = 0; i < candidates.length; i++) {
      var el = candidates[i];
      if (el && el.offsetParent !== null) {
        el.focus();
        return true;
      }
    }
    return false;
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    var root = event.detail.elt;
    // Only the answers to what the user did in a form or a dialog; live refreshes keep focus.
    if (!root || !root.closest || root.closest("[data-live-refresh]")) return;
    if (root.closest("dialog[open]") || root.querySelector("[aria-invalid=true], [data-focus]")) placeFocus(root);
  });

  // A client setting with a "Use default" box ([data-use-default]): typing a value of one's
  // own unticks the box, since the value is meant to be used.
  document.addEventListener("input", function (event) {
    var field = event.target.closest(".override");
    if (!field || event.target.matches("[data-use-default]")) return;
    var box = field.querySelector("[data-use-default]");
    if (box) box.checked = false;
  });

  // ---- Reordering rows by dragging ----
  // In a <tbody data-sortable>, a row moves with the pointer that holds its [data-drag-handle]
  // (mouse, pen or finger: pointer events, with touch-action none on the handle). When it is
  // let go somewhere new, the enclosing form is submitted: the rows' hidden inputs are then in
  // the new order. The arrow buttons of each row do the same for the keyboard.

  var drag = null; // { row, body, pointer, rows and before: the rows and their order when it began }

  function rowOrder(body) {
    return Array.prototype.map.call(body.children, function (row) { return row.getAttribute("data-id"); }).join(" ");
  }

  document.addEventListener("pointerdown", function (event) {
    var handle = event.target.closest ? event.target.closest("[data-drag-handle]") : null;
    if (!handle || event.button !== 0 || drag) return;
    var row = handle.closest("tr");
    var body = row ? row.parentElement : null;
    if (!body || !body.matches("[data-sortable]")) return;
    event.preventDefault();
    if (handle.setPointerCapture) handle.setPointerCapture(event.pointerId);
    drag = { row: row, body: body, pointer: event.pointerId, rows: Array.prototype.slice.call(body.children), before: rowOrder(body) };
    row.classList.add("dragging");
  });

  document.addEventListener("pointermove", function (event) {
    if (!drag || event.pointerId !== drag.pointer) return;
    event.preventDefault();
    // The row goes before the first other row whose middle is below the pointer.
    var before = null;
    var rows = drag.body.children;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i] === drag.row) continue;
      var box = rows[i].getBoundingClientRect();
      if (event.clientY < box.top + box.height / 2) {
        before = rows[i];
        break;
      }
    }
    if (before !== drag.row.nextElementSibling && before !== drag.row) drag.body.insertBefore(drag.row, before);
  });

  function endDrag(event) {
    if (!drag || event.pointerId !== drag.pointer) return;
    var done = drag;
    drag = null;
    done.row.classList.remove("dragging");
    if (event.type === "pointercancel") { // the browser took the pointer over: put the rows back
      done.rows.forEach(function (row) { done.body.appendChild(row); });
      return;
    }
    if (rowOrder(done.body) === done.before) return;
    var form = done.body.closest("form");
    if (form && form.requestSubmit) form.requestSubmit();
  }
  document.addEventListener("pointerup", endDrag);
  document.addEventListener("pointercancel", endDrag);

  // ---- Live regions ----
  // A [data-live] element gets its updates over SSE (the htmx sse extension swaps them in).
  // While the stream cannot connect, the [data-live-refresh] elements inside it re-fetch
  // themselves every 5 s instead: each carries its own hx-get and hx-trigger="live-refresh".

  var LIVE_REFRESH_MS = 5000;
  var liveTimers = new Map(); // [data-live] element → interval id

  function startLiveRefresh(live) {
    if (liveTimers.has(live) || !window.htmx) return;
    liveTimers.set(live, window.setInterval(function () {
      if (!live.isConnected) {
        stopLiveRefresh(live);
        return;
      }
      live.querySelectorAll("[data-live-refresh]").forEach(function (element) {
        window.htmx.trigger(element, "live-refresh");
      });
    }, LIVE_REFRESH_MS));
  }

  function stopLiveRefresh(live) {
    if (!liveTimers.has(live)) return;
    window.clearInterval(liveTimers.get(live));
    liveTimers.delete(live);
  }

  function liveRegion(event) {
    var element = event.target;
    return element && element.closest ? element.closest("[data-live]") : null;
  }

  // The extension fires htmx:sseError on the sse-connect element for every failed attempt,
  // and retries on its own with a growing delay; htmx:sseOpen when an attempt succeeds.
  document.addEventListener("htmx:sseError", function (event) {
    var live = liveRegion(event);
    if (live) startLiveRefresh(live);
  });
  document.addEventListener("htmx:sseOpen", function (event) {
    var live = liveRegion(event);
    if (live) stopLiveRefresh(live);
  });

  // Browsers open at most six connections to a host over HTTP/1.1 and every open page's
  // stream holds one, so a seventh tab of WireGUI (say, device pages opened with a middle
  // click) would not even load. A page therefore closes its stream while its tab is hidden
  // and opens a new one when the tab is shown: the server sends the current state on
  // connect, and a chart the points it missed. The sse extension makes its streams with
  // htmx.createEventSource; this one looks to it like an EventSource.
  function pausingEventSource(url) {
    var source = null;
    var listeners = []; // [type, listener]: the extension's, moved to each new source
    var stream = {
      url: url,
      withCredentials: true,
      readyState: EventSource.CONNECTING,
      onopen: null,
      onerror: null,
      addEventListener: function (type, listener) {
        listeners.push([type, listener]);
        if (source) source.addEventListener(type, listener);
      },
      removeEventListener: function (type, listener) {
        listeners = listeners.filter(function (l) { return l[0] !== type || l[1] !== listener; });
        if (source) source.removeEventListener(type, listener);
      },
      close: function () {
        document.removeEventListener("visibilitychange", follow);
        pause();
        stream.readyState = EventSource.CLOSED;
      }
    };
    function open() {
      if (source) return;
      var mine = new EventSource(url, { withCredentials: true });
      source = mine;
      listeners.forEach(function (l) { mine.addEventListener(l[0], l[1]); });
      mine.onopen = function (event) {
        stream.readyState = EventSource.OPEN;
        if (stream.onopen) stream.onopen(event);
      };
      mine.onerror = function (event) {
        // CLOSED: the browser gave up (the answer was not a stream); the extension then
        // makes a new stream. Otherwise the browser retries on its own.
        if (mine.readyState === EventSource.CLOSED) stream.close();
        else stream.readyState = mine.readyState;
        if (stream.onerror) stream.onerror(event);
      };
    }
    function pause() {
      if (!source) return;
      source.close();
      source = null;
      stream.readyState = EventSource.CONNECTING;
    }
    function follow() {
      if (document.visibilityState === "hidden") pause();
      else open();
    }
    document.addEventListener("visibilitychange", follow);
    follow();
    return stream;
  }
  if (window.htmx && window.EventSource) window.htmx.createEventSource = pausingEventSource;

  function initLive(root) {
    if (window.EventSource) return; // the extension connects, and reports failures
    within(root, "[data-live]").forEach(startLiveRefresh);
  }

  // within returns the elements under root (an element or the document) that match selector,
  // root itself first when it matches.
  function within(root, selector) {
    if (!root || !root.querySelectorAll) return [];
    var found = Array.prototype.slice.call(root.querySelectorAll(selector));
    if (root.matches && root.matches(selector)) found.unshift(root);
    return found;
  }

  // ---- Traffic charts ----
  // <div data-chart data-series='{"at":[ms…],"rx":[B/s…],"tx":[B/s…]}' data-history-url="…"
  // sse-swap="point-ID" hx-swap="none">: an ECharts line chart of the receive and send rates.
  // Each SSE message is one point {"at":ms,"rx":n,"tx":n}; the live view keeps the last 60.
  // Buttons [data-chart-range][data-chart-target] switch to an hour, a day or a week of history.
  // Pages without ECharts (it is only loaded where a chart is) have no charts to set up.

  var CHART_POINTS = 60;
  var RATE_UNITS = ["KiB/s", "MiB/s", "GiB/s", "TiB/s", "PiB/s", "EiB/s"];
  var charts = new WeakMap(); // [data-chart] element → its state
  // The view of a chart that an htmx swap replaced (the live fallback re-fetches it every
  // 5 s), keyed by id and history URL, so that its replacement keeps showing the same range.
  var chartViews = new Map();

  // oneDecimal rounds half to even, as Go's strconv.FormatFloat does, so that 1280 B/s reads
  // "1.2 KiB/s" here as on the server.
  function oneDecimal(value) {
    var tenths = value * 10;
    var rounded = Math.round(tenths);
    if (tenths - Math.floor(tenths) === 0.5 && rounded % 2 !== 0) rounded -= 1;
    var text = (rounded / 10).toFixed(1);
    return text.slice(-2) === ".0" ? text.slice(0, -2) : text;
  }

  // formatRate matches the server's rate template function: whole bytes below 1 KiB/s, one
  // decimal (without a trailing ".0") in binary units above.
  function formatRate(perSecond) {
    if (typeof perSecond !== "number" || !isFinite(perSecond)) return "–";
    var value = Math.round(perSecond);
    if (value > -1024 && value < 1024) return value + " B/s";
    var unit = -1;
    while ((value >= 1023.95 || value <= -1023.95) && unit < RATE_UNITS.length - 1) {
      value /= 1024;
      unit++;
    }
    return oneDecimal(value) + " " + RATE_UNITS[unit];
  }

  // rateAxis picks the y-axis top and tick step as round numbers of the binary unit that fits
  // the largest value, so that the labels read 0, 256 KiB/s, 512 KiB/s… rather than 0,
  // 195.3 KiB/s, 390.6 KiB/s….
  function rateAxis(largest) {
    if (!(largest > 0)) return { max: 1024, interval: 256 };
    var unit = 1;
    while (largest / unit >= 1024 && unit < Math.pow(1024, 6)) unit *= 1024;
    var steps = unit === 1 ? [1, 2, 5, 10, 20, 25, 50, 100, 200, 250] : [0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 20, 25, 50, 100, 200, 250];
    var step = 256 * unit;
    for (var i = 0; i < steps.length; i++) {
      if (largest / (steps[i] * unit) <= 5) {
        step = steps[i] * unit;
        break;
      }
    }
    return { max: Math.ceil(largest / step) * step, interval: step };
  }

  function isNumber(value) {
    return typeof value === "number" && isFinite(value);
  }

  // seriesPoints turns {"at":[…],"rx":[…],"tx":[…]} into [at, rx, tx] points; a rate that is
  // not a number (null marks a gap) stays null. It returns null for anything else.
  function seriesPoints(series) {
    if (!series || !Array.isArray(series.at) || !Array.isArray(series.rx) || !Array.isArray(series.tx)) return null;
    var points = [];
    var n = Math.min(series.at.length, series.rx.length, series.tx.length);
    for (var i = 0; i < n; i++) {
      if (!isNumber(series.at[i])) continue;
      points.push([series.at[i], isNumber(series.rx[i]) ? series.rx[i] : null, isNumber(series.tx[i]) ? series.tx[i] : null]);
    }
    return points;
  }

  function livePoint(text) {
    var point;
    try {
      point = JSON.parse(text);
    } catch (error) {
      return null;
    }
    if (!point || !isNumber(point.at) || !isNumber(point.rx) || !isNumber(point.tx)) return null;
    return [point.at, point.rx, point.tx];
  }

  // addLivePoint keeps the buffer in time order: a point for a time already there replaces it,
  // and the oldest points fall off beyond CHART_POINTS.
  function addLivePoint(buffer, point) {
    var i = buffer.length;
    while (i > 0 && buffer[i - 1][0] > point[0]) i--;
    if (i > 0 && buffer[i - 1][0] === point[0]) {
      buffer[i - 1] = point;
    } else {
      buffer.splice(i, 0, point);
    }
    if (buffer.length > CHART_POINTS) buffer.splice(0, buffer.length - CHART_POINTS);
  }

  function chartColors(element) {
    var style = window.getComputedStyle(element);
    var token = function (name, fallback) { return style.getPropertyValue(name).trim() || fallback; };
    return {
      rx: token("--chart-rx", "#2563eb"),
      tx: token("--chart-tx", "#ea580c"),
      text: token("--text", "#1b2330"),
      muted: token("--muted", "#5b6678"),
      border: token("--border", "#d8dee7"),
      surface: token("--surface", "#ffffff")
    };
  }

  // themeOption is the part of the chart's option that follows the colour scheme.
  function themeOption(colors) {
    var series = function (color) {
      return { color: color, lineStyle: { color: color }, itemStyle: { color: color }, areaStyle: { color: color, opacity: 0.14 } };
    };
    return {
      color: [colors.rx, colors.tx],
      textStyle: { color: colors.text },
      legend: { textStyle: { color: colors.text }, inactiveColor: colors.muted },
      tooltip: {
        backgroundColor: colors.surface, borderColor: colors.border, textStyle: { color: colors.text },
        axisPointer: { lineStyle: { color: colors.muted } }
      },
      xAxis: {
        axisLine: { lineStyle: { color: colors.border } }, axisTick: { lineStyle: { color: colors.border } },
        axisLabel: { color: colors.muted }
      },
      yAxis: { axisLabel: { color: colors.muted }, splitLine: { lineStyle: { color: colors.border } } },
      series: [series(colors.rx), series(colors.tx)]
    };
  }

  function escapeHTML(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // tooltipHTML builds the tooltip from classes styled in app.css: ECharts' own tooltip markup
  // uses style attributes, which the Content-Security-Policy (style-src 'self') blocks.
  function tooltipHTML(state, params) {
    var list = Array.isArray(params) ? params : [params];
    if (!list.length || !list[0].value) return "";
    var at = new Date(list[0].value[0]);
    var time = state.range === "live" || state.range === "1h" ? at.toLocaleTimeString() : at.toLocaleString();
    var html = '<div class="chart-tip-time">' + escapeHTML(time) + "</div>";
    list.forEach(function (item) {
      html += '<div class="chart-tip-row"><span class="chart-tip-mark chart-tip-' + (item.seriesIndex === 0 ? "rx" : "tx") +
        '"></span><span>' + escapeHTML(item.seriesName) + "</span><strong>" + escapeHTML(formatRate(item.value[1])) + "</strong></div>";
    });
    return html;
  }

  // chartOption is the rest of the chart's option; ECharts merges themeOption into it.
  function chartOption(state) {
    var line = function (name) {
      return { name: name, type: "line", showSymbol: false, symbolSize: 5, connectNulls: false, data: [] };
    };
    return {
      animation: false,
      aria: { enabled: false }, // the element has its own role="img" and aria-label
      grid: { left: 4, right: 12, top: 36, bottom: 4, containLabel: true },
      legend: { top: 0, right: 0, icon: "roundRect", itemWidth: 12, itemHeight: 8 },
      tooltip: {
        trigger: "axis", confine: true, className: "chart-tooltip",
        formatter: function (params) { return tooltipHTML(state, params); }
      },
      xAxis: { type: "time", boundaryGap: false, axisLabel: { hideOverlap: true }, splitLine: { show: false } },
      yAxis: { type: "value", min: 0, axisLabel: { formatter: formatRate } },
      series: [line("Received"), line("Sent")]
    };
  }

  function drawChart(state) {
    var points = state.range === "live" ? state.live : state.history;
    var largest = 0;
    var received = [];
    var sent = [];
    points.forEach(function (point) {
      received.push([point[0], point[1]]);
      sent.push([point[0], point[2]]);
      if (point[1] > largest) largest = point[1];
      if (point[2] > largest) largest = point[2];
    });
    var axis = rateAxis(largest);
    state.chart.setOption({
      yAxis: { max: axis.max, interval: axis.interval },
      series: [{ data: received }, { data: sent }]
    });
  }

  function chartStatus(state, text, isError) {
    var card = state.element.closest(".chart-card");
    var box = card ? card.querySelector("[data-chart-status]") : null;
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
    box.toggleAttribute("data-error", Boolean(isError));
  }

  // pressRange marks the range buttons of a chart; they may sit anywhere on the page.
  function pressRange(element, range) {
    document.querySelectorAll("[data-chart-range][data-chart-target]").forEach(function (button) {
      if (target(button, "data-chart-target") !== element) return;
      button.setAttribute("aria-pressed", String(button.getAttribute("data-chart-range") === range));
    });
  }

  function historyError(answer) {
    if (answer.body && typeof answer.body.error === "string" && answer.body.error) return answer.body.error;
    return "The history could not be loaded (" + answer.status + ").";
  }

  // showRange switches a chart to "live" or fetches a range of history. The buttons show the
  // choice at once; the chart keeps its data until the answer comes, and when the answer is an
  // error, it stays on the range it showed, with the message under it. An answer to a request
  // that a later choice superseded is dropped.
  function showRange(state, range) {
    var request = ++state.request;
    pressRange(state.element, range);
    if (range === "live") {
      state.range = "live";
      state.history = null;
      chartStatus(state, "");
      drawChart(state);
      return;
    }
    var url = state.element.getAttribute("data-history-url");
    if (!url || !window.fetch) {
      pressRange(state.element, state.range);
      return;
    }
    chartStatus(state, "Loading…");
    var failed = function (message) {
      if (request !== state.request || state.chart.isDisposed()) return;
      pressRange(state.element, state.range);
      chartStatus(state, message, true);
    };
    window.fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + "range=" + encodeURIComponent(range), {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(
        function (body) { return { ok: response.status === 200, status: response.status, body: body }; },
        function () { return { ok: false, status: response.status, body: null }; });
    }).then(function (answer) {
      var points = answer.ok ? seriesPoints(answer.body) : null;
      if (!points) {
        failed(answer.ok ? "The history could not be read." : historyError(answer));
        return;
      }
      if (request !== state.request || state.chart.isDisposed()) return;
      state.range = range;
      state.history = points;
      chartStatus(state, points.length ? "" : "No data for this period.");
      drawChart(state);
    }, function () {
      failed("The history could not be loaded. Check your connection and try again.");
    });
  }

  function chartViewKey(element) {
    return element.id + " " + element.getAttribute("data-history-url");
  }

  function initChart(element) {
    if (charts.has(element)) return;
    var series = null;
    try {
      series = JSON.parse(element.getAttribute("data-series") || "null");
    } catch (error) {
      series = null;
    }
    var state = {
      element: element,
      chart: window.echarts.getInstanceByDom(element) || window.echarts.init(element),
      live: (seriesPoints(series) || []).slice(-CHART_POINTS),
      range: "live",
      history: null,
      request: 0,
      observer: null
    };
    var view = element.id ? chartViews.get(chartViewKey(element)) : null;
    if (view) {
      chartViews.delete(chartViewKey(element));
      state.range = view.range;
      state.history = view.history;
    }
    charts.set(element, state);
    state.chart.setOption(chartOption(state));
    state.chart.setOption(themeOption(chartColors(element)));
    drawChart(state);
    pressRange(element, state.range);
    chartStatus(state, "");
    if (window.ResizeObserver) {
      var frame = 0;
      state.observer = new ResizeObserver(function () {
        window.cancelAnimationFrame(frame);
        frame = window.requestAnimationFrame(function () {
          if (state.chart.isDisposed()) return;
          state.chart.dispatchAction({ type: "hideTip" }); // it would stay where it was
          state.chart.resize();
        });
      });
      state.observer.observe(element);
    }
  }

  function disposeChart(element) {
    var state = charts.get(element);
    if (!state) return;
    charts.delete(element);
    state.request++;
    if (state.observer) state.observer.disconnect();
    if (state.range !== "live" && element.id) {
      chartViews.set(chartViewKey(element), { range: state.range, history: state.history });
    }
    state.chart.dispose();
  }

  function initCharts(root) {
    if (!window.echarts) return;
    within(root, "[data-chart]").forEach(initChart);
  }

  // The extension fires htmx:sseMessage on the sse-swap element after it swapped the message
  // (into nothing: hx-swap="none"); event.detail is the MessageEvent. A point is added to the
  // live buffer even while a range of history is shown, so that "Live" is current again.
  document.addEventListener("htmx:sseMessage", function (event) {
    var state = charts.get(event.target);
    if (!state || !event.detail) return;
    var point = livePoint(event.detail.data);
    if (!point) return;
    addLivePoint(state.live, point);
    if (state.range === "live") drawChart(state);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-chart-range]");
    if (!button) return;
    var state = charts.get(target(button, "data-chart-target"));
    if (state) showRange(state, button.getAttribute("data-chart-range"));
  });

  var darkScheme = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  if (darkScheme && darkScheme.addEventListener) {
    darkScheme.addEventListener("change", function () {
      document.querySelectorAll("[data-chart]").forEach(function (element) {
        var state = charts.get(element);
        if (state) state.chart.setOption(themeOption(chartColors(element)));
      });
    });
  }

  // htmx cleans up every element it swaps out, children included, before removing it.
  document.addEventListener("htmx:beforeCleanupElement", function (event) {
    var element = event.target;
    if (!element.matches) return;
    if (element.matches("[data-live]")) stopLiveRefresh(element);
    if (element.matches("[data-chart]")) disposeChart(element);
  });

  // Deferred scripts (ECharts comes after this file) have all run by DOMContentLoaded; the
  // document is "interactive" while they run, so that state is too early. Content that htmx
  // swaps in later arrives through htmx.onLoad. Setting up twice does nothing more.
  function setUp(root) {
    initLive(root);
    initCharts(root);
  }
  if (document.readyState === "complete") {
    setUp(document);
  } else {
    document.addEventListener("DOMContentLoaded", function () { setUp(document); });
    window.addEventListener("load", function () { setUp(document); });
  }
  if (window.htmx) {
    window.htmx.onLoad(setUp);
  }
})();
