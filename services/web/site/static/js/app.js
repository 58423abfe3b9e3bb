// Shows how long the page took, from the browser's own Navigation Timing entry.
window.addEventListener("load", () => {
  const nav = performance.getEntriesByType("navigation")[0];
  const out = document.getElementById("timing");
  if (!nav || !out) return;
  const ms = (a, b) => Math.round(b - a) + " ms";
  out.textContent = "DNS " + ms(nav.domainLookupStart, nav.domainLookupEnd) +
    ", connect + TLS " + ms(nav.connectStart, nav.connectEnd) +
    ", first byte " + ms(nav.requestStart, nav.responseStart) +
    ", whole page " + ms(nav.startTime, nav.loadEventStart) + ".";
});
