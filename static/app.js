// AutoTrader Security: the few behaviours htmx lacks. No inline script anywhere (CSP).
(function () {
  "use strict";

  let opener = null; // the button that opened the current dialog, to return focus to

  function toast(message) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(function () { box.hidden = true; }, 6000);
  }

  function openDialogs(root) {
    const scope = root && root.querySelectorAll ? root : document;
    const found = scope.matches && scope.matches("dialog[data-autoopen]") ? [scope] : [];
    scope.querySelectorAll("dialog[data-autoopen]").forEach(function (d) { found.push(d); });
    found.forEach(function (dialog) {
      if (dialog.open) return;
      dialog.addEventListener("close", function () {
        dialog.remove();
        if (!document.querySelector("dialog[open]")) restoreFocus();
      });
      dialog.showModal();
      const first = dialog.querySelector("[aria-invalid='true']") ||
        dialog.querySelector("[autofocus]") || dialog.querySelector("input, button");
      if (first) first.focus();
    });
  }

  function restoreFocus() {
    if (opener && opener.isConnected && !opener.disabled) {
      opener.focus();
      return;
    }
    const fallback = document.querySelector("#api-key button, main .card button");
    if (fallback) fallback.focus();
  }

  function closeDialogs() {
    document.querySelectorAll("dialog[open]").forEach(function (d) { d.close(); });
  }

  function textOf(target) {
    const items = target.querySelectorAll("li");
    if (items.length) {
      return Array.prototype.map.call(items, function (li) { return li.textContent.trim(); }).join("\n");
    }
    return target.textContent.trim();
  }

  async function copy(button) {
    const target = document.querySelector(button.getAttribute("data-copy"));
    if (!target) return;
    const label = button.textContent;
    try {
      await navigator.clipboard.writeText(textOf(target));
      button.textContent = "Copied";
    } catch (err) {
      const range = document.createRange();
      range.selectNodeContents(target);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      button.textContent = "Press Ctrl+C";
    }
    setTimeout(function () { button.textContent = label; }, 2000);
  }

  function download(button) {
    const target = document.querySelector(button.getAttribute("data-download"));
    if (!target) return;
    const text = "AutoTrader recovery codes. Each works once. Keep this file safe.\n\n" + textOf(target) + "\n";
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = button.getAttribute("data-filename") || "recovery-codes.txt";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  // Count down a revealed secret; when time is up, blank it even if the server's
  // re-mask request fails, so the key never stays on screen.
  function startCountdowns(root) {
    const scope = root && root.querySelectorAll ? root : document;
    const boxes = [];
    if (scope.matches && scope.matches("[data-reveal-seconds]")) boxes.push(scope);
    scope.querySelectorAll("[data-reveal-seconds]").forEach(function (b) { boxes.push(b); });
    boxes.forEach(function (box) {
      let left = parseInt(box.getAttribute("data-reveal-seconds"), 10) || 30;
      const counter = box.querySelector("[data-countdown]");
      const timer = setInterval(function () {
        left -= 1;
        if (!box.isConnected) { clearInterval(timer); return; }
        if (counter) counter.textContent = String(Math.max(left, 0));
        if (left <= -2) {
          clearInterval(timer);
          box.querySelectorAll("[data-secret]").forEach(function (s) { s.textContent = "••••••••••••"; });
        }
      }, 1000);
    });
  }

  // Trading-account forms: mark the credentials the chosen broker requires and offer
  // only its platforms. The server checks the same rules; this is a convenience.
  function applyBrokerRules(form) {
    let rules;
    try { rules = JSON.parse(form.getAttribute("data-broker-rules") || "{}"); } catch (e) { return; }
    const brokerSelect = form.querySelector("[data-broker-select]");
    const platformSelect = form.querySelector("[data-platform-select]");
    if (!brokerSelect) return;
    const rule = rules[brokerSelect.value];
    form.querySelectorAll("[data-credential]").forEach(function (box) {
      const needed = !!rule && rule.required.indexOf(box.getAttribute("data-credential")) >= 0;
      const mark = box.querySelector("[data-required-mark]");
      if (mark) mark.hidden = !needed;
    });
    if (platformSelect) {
      platformSelect.querySelectorAll("optgroup").forEach(function (group) {
        const mine = group.getAttribute("data-broker") === brokerSelect.value;
        group.hidden = !mine;
        group.disabled = !mine;
      });
      const chosen = platformSelect.selectedOptions[0];
      if (chosen && chosen.parentElement.disabled) platformSelect.value = "";
    }
  }

  // One time format: the browser's local time, "2 min ago" while recent, and the exact
  // UTC time (written by the server) kept in the tooltip.
  function span(seconds) {
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return minutes + " min";
    const hours = Math.round(minutes / 60);
    if (hours < 24) return hours + (hours === 1 ? " hour" : " hours");
    const days = Math.round(hours / 24);
    return days + (days === 1 ? " day" : " days");
  }

  // Past times read "2 min ago"; future ones (a key's end date) "in 4 days".
  function ago(seconds) {
    if (Math.abs(seconds) < 45) return "just now";
    return seconds > 0 ? span(seconds) + " ago" : "in " + span(-seconds);
  }

  function localTimes(root) {
    const scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll("time[data-local]").forEach(function (t) {
      const when = new Date(t.getAttribute("datetime"));
      if (isNaN(when)) return;
      if (!t.hasAttribute("data-utc")) t.setAttribute("data-utc", t.getAttribute("title") || t.textContent);
      const local = when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
      const seconds = (Date.now() - when.getTime()) / 1000;
      t.textContent = Math.abs(seconds) < 7 * 86400 ? local + " (" + ago(seconds) + ")" : local;
      t.title = t.getAttribute("data-utc");
    });
  }

  // Move focus to what a swap brought in ([data-focus]), but only when the swap took
  // the focus away: a timed re-mask never steals it from a form, and focus the trader
  // already moved into the new content stays where they put it.
  function focusAfterSwap(target) {
    const active = document.activeElement;
    const lost = !active || active === document.body || !active.isConnected;
    if (!lost) return;
    if (document.querySelector("dialog[open]")) return;
    const scope = target.isConnected ? target : document;
    const next = scope.matches && scope.matches("[data-focus]") ? scope : scope.querySelector("[data-focus]");
    if (!next) return;
    next.focus({ preventScroll: true });
    next.scrollIntoView({ block: "nearest", behavior: "auto" });
  }

  // The status strip and danger zone follow every change made on the Security page.
  function refreshStatus(target) {
    const strip = document.getElementById("status");
    if (!strip || !window.htmx || target.closest("#status, #danger")) return;
    window.htmx.ajax("GET", strip.getAttribute("data-status-url"), { target: "#status", swap: "outerHTML" });
  }

  function initBrokerForms(root) {
    const scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll("form[data-broker-rules]").forEach(applyBrokerRules);
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-broker-select]")) applyBrokerRules(event.target.form);
  });

  // Keep Tab inside an open dialog (showModal makes the page inert, but Tab could still
  // leave for the browser's own UI).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") return;
    const dialog = document.querySelector("dialog[open]");
    if (!dialog) return;
    const focusable = Array.prototype.filter.call(
      dialog.querySelectorAll("input:not([type=hidden]):not([hidden]), button, select, textarea, a[href]"),
      function (el) { return !el.disabled && el.offsetParent !== null; }
    );
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    const inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  });

  // Recovery codes: ask before leaving until the trader says they are saved.
  window.addEventListener("beforeunload", function (event) {
    if (document.querySelector("[data-unsaved-codes]")) event.preventDefault();
  });

  function codesSaved(button) {
    const box = button.closest("[data-unsaved-codes]");
    if (box) box.remove();
    const status = document.getElementById("tf-status");
    if (status) status.focus();
  }

  function toggleMenu(button) {
    const bar = button.closest(".topbar");
    const open = !bar.classList.contains("menu-open");
    bar.classList.toggle("menu-open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      const first = bar.querySelector(".menu a");
      if (first) first.focus();
    }
  }

  document.addEventListener("click", function (event) {
    const el = event.target.closest("[data-copy], [data-download], [data-close-dialog], [data-codes-saved], [data-menu-toggle]");
    if (!el) return;
    if (el.hasAttribute("data-copy")) copy(el);
    else if (el.hasAttribute("data-download")) download(el);
    else if (el.hasAttribute("data-codes-saved")) codesSaved(el);
    else if (el.hasAttribute("data-menu-toggle")) toggleMenu(el);
    else el.closest("dialog").close();
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const bar = document.querySelector(".topbar.menu-open");
    const button = bar && bar.querySelector("[data-menu-toggle]");
    if (button) { toggleMenu(button); button.focus(); }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    const elt = event.detail.elt;
    if (elt && elt.tagName === "BUTTON" && !elt.closest("dialog")) opener = elt;
    // A notice about an earlier action ("Account added.") goes once the trader acts again.
    document.querySelectorAll("[data-transient]").forEach(function (n) { n.remove(); });
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    const target = event.detail.elt;
    if (!target || target.id === "modal-root" || target.closest("dialog")) return;
    focusAfterSwap(target);
    if (event.detail.requestConfig && event.detail.requestConfig.verb !== "get") refreshStatus(target);
  });

  document.addEventListener("htmx:load", function (event) {
    openDialogs(event.detail.elt);
    startCountdowns(event.detail.elt);
    initBrokerForms(event.detail.elt);
    localTimes(event.detail.elt);
  });

  document.body.addEventListener("stepup-done", closeDialogs);

  // "Account added." belongs to the redirect that showed it: a reload must not repeat it.
  if (document.querySelector("[data-drop-query]") && window.location.search) {
    window.history.replaceState(null, "", window.location.pathname);
  }

  setInterval(function () { localTimes(document); }, 30000); // keep "2 min ago" true

  document.addEventListener("htmx:responseError", function (event) {
    const xhr = event.detail.xhr;
    const text = xhr && xhr.responseText && xhr.responseText.length < 300 ? xhr.responseText : "";
    toast(text || "Something went wrong. Reload the page and try again.");
  });

  document.addEventListener("htmx:sendError", function () {
    toast("Could not reach the server. Check your connection and try again.");
  });
})();
