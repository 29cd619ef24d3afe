// Live server states (Server-Sent Events from the api's Watch stream) and the image
// upload's progress bar. Everything else is plain forms and htmx.
(function () {
  "use strict";

  function setCell(row, cls, text, state) {
    const cell = row.querySelector("." + cls);
    if (!cell) return;
    if (state) {
      cell.innerHTML = "";
      const span = document.createElement("span");
      span.className = "state s-" + text.toLowerCase();
      span.textContent = text;
      cell.appendChild(span);
    } else {
      cell.textContent = text;
    }
  }

  const table = document.getElementById("servers");
  if (table && window.EventSource) {
    const es = new EventSource(table.dataset.watch);
    es.addEventListener("server", (ev) => {
      const s = JSON.parse(ev.data);
      let row = document.getElementById("srv-" + s.id);
      if (!row) {
        row = document.createElement("tr");
        row.id = "srv-" + s.id;
        row.dataset.id = s.id;
        row.innerHTML =
          '<td><a></a></td><td class="c-state"></td><td class="c-task"></td>' +
          '<td class="c-power"></td><td class="c-type"></td><td class="c-host"></td><td><a>open</a></td>';
        row.querySelectorAll("a").forEach((a) => (a.href = "/servers/" + s.id));
        row.querySelector("a").textContent = s.name;
        table.querySelector("tbody").appendChild(row);
      }
      setCell(row, "c-state", s.state, true);
      setCell(row, "c-task", s.task);
      setCell(row, "c-power", s.power);
      setCell(row, "c-type", s.type);
      setCell(row, "c-host", s.host);
    });
  }

  const summary = document.getElementById("summary");
  if (summary && window.EventSource) {
    const es = new EventSource(summary.dataset.watch);
    es.addEventListener("server", () => {
      htmx.ajax("GET", summary.dataset.summary, { target: "#summary", swap: "innerHTML" });
    });
  }

  const upload = document.getElementById("upload");
  if (upload) {
    upload.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const bar = document.getElementById("upload-progress");
      const status = document.getElementById("upload-status");
      const file = upload.querySelector('input[type="file"]').files[0];
      const data = new FormData();
      for (const [k, v] of new FormData(upload).entries()) {
        if (k !== "file") data.append(k, v);
      }
      data.append("size", file ? String(file.size) : "0");
      if (file) data.append("file", file);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/images");
      xhr.setRequestHeader("X-CSRF-Token", document.body.dataset.csrf);
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) {
          bar.value = Math.round((100 * e.loaded) / e.total);
          status.textContent = bar.value + "%";
          bar.dataset.seen = (bar.dataset.seen || "") + bar.value + ",";
        }
      });
      xhr.addEventListener("load", () => {
        if (xhr.status === 200) {
          const r = JSON.parse(xhr.responseText);
          bar.value = 100;
          status.innerHTML = "";
          const a = document.createElement("a");
          a.href = "/images/" + r.id;
          a.id = "uploaded";
          a.textContent = "uploaded: " + r.status;
          status.appendChild(a);
        } else {
          status.textContent = "failed: " + xhr.status + " " + xhr.responseText.slice(0, 200);
        }
      });
      xhr.send(data);
    });
  }
})();
