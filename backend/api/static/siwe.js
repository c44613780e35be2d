// Sign-In with Ethereum on the member's sign-in page (no inline script: the pages' policy).
// The server writes the EIP-4361 message (POST /me/siwe/message, with the form's CSRF value), the
// wallet signs it (personal_sign), and the form posts the message and signature to /me/siwe.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("siwe-form");
  var button = document.getElementById("siwe-button");
  var status = document.getElementById("siwe-status");
  if (!form || !button || !window.ethereum) {
    return;
  }
  button.hidden = false;
  status.textContent = "";

  function hex(text) {
    return "0x" + Array.from(new TextEncoder().encode(text), function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  button.addEventListener("click", async function () {
    button.disabled = true;
    status.textContent = "Asking your wallet…";
    try {
      var accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
      var address = accounts[0];
      var body = new URLSearchParams({ csrf_token: form.elements.csrf_token.value, address: address });
      var answer = await fetch("/me/siwe/message", { method: "POST", body: body, credentials: "same-origin" });
      if (!answer.ok) {
        var refused = await answer.json();
        throw new Error(refused.error ? refused.error.message : "refused");
      }
      var message = (await answer.json()).message;
      var signature = await window.ethereum.request({ method: "personal_sign", params: [hex(message), address] });
      form.elements.message.value = message;
      form.elements.signature.value = signature;
      status.textContent = "Signing in…";
      form.submit();
    } catch (error) {
      status.textContent = "Sign-in with your wallet did not work: " + (error && error.message ? error.message : error);
      button.disabled = false;
    }
  });
});
