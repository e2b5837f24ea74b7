// Shows the live user count from the /counter websocket; reconnects with capped, jittered
// exponential backoff and says so while it is disconnected.
(() => {
  const countEl = document.getElementById("count");
  const statusEl = document.getElementById("status");
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/counter`;
  let attempt = 0;

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
    // The last count stays visible but dimmed: it is no longer live.
    countEl.classList.toggle("stale", state !== "connected");
  }

  function connect() {
    const socket = new WebSocket(url);
    socket.onopen = () => {
      attempt = 0;
      setStatus("connected", "live");
    };
    socket.onmessage = (event) => {
      countEl.textContent = event.data;
    };
    socket.onclose = () => {
      const delay = Math.min(30000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
      attempt += 1;
      setStatus("disconnected", `disconnected — retrying in ${Math.ceil(delay / 1000)} s`);
      setTimeout(connect, delay);
    };
  }

  connect();
})();
