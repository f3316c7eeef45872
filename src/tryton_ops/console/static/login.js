"use strict";
// The login form posts JSON (never a form: the console refuses those) and reloads on success.
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const response = await fetch("/ops/api/login", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({
      login: document.getElementById("login").value,
      password: document.getElementById("password").value,
    }),
  });
  if (response.ok) {
    window.location.reload();
    return;
  }
  const data = await response.json().catch(() => ({error: response.statusText}));
  error.textContent = data.error || `refused (${response.status})`;
});
