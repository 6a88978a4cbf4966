// The chat page's script: one WebSocket to chonnghe (reconnecting by itself), messages rendered as text
// (text nodes and <a> for http(s) links only: nothing a visitor or the content says becomes HTML).
(function () {
  "use strict";

  var WS_PATH = "/web/ws";
  var TOKEN_KEY = "chonnghe.visitor";
  var SOURCE_PREFIX = "Nguồn: ";
  var URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/g;
  var TRAILING = /[.,;:!?)\]}»"'”]+$/;

  var log = document.getElementById("log");
  var scroller = document.getElementById("scroller");
  var typing = document.getElementById("typing");
  var statusBox = document.getElementById("status");
  var badge = document.getElementById("unread");
  var form = document.getElementById("composer");
  var box = document.getElementById("text");
  var restartButton = document.getElementById("restart");
  var closeButton = document.getElementById("close");
  var maxText = parseInt(document.body.getAttribute("data-max-text"), 10) || 2000;
  var baseTitle = document.title;

  var ws = null;
  var last = 0;           // highest message id shown
  var shown = {};         // message ids shown (exactly once, whatever the network does)
  var readUpTo = 0;       // highest id acknowledged as seen
  var unreadNew = 0;      // bot messages that arrived while the page was hidden
  var attempt = 0;
  var reconnectTimer = null;
  var cidCounter = 0;
  var pending = {};       // cid -> element of a message not yet confirmed by the server
  var dividerShown = false;
  var embedded = window.parent !== window;
  var panelShown = true;  // inside the widget: whether its panel is open (the widget says, see below)

  // Seen: the page is on screen and, inside the widget, its panel is open.
  function onScreen() { return document.visibilityState === "visible" && panelShown; }

  // --- accent colour of an embedding site (validated on the server) -------------------------------
  // Text on the colour is white or near-black, whichever reads (WCAG AA 4.5:1); text *in* the colour on
  // white (reply buttons) uses the colour darkened until it reads.
  var accent = document.body.getAttribute("data-accent");
  if (accent && /^#[0-9a-fA-F]{6}$/.test(accent)) {
    var rgb = [1, 3, 5].map(function (i) { return parseInt(accent.substr(i, 2), 16); });
    var root = document.documentElement.style;
    root.setProperty("--accent", accent);
    root.setProperty("--accent-text", 1.05 / (luminance(rgb) + 0.05) >= 4.5 ? "#ffffff" : "#111111");
    var ink = rgb.slice();
    while (1.05 / (luminance(ink) + 0.05) < 4.6) ink = ink.map(function (c) { return Math.floor(c * 0.9); });
    root.setProperty("--accent-ink", "rgb(" + ink.join(",") + ")");
  }

  function luminance(rgb) {
    var c = rgb.map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  // --- the phone's on-screen keyboard: keep the text box above it ---------------------------------
  var app = document.getElementById("app");
  if (window.visualViewport) {
    var fit = function () {
      var vv = window.visualViewport;
      if (Math.abs(vv.height - window.innerHeight) > 1) {
        app.classList.add("vv");
        app.style.setProperty("--app-height", vv.height + "px");
        window.scrollTo(0, 0);
      } else {
        app.classList.remove("vv");
      }
      stickToBottom();
    };
    window.visualViewport.addEventListener("resize", fit);
  }

  // --- rendering ----------------------------------------------------------------------------------
  function textWithLinks(parent, text) {
    var lines = text.split("\n");
    lines.forEach(function (line, n) {
      if (n > 0) parent.appendChild(document.createElement("br"));
      var at = 0;
      line.replace(URL_RE, function (match, offset) {
        var url = match.replace(TRAILING, "");
        if (offset > at) parent.appendChild(document.createTextNode(line.slice(at, offset)));
        var a = document.createElement("a");
        a.href = url;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        a.textContent = url;
        parent.appendChild(a);
        at = offset + url.length;
        return match;
      });
      if (at < line.length) parent.appendChild(document.createTextNode(line.slice(at)));
    });
  }

  function safeUrl(url) {
    try {
      var u = new URL(url, location.href);
      return (u.protocol === "http:" || u.protocol === "https:") ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  }

  function stickToBottom() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  function messageElement(from) {
    var el = document.createElement("div");
    el.className = "msg";
    el.setAttribute("data-from", from);
    return el;
  }

  function fillText(el, from, text) {
    if (from === "user") {
      textWithLinks(el, text);
      return;
    }
    text.split(/\n{2,}/).forEach(function (para) {
      var p = document.createElement("p");
      if (para.indexOf(SOURCE_PREFIX) === 0) p.className = "source";
      textWithLinks(p, para);
      el.appendChild(p);
    });
  }

  function render(m) {
    var el = messageElement(m.from);
    el.setAttribute("data-id", String(m.id));
    fillText(el, m.from, m.text || "");
    var rows = m.buttons || [];
    if (rows.length) {
      var wrap = document.createElement("div");
      wrap.className = "buttons";
      rows.forEach(function (row) {
        row.forEach(function (b) {
          var url = b.url ? safeUrl(b.url) : null;
          if (url) {
            var a = document.createElement("a");
            a.className = "link-button";
            a.href = url;
            a.rel = "noopener noreferrer";
            a.target = "_blank";
            a.textContent = b.label;
            wrap.appendChild(a);
          } else if (typeof b.i === "number") {
            var button = document.createElement("button");
            button.type = "button";
            button.textContent = b.label;
            button.addEventListener("click", function () { press(m.id, b.i); });
            wrap.appendChild(button);
          }
        });
      });
      el.appendChild(wrap);
    }
    return el;
  }

  function add(m) {
    if (shown[m.id]) return;   // exactly once
    shown[m.id] = true;
    if (m.id > last) last = m.id;
    var stick = nearBottom() || m.from === "user";
    var el = render(m);
    var mine = m.cid && pending[m.cid];
    if (mine) {
      log.replaceChild(el, mine);
      delete pending[m.cid];
    } else {
      if (m.from === "bot" && m.id > readUpTo && readUpTo > 0 && !dividerShown && !synced) {
        var divider = document.createElement("div");
        divider.className = "divider";
        divider.textContent = "Tin mới";
        log.appendChild(divider);
        dividerShown = true;
      }
      log.appendChild(el);
    }
    if (m.from === "bot" && synced && !onScreen()) {
      unreadNew += 1;
      showUnread(unreadNew);
      if (embedded) window.parent.postMessage({ type: "chonnghe:unread", n: unreadNew }, "*");
    }
    if (stick) stickToBottom();
  }

  function notice(text) {
    var el = messageElement("bot");
    el.classList.add("notice");
    fillText(el, "bot", text);
    log.appendChild(el);
    stickToBottom();
  }

  function showUnread(n) {
    if (n > 0) {
      badge.textContent = n + " tin mới";
      badge.hidden = false;
      document.title = "(" + n + ") " + baseTitle;
    } else {
      badge.hidden = true;
      badge.textContent = "";
      document.title = baseTitle;
    }
  }

  // --- reading ------------------------------------------------------------------------------------
  var ackTimer = null;
  function acknowledge() {
    if (!onScreen() || !ws || ws.readyState !== 1 || last <= readUpTo) return;
    readUpTo = last;
    send({ t: "ack", id: last });
  }
  function acknowledgeSoon() {
    if (ackTimer) return;
    ackTimer = setTimeout(function () { ackTimer = null; acknowledge(); }, 400);
  }
  function backOnScreen() {
    acknowledgeSoon();
    if (unreadNew) { unreadNew = 0; setTimeout(function () { showUnread(0); }, 4000); }
  }
  document.addEventListener("visibilitychange", function () { if (onScreen()) backOnScreen(); });
  // The widget tells whether its panel is open; only the page that embeds us can (event.source).
  window.addEventListener("message", function (event) {
    if (!embedded || event.source !== window.parent || !event.data || event.data.type !== "chonnghe:shown") return;
    panelShown = event.data.shown === true;
    if (onScreen()) backOnScreen();
  });
  function seenUnread() { if (!badge.hidden) showUnread(0); }
  box.addEventListener("focus", seenUnread);
  scroller.addEventListener("click", seenUnread);

  // --- the connection -----------------------------------------------------------------------------
  var synced = false;

  function setStatus(text) {
    if (text) {
      statusBox.textContent = text;
      statusBox.hidden = false;
    } else {
      statusBox.hidden = true;
      statusBox.textContent = "";
    }
  }

  function storedToken() {
    try { return window.localStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }
  function keepToken(token) {
    try { window.localStorage.setItem(TOKEN_KEY, token); } catch (e) { /* private mode: the cookie serves */ }
  }

  function connect() {
    reconnectTimer = null;
    synced = false;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    try {
      ws = new WebSocket(scheme + location.host + WS_PATH);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws.onopen = function () {
      send({ t: "hello", after: last, token: storedToken() });
    };
    ws.onmessage = function (event) {
      var f;
      try { f = JSON.parse(event.data); } catch (e) { return; }
      handle(f);
    };
    ws.onclose = function (event) {
      ws = null;
      typing.hidden = true;
      if (event.code === 1009) notice("Tin nhắn quá lớn nên kết nối bị đóng. Đang kết nối lại…");
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (reconnectTimer) return;
    attempt += 1;
    var delay = Math.min(15000, 500 * Math.pow(2, Math.min(attempt - 1, 5))) * (0.8 + Math.random() * 0.4);
    if (attempt > 1) setStatus("Mất kết nối. Đang thử kết nối lại…");
    reconnectTimer = setTimeout(connect, delay);
  }

  function send(frame) {
    if (ws && ws.readyState === 1) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function handle(f) {
    if (f.t === "welcome") {
      attempt = 0;
      setStatus("");
      if (f.token) keepToken(f.token);
      if (typeof f.read === "number" && f.read > readUpTo) readUpTo = f.read;
      if (f.unread > 0 && last === 0) showUnread(f.unread);
    } else if (f.t === "m") {
      add(f);
    } else if (f.t === "synced") {
      synced = true;
      if (last === 0 && !log.querySelector(".msg")) typing.hidden = false;  // the greeting is on its way
      stickToBottom();
      acknowledgeSoon();
      return;
    } else if (f.t === "typing") {
      // The server says "on" only when an answer takes a moment (a quick one would just flicker).
      if (f.on) {
        typing.hidden = false;
        if (nearBottom()) stickToBottom();
      } else {
        typing.hidden = true;
      }
    } else if (f.t === "refused") {
      var el = f.cid && pending[f.cid];
      if (el) {
        var text = el.getAttribute("data-text") || "";
        log.removeChild(el);
        delete pending[f.cid];
        if (!box.value) box.value = text;   // given back to be sent again
      }
      notice(f.text);
    } else if (f.t === "cleared") {
      log.textContent = "";
      shown = {};
      last = 0;
      readUpTo = 0;
      dividerShown = false;
      pending = {};
      showUnread(0);
    }
    if (f.t === "m" && synced) acknowledgeSoon();
  }

  // --- what the person does -----------------------------------------------------------------------
  function submitText() {
    var text = box.value.replace(/\s+$/, "").replace(/^\s+/, "");
    if (!text) return;
    if (text.length > maxText) {
      notice("Tin nhắn dài quá. Bạn vui lòng rút gọn dưới " + maxText + " ký tự nhé.");
      return;
    }
    cidCounter += 1;
    var cid = "c" + Date.now().toString(36) + cidCounter;
    if (!send({ t: "msg", text: text, cid: cid })) {
      setStatus("Chưa kết nối được. Tin nhắn của bạn vẫn còn trong ô, bạn gửi lại sau giây lát nhé.");
      return;
    }
    var el = messageElement("user");
    el.classList.add("pending");
    el.setAttribute("data-text", text);
    textWithLinks(el, text);
    log.appendChild(el);
    pending[cid] = el;
    box.value = "";
    autoGrow();
    stickToBottom();
    seenUnread();
  }

  function press(id, index) {
    if (!send({ t: "press", id: id, i: index })) {
      setStatus("Chưa kết nối được. Bạn thử lại sau giây lát nhé.");
      return;
    }
    seenUnread();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submitText();
    box.focus();
  });
  box.addEventListener("keydown", function (event) {
    // Enter sends; Shift+Enter is a new line; never while an input method composes (Vietnamese Telex/VNI).
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submitText();
    }
  });
  function autoGrow() {
    box.style.height = "auto";
    box.style.height = Math.min(box.scrollHeight + 2, 140) + "px";
  }
  box.addEventListener("input", autoGrow);

  restartButton.addEventListener("click", function () {
    if (send({ t: "restart" })) box.focus();
  });
  if (closeButton) {
    closeButton.addEventListener("click", function () {
      if (window.parent !== window) window.parent.postMessage({ type: "chonnghe:close" }, "*");
    });
  }
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && closeButton && window.parent !== window) {
      window.parent.postMessage({ type: "chonnghe:close" }, "*");
    }
  });

  connect();
  if (!document.body.classList.contains("embed")) box.focus();
})();
