// Entry point: picks the page from the path and keeps one live connection
// (server-sent events from /api/v1/events) whose state is shown in the header.

import { backtest, overview, topic } from "./views.js";

const liveEl = document.getElementById("live");
let source = null;

// Subscribe to `window` events; EventSource reconnects by itself after errors.
function live(url, onWindow) {
  if (source) source.close();
  source = new EventSource(url);
  source.onopen = () => { liveEl.textContent = "● live"; };
  source.onerror = () => { liveEl.textContent = "reconnecting…"; };
  source.addEventListener("window", (e) => {
    try { onWindow(JSON.parse(e.data)); } catch (err) { console.error(err); }
  });
}

async function main() {
  const main = document.getElementById("main");
  const path = location.pathname;
  try {
    if (path.startsWith("/topics/")) {
      const name = decodeURIComponent(path.slice("/topics/".length));
      document.title = `${name} — viral`;
      await topic(main, name, live);
    } else if (path === "/backtest") {
      document.title = "Backtest — viral";
      liveEl.textContent = "";
      await backtest(main);
    } else {
      let timer = null;
      await overview(main);
      live("/api/v1/events", () => {
        clearTimeout(timer);
        timer = setTimeout(() => overview(main).catch(show), 300);
      });
    }
  } catch (err) {
    show(err);
  }
  function show(err) {
    const p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    p.textContent = `Could not load: ${err.message}`;
    main.replaceChildren(p);
  }
}

main();
