// The widget's hidden helper page (/web/badge, loaded by widget.js on the school's page): a returning
// visitor's token lives in this origin's storage, which the host page cannot read. Ask how many of the
// bot's messages are unread and tell the launcher. Nobody who never chatted is asked about (no token).
(function () {
  "use strict";
  if (window.parent === window) return;
  var token = null;
  try { token = window.localStorage.getItem("chonnghe.visitor"); } catch (e) { token = null; }
  if (!token) return;
  fetch("/web/unread", { headers: { "X-Chonnghe-Token": token }, credentials: "same-origin", cache: "no-store" })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (data) {
      // The count only, to whichever site embeds us: frame-ancestors says which sites may.
      if (data && typeof data.unread === "number") window.parent.postMessage({ type: "chonnghe:unread", n: data.unread }, "*");
    })
    .catch(function () { /* no badge: the chat still opens */ });
})();
