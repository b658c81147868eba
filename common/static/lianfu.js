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
})();
