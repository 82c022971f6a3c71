/* Live updates for the CampusLab overview page. Plain JS, no build step.
 *
 * The page is complete without this script. With it, the page listens to the
 * server-sent events of /api/v1/stream and rewrites the changed cells in place.
 * The server decides every text (and suppresses small counts); this script only
 * places it, with textContent, never innerHTML.
 */
(function () {
  "use strict";

  var body = document.body;
  var streamUrl = body.getAttribute("data-stream");
  var stateBadge = document.getElementById("live-state");
  var announcer = document.getElementById("live-status");
  if (!streamUrl || !stateBadge || !announcer || !("EventSource" in window)) {
    return;
  }

  var ANNOUNCE_EVERY_MS = 60000; // screen readers hear a summary at most once a minute
  var serverOffsetMs = 0; // server clock minus ours, from each event's generated_at
  var changedSince = 0;
  var lastAnnounced = 0;
  var announceTimer = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function none(text) {
    return el("span", "none", text || "\u2014");
  }

  function replaceChildren(node, children) {
    while (node.firstChild) node.removeChild(node.firstChild);
    children.forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
  }

  function timeNode(iso, text) {
    var node = el("time", null, text);
    if (iso) node.setAttribute("datetime", iso);
    return node;
  }

  // A value from a sensor whose latest reading is stale: greyed, with its age.
  function staleMark(row, field) {
    var since = row.stale_since && row.stale_since[field];
    if (!since) return [];
    var mark = el("span", "stale");
    mark.appendChild(timeNode(since, "stale \u00b7 " + ageText(since)));
    return [mark];
  }

  // One function per live cell, mirroring templates/overview.html.
  var CELLS = {
    people: function (row) {
      return row.people ? [row.people].concat(staleMark(row, "people")) : [none()];
    },
    co2: function (row) {
      if (!row.co2) return [none()];
      var parts = [row.co2];
      if (row.co2_category) {
        parts.push(el("span", "cat cat-" + row.co2_category, "Cat. " + row.co2_category));
      }
      return parts.concat(staleMark(row, "co2"));
    },
    temperature: function (row) {
      return row.temperature ? [row.temperature].concat(staleMark(row, "temperature")) : [none()];
    },
    utilisation: function (row) {
      return [row.utilisation ? row.utilisation : none(), el("span", "sub", row.utilisation_note)];
    },
    last_reading: function (row) {
      if (!row.last_reading) return [none("no readings yet")];
      var parts = [timeNode(row.last_reading_iso, row.last_reading)];
      if (row.stale) parts.push(el("span", "stale", "stale"));
      return parts;
    }
  };

  function flash(cell) {
    cell.classList.remove("fading");
    cell.classList.add("changed");
    window.setTimeout(function () {
      cell.classList.add("fading");
      cell.classList.remove("changed");
    }, 1500);
  }

  function updateRow(spaceId, row) {
    var tr = document.getElementById("space-" + spaceId);
    if (!tr) return false;
    var changed = false;
    Object.keys(CELLS).forEach(function (field) {
      var cell = tr.querySelector('[data-field="' + field + '"]');
      if (!cell) return;
      var scratch = document.createElement("td");
      replaceChildren(scratch, CELLS[field](row));
      cell.classList.toggle("stale-value", !!(row.stale_since && row.stale_since[field]));
      if (scratch.innerHTML !== cell.innerHTML) {
        replaceChildren(cell, Array.prototype.slice.call(scratch.childNodes));
        flash(cell);
        changed = true;
      }
    });
    return changed;
  }

  function ageText(iso) {
    var ageS = (Date.now() + serverOffsetMs - Date.parse(iso)) / 1000;
    if (!(ageS >= 60)) return "just now";
    if (ageS < 3600) return Math.floor(ageS / 60) + " min ago";
    if (ageS < 2 * 86400) return Math.floor(ageS / 3600) + " h ago";
    return Math.floor(ageS / 86400) + " days ago";
  }

  function availableItem(item, li) {
    li = li || el("li");
    li.setAttribute("data-space", item.space_id);
    li.setAttribute("data-status", item.status);
    var link = el("a", null, item.name);
    link.setAttribute("href", "#space-" + item.space_id);
    var of = el("span", "of", "of " + item.capacity + " seats");
    if (item.reading_iso) {
      of.appendChild(document.createTextNode(" \u00b7 "));
      of.appendChild(timeNode(item.reading_iso, ageText(item.reading_iso)));
    }
    var children = [link, el("span", "where", item.building), el("strong", "seats", item.seats)];
    if (item.seats_note) children.push(el("span", "note", item.seats_note));
    children.push(of);
    var focused = li.contains(document.activeElement);
    replaceChildren(li, children);
    if (focused) link.focus({ preventScroll: true });
    return li;
  }

  function updateAvailable(items) {
    var list = document.getElementById("available");
    if (!list) return;
    var existing = {};
    Array.prototype.forEach.call(list.children, function (li) {
      existing[li.getAttribute("data-space")] = li;
    });
    items.forEach(function (item, index) {
      var li = availableItem(item, existing[item.space_id]);
      delete existing[item.space_id];
      var at = list.children[index];
      if (at !== li) {
        // moveBefore keeps focus on a moved link where the browser supports it
        if (li.parentNode === list && typeof list.moveBefore === "function") {
          list.moveBefore(li, at || null);
        } else {
          list.insertBefore(li, at || null);
        }
      }
    });
    Object.keys(existing).forEach(function (id) {
      list.removeChild(existing[id]);
    });
  }

  function refreshAges() {
    var times = document.querySelectorAll("#available time[datetime]");
    Array.prototype.forEach.call(times, function (node) {
      node.textContent = ageText(node.getAttribute("datetime"));
    });
    var marks = document.querySelectorAll("td .stale time[datetime]");
    Array.prototype.forEach.call(marks, function (node) {
      node.textContent = "stale \u00b7 " + ageText(node.getAttribute("datetime"));
    });
  }

  function updateNewest(newest) {
    var holder = document.getElementById("newest");
    if (!holder || !newest) return;
    replaceChildren(holder, ["Newest reading: ", timeNode(newest.iso, newest.text)]);
    var notice = document.getElementById("no-readings");
    if (notice) notice.parentNode.removeChild(notice);
  }

  function setState(state, label) {
    stateBadge.setAttribute("data-state", state);
    stateBadge.textContent = label;
  }

  function announce(text) {
    announcer.textContent = text;
    lastAnnounced = Date.now();
  }

  function announceChanges() {
    if (changedSince === 0) return;
    var wait = ANNOUNCE_EVERY_MS - (Date.now() - lastAnnounced);
    if (wait > 0) {
      if (!announceTimer) {
        announceTimer = window.setTimeout(function () {
          announceTimer = null;
          announceChanges();
        }, wait);
      }
      return;
    }
    var clock = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    announce(
      (changedSince === 1 ? "1 space" : changedSince + " spaces") + " updated; last update " + clock + "."
    );
    changedSince = 0;
  }

  function onData(event) {
    var data;
    try {
      data = JSON.parse(event.data);
    } catch (error) {
      return; // a malformed event is skipped, the next one carries the state again
    }
    if (data.generated_at) {
      serverOffsetMs = Date.parse(data.generated_at) - Date.now();
    }
    var spaces = data.spaces || {};
    Object.keys(spaces).forEach(function (spaceId) {
      if (updateRow(spaceId, spaces[spaceId])) changedSince += 1;
    });
    if (data.available) updateAvailable(data.available);
    updateNewest(data.newest_reading);
    body.setAttribute("data-last-event", event.lastEventId || "");
    announceChanges();
  }

  var source = new EventSource(streamUrl);
  source.addEventListener("snapshot", onData);
  source.addEventListener("update", onData);
  source.addEventListener("status", function (event) {
    var data = JSON.parse(event.data);
    if (data.store === "unavailable") {
      setState("paused", "Paused");
      announce("Live updates paused: the data store does not answer. The page shows the last known state.");
    } else {
      setState("live", "Live");
      announce("Live updates resumed.");
    }
  });
  source.addEventListener("busy", function () {
    source.close();
    setState("static", "Not live");
    announce("The live service is busy; reload the page later for fresh readings.");
  });
  source.addEventListener("open", function () {
    setState("live", "Live");
    announce("Live: the page updates itself as readings arrive.");
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      setState("static", "Not live");
      announce("Live updates stopped; reload the page for fresh readings.");
    } else {
      setState("paused", "Reconnecting");
      announce("Live updates interrupted; reconnecting.");
    }
  });
  window.setInterval(refreshAges, 15000);
})();
