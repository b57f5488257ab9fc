// AutoTrader Security: passkeys (WebAuthn) without a build step or a CDN.
// The server sends options as JSON with base64url bytes; this turns them into the
// ArrayBuffers navigator.credentials wants, and the answer back into JSON that travels
// in a hidden form field. Without WebAuthn in the browser nothing here shows.
(function () {
  "use strict";

  const supported = !!(window.PublicKeyCredential && navigator.credentials);

  function b64u(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 1) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function unb64u(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function withBytes(list) {
    return (list || []).map(function (d) { return Object.assign({}, d, { id: unb64u(d.id) }); });
  }

  function answerJSON(credential) {
    const r = credential.response;
    const out = {
      id: credential.id,
      rawId: b64u(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: b64u(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      out.response.attestationObject = b64u(r.attestationObject);
    } else {
      out.response.authenticatorData = b64u(r.authenticatorData);
      out.response.signature = b64u(r.signature);
      if (r.userHandle) out.response.userHandle = b64u(r.userHandle);
    }
    return JSON.stringify(out);
  }

  function csrfToken(form) {
    const field = form.querySelector("input[name=csrf_token]");
    if (field) return field.value;
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  // Fetch options from the server (a challenge bound to this session); errors carry its message.
  async function options(url, form) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(form) },
    });
    const body = await response.json().catch(function () { return {}; });
    if (!response.ok) throw new Error(body.message || "The server could not start the passkey check. Reload the page.");
    // A signed-out session is redirected to the sign-in page, which is not JSON.
    if (!body.publicKey) throw new Error("Your session has ended. Reload the page and sign in again.");
    return body.publicKey;
  }

  function say(form, message) {
    const status = form.querySelector("[data-passkey-status]");
    if (status) status.textContent = message;
    else if (message) window.alert(message);
  }

  function refusal(err) {
    if (err && err.name === "NotAllowedError") return "The passkey was not used (cancelled or timed out). Try again.";
    if (err && err.name === "InvalidStateError") return "This passkey is already added to your account.";
    return (err && err.message) || "The passkey could not be used. Try again.";
  }

  // "Use a passkey": sign this session's challenge, then submit the form with the answer.
  async function assert(button) {
    const form = button.closest("form");
    // Everything but the code must be filled first (password, a new password…): the
    // passkey's answer is sent with them, in the same request.
    // The code is the alternative to the passkey, except when it is a new app's code.
    const keep = button.hasAttribute("data-passkey-keep-code");
    const code = keep ? null : form.querySelector("input[name=code]");
    if (code) code.required = false;
    if (!form.reportValidity()) {
      if (code) code.required = true;
      return;
    }
    button.disabled = true;
    say(form, "Waiting for your passkey…");
    try {
      const publicKey = await options(button.getAttribute("data-passkey-assert"), form);
      publicKey.challenge = unb64u(publicKey.challenge);
      publicKey.allowCredentials = withBytes(publicKey.allowCredentials);
      const credential = await navigator.credentials.get({ publicKey: publicKey });
      form.querySelector("[data-passkey-answer]").value = answerJSON(credential);
      if (code) code.value = "";
      say(form, "Passkey used. Checking…");
      form.requestSubmit();
    } catch (err) {
      if (code) code.required = true;
      say(form, refusal(err));
    } finally {
      button.disabled = false;
    }
  }

  // "Create passkey": make the credential first, then let the form (htmx) submit it.
  async function create(form) {
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      const publicKey = await options(form.getAttribute("data-passkey-create"), form);
      publicKey.challenge = unb64u(publicKey.challenge);
      publicKey.user.id = unb64u(publicKey.user.id);
      publicKey.excludeCredentials = withBytes(publicKey.excludeCredentials);
      const credential = await navigator.credentials.create({ publicKey: publicKey });
      form.querySelector("[data-passkey-created]").value = answerJSON(credential);
      if (button) button.disabled = false;
      form.requestSubmit();
    } catch (err) {
      if (button) button.disabled = false;
      showError(form, refusal(err));
    }
  }

  function showError(form, message) {
    let box = form.querySelector("[data-passkey-error]");
    if (!box) {
      box = document.createElement("p");
      box.className = "error";
      box.setAttribute("role", "alert");
      box.setAttribute("data-passkey-error", "");
      const intro = form.querySelector("h2 + p") || form.firstElementChild;
      intro.insertAdjacentElement("afterend", box);
    }
    box.textContent = message;
  }

  function reveal(root) {
    const scope = root && root.querySelectorAll ? root : document;
    const all = function (selector) {
      const found = Array.prototype.slice.call(scope.querySelectorAll(selector));
      if (scope.matches && scope.matches(selector)) found.push(scope);
      return found;
    };
    all("[data-passkey-only]").forEach(function (el) { el.hidden = !supported; });
    all("[data-passkey-missing]").forEach(function (el) { el.hidden = supported; });
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-passkey-assert]");
    if (button && supported) assert(button);
  });

  // Capture phase: runs before htmx's own submit handler on the form.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.matches || !form.matches("form[data-passkey-create]")) return;
    const created = form.querySelector("[data-passkey-created]");
    if (created && created.value) return; // the credential is made: let htmx send it
    event.preventDefault();
    event.stopImmediatePropagation();
    if (supported) create(form);
    else showError(form, "This browser cannot create passkeys.");
  }, true);

  document.addEventListener("htmx:load", function (event) { reveal(event.detail.elt); });
  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
})();
