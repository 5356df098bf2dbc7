// webauthn.js: security keys and passkeys. A <form data-webauthn="register|login|passkey"
// data-begin="…" data-finish="…"> runs one WebAuthn ceremony when submitted: it posts the
// form to data-begin and gets the options (the server keeps the challenge in the session),
// asks the browser's authenticator (navigator.credentials.create for register, get
// otherwise), posts the answer as JSON to data-finish, and follows the {"redirect"} of the
// answer. A failure is written into the form's [data-webauthn-error] element.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // Binary fields travel as base64url text in JSON.
  function fromBase64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function credentialIDs(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: fromBase64url(c.id) });
    });
  }

  // publicKeyOptions turns the server's options into what navigator.credentials takes.
  function publicKeyOptions(options) {
    var pk = Object.assign({}, options.publicKey);
    pk.challenge = fromBase64url(pk.challenge);
    if (pk.user) pk.user = Object.assign({}, pk.user, { id: fromBase64url(pk.user.id) });
    if (pk.excludeCredentials) pk.excludeCredentials = credentialIDs(pk.excludeCredentials);
    if (pk.allowCredentials) pk.allowCredentials = credentialIDs(pk.allowCredentials);
    return pk;
  }

  // answerJSON is the authenticator's answer as the server reads it.
  function answerJSON(credential) {
    var r = credential.response;
    var response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {}
    });
  }

  function post(url, body, type) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": type, "Accept": "application/json", "X-CSRF-Token": csrfToken() },
      body: body
    }).then(function (answer) {
      return answer.json().catch(function () { return {}; }).then(function (doc) {
        if (doc.redirect && (answer.ok || answer.status === 401 || answer.status === 403)) {
          window.location.assign(doc.redirect);
          return new Promise(function () {}); // the page goes
        }
        if (!answer.ok) {
          throw new Error(doc.error || "The request failed (" + answer.status + "). Reload the page and try again.");
        }
        return doc;
      });
    });
  }

  // browserMessage says what a failure of navigator.credentials means for the user.
  function browserMessage(err, kind) {
    switch (err && err.name) {
      case "NotAllowedError":
        return "The security key or passkey did not answer: it was cancelled, or took too long. Try again.";
      case "InvalidStateError":
        return kind === "register" ? "This security key or passkey is added already." : "This security key cannot be used here.";
      case "SecurityError":
        return "This browser refuses security keys on this site's address: it needs HTTPS (or localhost) and a domain name.";
      case "NotSupportedError":
        return "This security key or passkey cannot be used here. Try another.";
    }
    return err && err.message ? err.message : "Something went wrong. Try again.";
  }

  function run(form) {
    var kind = form.getAttribute("data-webauthn");
    var error = form.querySelector("[data-webauthn-error]");
    var button = form.querySelector('button[type="submit"]');
    var show = function (message) {
      if (error) {
        error.textContent = message;
        error.hidden = false;
      }
      if (button) button.disabled = false;
    };
    if (!window.PublicKeyCredential || !navigator.credentials) {
      show("This browser cannot use security keys or passkeys.");
      return;
    }
    if (error) error.hidden = true;
    if (button) button.disabled = true;
    var fields = new URLSearchParams(new FormData(form)).toString();
    post(form.getAttribute("data-begin"), fields, "application/x-www-form-urlencoded").then(function (options) {
      var publicKey = publicKeyOptions(options);
      var asked = kind === "register" ? navigator.credentials.create({ publicKey: publicKey })
        : navigator.credentials.get({ publicKey: publicKey });
      return asked.then(function (credential) {
        if (!credential) throw new Error("No security key or passkey answered. Try again.");
        return post(form.getAttribute("data-finish"), answerJSON(credential), "application/json");
      }, function (err) {
        throw new Error(browserMessage(err, kind));
      });
    }).then(function () {
      if (button) button.disabled = false;
    }, function (err) {
      show(err.message);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-webauthn]");
    if (!form) return;
    event.preventDefault();
    run(form);
  });
})();
