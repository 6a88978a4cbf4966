// chonnghe's widget: <script src="https://BOT/widget.js" async></script> adds a launcher bubble that opens
// the chat page in an iframe (so the host page's CSS and scripts cannot touch it).
// Options (data- attributes on the script tag): data-title, data-colour (#rrggbb), data-position
// ("right" or "left"), data-greeting (the opening message shown beside the bubble).
// Styles are set through the DOM (element.style), not a <style> element, so a host page's strict
// Content-Security-Policy does not block them; everything lives in a shadow root.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__chonngheWidget) return;
  window.__chonngheWidget = true;

  var base = new URL(script.src, location.href);
  var origin = base.origin;
  var title = (script.getAttribute("data-title") || "Tư vấn chọn nghề").slice(0, 60);
  var colour = script.getAttribute("data-colour") || script.getAttribute("data-color") || "#0b5cad";
  if (!/^#[0-9a-fA-F]{6}$/.test(colour)) colour = "#0b5cad";
  var left = script.getAttribute("data-position") === "left";
  var greeting = (script.getAttribute("data-greeting") || script.getAttribute("data-opening-message") || "").slice(0, 160);

  function ink(hex) {
    var rgb = [1, 3, 5].map(function (i) {
      var c = parseInt(hex.substr(i, 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
    return 1.05 / (lum + 0.05) >= 4.5 ? "#ffffff" : "#111111";
  }

  function css(el, rules) {
    for (var k in rules) if (Object.prototype.hasOwnProperty.call(rules, k)) el.style.setProperty(k, rules[k]);
    return el;
  }

  var side = left ? "left" : "right";
  var host = document.createElement("div");
  host.setAttribute("data-chonnghe", "widget");
  css(host, { position: "fixed", bottom: "0", "z-index": "2147483000" });
  host.style.setProperty(side, "0");
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;

  var launcher = css(document.createElement("button"), {
    position: "fixed", bottom: "20px", width: "60px", height: "60px", "border-radius": "50%", border: "0",
    background: colour, color: ink(colour), cursor: "pointer", "box-shadow": "0 4px 14px rgba(0,0,0,.3)",
    display: "flex", "align-items": "center", "justify-content": "center", padding: "0",
    font: "600 26px/1 system-ui, sans-serif"
  });
  launcher.style.setProperty(side, "20px");
  launcher.type = "button";
  launcher.setAttribute("aria-label", "Mở trò chuyện: " + title);
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-haspopup", "dialog");
  launcher.setAttribute("data-part", "launcher");
  var svgNS = "http://www.w3.org/2000/svg";
  var icon = document.createElementNS(svgNS, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("width", "30");
  icon.setAttribute("height", "30");
  icon.setAttribute("aria-hidden", "true");
  var path = document.createElementNS(svgNS, "path");
  path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H10l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
  path.setAttribute("fill", "currentColor");
  icon.appendChild(path);
  launcher.appendChild(icon);

  // The unread count on the launcher: the bot's messages (a broadcast, say) the visitor has not seen, told
  // by the hidden helper page on load and by the chat itself while its panel is closed.
  var count = css(document.createElement("span"), {
    position: "absolute", top: "-4px", "min-width": "22px", height: "22px", padding: "0 6px",
    "box-sizing": "border-box", "border-radius": "11px", background: "#b00020", color: "#ffffff",
    border: "2px solid #ffffff", font: "700 13px/18px system-ui, sans-serif", "text-align": "center",
    display: "none"
  });
  count.style.setProperty(left ? "left" : "right", "-4px");
  count.setAttribute("data-part", "unread");
  count.setAttribute("aria-hidden", "true");
  launcher.appendChild(count);
  var unread = 0;

  function label() {
    var open = launcher.getAttribute("aria-expanded") === "true";
    var text = (open ? "Đóng trò chuyện: " : "Mở trò chuyện: ") + title;
    launcher.setAttribute("aria-label", !open && unread > 0 ? text + " (" + unread + " tin mới)" : text);
  }

  function setUnread(n) {
    unread = n > 0 ? Math.min(n, 99) : 0;
    count.textContent = unread > 9 ? "9+" : String(unread);
    count.style.display = unread > 0 ? "block" : "none";
    label();
  }

  var bubble = null;
  if (greeting) {
    bubble = css(document.createElement("button"), {
      position: "fixed", bottom: "92px", "max-width": "240px", padding: "10px 12px", "border-radius": "12px",
      border: "1px solid #c9d1dc", background: "#ffffff", color: "#1b1f24", cursor: "pointer", "text-align": "left",
      font: "15px/1.4 system-ui, sans-serif", "box-shadow": "0 4px 14px rgba(0,0,0,.18)"
    });
    bubble.style.setProperty(side, "20px");
    bubble.type = "button";
    bubble.setAttribute("data-part", "greeting");
    bubble.textContent = greeting;
  }

  var panel = css(document.createElement("div"), {
    position: "fixed", bottom: "92px", width: "380px", height: "600px", "max-height": "calc(100vh - 112px)",
    "max-width": "calc(100vw - 40px)", "border-radius": "14px", overflow: "hidden", display: "none",
    "box-shadow": "0 8px 28px rgba(0,0,0,.3)", background: "#ffffff"
  });
  panel.style.setProperty(side, "20px");
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", title);
  panel.setAttribute("data-part", "panel");
  var frame = null;

  function small() { return window.innerWidth < 480; }

  function layout() {
    if (small()) {
      css(panel, { top: "0", bottom: "0", width: "100vw", height: "100%", "max-height": "none", "max-width": "none",
                   "border-radius": "0" });
      panel.style.setProperty(side, "0");
    } else {
      css(panel, { top: "auto", bottom: "92px", width: "380px", height: "600px", "max-height": "calc(100vh - 112px)",
                   "max-width": "calc(100vw - 40px)", "border-radius": "14px" });
      panel.style.setProperty(side, "20px");
    }
  }

  function open() {
    if (!frame) {
      frame = css(document.createElement("iframe"), { width: "100%", height: "100%", border: "0", display: "block" });
      frame.title = title;
      var src = new URL("/", base);
      src.searchParams.set("embed", "1");
      src.searchParams.set("title", title);
      src.searchParams.set("colour", colour);
      frame.src = src.href;
      panel.appendChild(frame);
    }
    layout();
    panel.style.display = "block";
    launcher.setAttribute("aria-expanded", "true");
    setUnread(0);
    tellChat(true);
    dropHelper();
    if (bubble) bubble.style.display = "none";
    if (small()) launcher.style.display = "none";
    setTimeout(function () { try { frame.focus(); } catch (e) { /* cross-origin focus is best effort */ } }, 50);
  }

  function close() {
    panel.style.display = "none";
    launcher.style.display = "flex";
    launcher.setAttribute("aria-expanded", "false");
    label();
    tellChat(false);
    launcher.focus();
  }

  // Whether the chat is on screen: what arrives while its panel is closed stays unread.
  function tellChat(shown) {
    if (frame && frame.contentWindow) frame.contentWindow.postMessage({ type: "chonnghe:shown", shown: shown }, origin);
  }

  // A returning visitor's unread count, from the hidden helper page (see badge.js).
  var helper = css(document.createElement("iframe"), { display: "none" });
  helper.setAttribute("aria-hidden", "true");
  helper.tabIndex = -1;
  helper.title = "";
  helper.src = new URL("/web/badge", base).href;
  function dropHelper() {
    if (helper && helper.parentNode) helper.parentNode.removeChild(helper);
    helper = null;
  }

  launcher.addEventListener("click", function () {
    if (panel.style.display === "none") open(); else close();
  });
  if (bubble) bubble.addEventListener("click", open);
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || !event.data) return;
    if (event.data.type === "chonnghe:close") close();
    else if (event.data.type === "chonnghe:unread" && typeof event.data.n === "number") {
      if (panel.style.display === "none") setUnread(event.data.n);
      if (helper && event.source === helper.contentWindow) dropHelper();
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && panel.style.display !== "none") close();
  });
  window.addEventListener("resize", function () { if (panel.style.display !== "none") layout(); });

  root.appendChild(panel);
  if (bubble) root.appendChild(bubble);
  root.appendChild(launcher);
  if (helper) root.appendChild(helper);
  (document.body || document.documentElement).appendChild(host);
})();
