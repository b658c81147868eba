/* Behaviour every page shares, bound from data- attributes: the Content-Security-Policy runs no inline script
 * and no on*= handler, so a button that needs a line of JavaScript says so with an attribute and this file acts.
 */
(function () {
  "use strict";

  // Delegated from the document, so buttons that arrive later in an htmx swap work too.
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("[data-print]") : null;
    if (target) {
      event.preventDefault();
      window.print();
    }
  });

  // What polls (the header's unread badge) asks nothing while the tab is hidden, and once when it is seen again.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.target instanceof Element ? event.target.closest("[data-visible-only]") : null;
    if (source && document.visibilityState !== "visible") {
      event.preventDefault();
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      document.dispatchEvent(new CustomEvent("lianfu-visible"));
    }
  });
})();
