// Mon Compte, mediator's page: their own sign-in, their mandates, a delegated view.
// Tokens live in memory only; the delegated token is dropped when the session closes.
"use strict";

const API = "/api/v1";
const state = { access: null, refresh: null, password: null, delegated: null };

const $ = (id) => document.getElementById(id);

const SCOPE_LABELS = {
  consult: "consulter son compte",
  declare: "faire ses déclarations",
  documents: "envoyer ses documents",
};
const dayFormat = new Intl.DateTimeFormat("fr-FR", { dateStyle: "long" });
const timeFormat = new Intl.DateTimeFormat("fr-FR", { dateStyle: "long", timeStyle: "short" });

// The two live regions, the title and the field errors are page.js's.
function say(text, isError = false) {
  if (isError) Page.alert(text);
  else Page.say(text);
}

function clearMessage() {
  Page.clear();
}

function show(screenId) {
  for (const screen of document.querySelectorAll(".screen")) {
    screen.hidden = screen.id !== screenId;
  }
  Page.clearFieldErrors();
  Page.hidePasswords();
  const heading = document.querySelector(`#${screenId} h2`);
  Page.step(heading.textContent);
  heading.setAttribute("tabindex", "-1");
  heading.focus();
}

const UNEXPECTED = "Un problème est survenu de notre côté. Réessayez dans quelques minutes.";

class Problem extends Error {
  constructor(body, status, retryAfter = 0) {
    super(body.detail || UNEXPECTED);
    this.code = body.code;
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

// The lock after too many tries: how long, from Retry-After, in plain French.
function lockMessage(error) {
  if (!error.retryAfter) return error.message;
  const until = Page.at(Date.now() + error.retryAfter * 1000);
  return `Trop d'essais. Par sécurité, la connexion est bloquée. Réessayez dans ${Page.delay(error.retryAfter)} (vers ${until}).`;
}

async function api(method, path, { body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new Problem(
      {
        detail: "Le service ne répond pas. Vérifiez votre connexion à internet, puis réessayez.",
        code: "network",
      },
      0,
    );
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const retryAfter = Number(response.headers.get("Retry-After")) || data.retry_after || 0;
    throw new Problem(data, response.status, retryAfter);
  }
  return data;
}

// A mediator endpoint; the access token is refreshed once when it expired.
async function mediatorApi(method, path, body) {
  try {
    return await api(method, path, { body, token: state.access });
  } catch (error) {
    if (error.code !== "token_expired" || !state.refresh) throw error;
    const pair = await api("POST", "/auth/refresh", { token: state.refresh });
    state.access = pair.access_token;
    state.refresh = pair.refresh_token;
    return api(method, path, { body, token: state.access });
  }
}

function signedOut(message) {
  Object.assign(state, { access: null, refresh: null, password: null, delegated: null });
  $("login-form").reset();
  show("screen-login");
  if (message) say(message);
}

function showError(error) {
  if (error.status === 401 && ["token_invalid", "token_expired", "token_reused"].includes(error.code)) {
    signedOut();
  }
  say(error.code === "too_many_attempts" ? lockMessage(error) : error.message || UNEXPECTED, true);
}

// --- sign-in and first password -----------------------------------------------------------

async function onLogin(event) {
  event.preventDefault();
  clearMessage();
  const body = {
    email: $("email").value.trim(),
    password: $("password").value,
    totp: $("totp").value.trim(),
  };
  if (!body.email) {
    Page.fieldError($("email"), "Saisissez votre adresse électronique.");
    return;
  }
  if (!body.password) {
    Page.fieldError($("password"), "Saisissez votre mot de passe.");
    return;
  }
  body.totp = body.totp.replace(/\s/g, "");
  if (!/^[0-9]{6}$/.test(body.totp)) {
    Page.fieldError($("totp"), "Le code a 6 chiffres. Recopiez-le depuis votre application.");
    return;
  }
  try {
    const signedIn = await api("POST", "/mediator/login", { body });
    state.access = signedIn.access_token;
    state.refresh = signedIn.refresh_token;
    $("password").value = "";
    $("totp").value = "";
    if (signedIn.password_change_required) {
      state.password = body.password; // only until the new one is set
      show("screen-password");
      return;
    }
    await openMandates("Vous êtes connecté.");
  } catch (error) {
    $("totp").value = "";
    if (error.code === "too_many_attempts") say(lockMessage(error), true);
    else if (error.code === "invalid_credentials" || error.status === 401) {
      Page.fieldError($("totp"), error.message);
    } else showError(error);
  }
}

async function onChangePassword(event) {
  event.preventDefault();
  clearMessage();
  try {
    await mediatorApi("PUT", "/mediator/password", {
      current_password: state.password,
      new_password: $("new-password").value,
    });
    state.password = null;
    $("new-password").value = "";
    await openMandates("Votre mot de passe est enregistré.");
  } catch (error) {
    if (error.code === "weak_password" || error.code === "validation_error") {
      Page.fieldError($("new-password"), error.message);
    } else showError(error);
  }
}

// --- the mandates -------------------------------------------------------------------------

function scopesSentence(scopes) {
  const labels = scopes.map((scope) => SCOPE_LABELS[scope] || scope);
  return labels.length > 1
    ? `${labels.slice(0, -1).join(", ")} et ${labels[labels.length - 1]}`
    : labels.join("");
}

async function openMandates(greeting) {
  show("screen-mandates");
  if (greeting) say(greeting);
  await refreshMandates();
}

async function refreshMandates() {
  const [me, mandates] = await Promise.all([
    mediatorApi("GET", "/mediator"),
    mediatorApi("GET", "/mediator/mandates"),
  ]);
  const code = `${me.mediator_code.slice(0, 4)} ${me.mediator_code.slice(4)}`;
  $("mediator-summary").textContent =
    `${me.name} — ${me.organisation}. Votre code d'aidant, à donner aux personnes que vous accompagnez : ${code}`;
  const list = $("mandates");
  list.replaceChildren();
  if (mandates.items.length === 0) {
    const empty = document.createElement("li");
    empty.textContent = "Aucun mandat en cours.";
    list.append(empty);
  }
  for (const mandate of mandates.items) {
    const item = document.createElement("li");
    const who = document.createElement("p");
    who.className = "mandate-who";
    who.textContent = `Personne ${mandate.holder_nir_masked}`;
    const what = document.createElement("p");
    what.textContent = `Vous pouvez ${scopesSentence(mandate.scopes)}, jusqu'au ${dayFormat.format(new Date(mandate.expires_at))}.`;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "secondary";
    open.dataset.id = mandate.id;
    open.dataset.nir = mandate.holder_nir_masked;
    open.dataset.until = mandate.expires_at;
    open.textContent = "Ouvrir une session";
    open.setAttribute("aria-label", `Ouvrir une session pour la personne ${mandate.holder_nir_masked}`);
    item.append(who, what, open);
    list.append(item);
  }
}

async function onMandatesClick(event) {
  const button = event.target.closest("button[data-id]");
  if (!button) return;
  clearMessage();
  try {
    const token = await mediatorApi("POST", `/mediator/mandates/${button.dataset.id}/session`);
    state.delegated = { token: token.access_token, nir: button.dataset.nir };
    $("delegated-banner").textContent =
      `Vous agissez pour la personne ${button.dataset.nir}, avec son accord (mandat jusqu'au ${dayFormat.format(new Date(button.dataset.until))}). ` +
      "Cette session est notée dans son activité. Elle ne permet pas de modifier son mot de passe, ses coordonnées ou ses appareils.";
    show("screen-delegated");
    await refreshDelegated();
  } catch (error) {
    showError(error);
  }
}

// --- acting for the holder ----------------------------------------------------------------

async function refreshDelegated() {
  const token = state.delegated.token;
  try {
    const [account, activity] = await Promise.all([
      api("GET", "/account", { token }),
      api("GET", "/account/activity", { token }),
    ]);
    $("holder-summary").textContent =
      `Numéro de sécurité sociale : ${account.nir_masked} — courriel : ${account.email}`;
    const list = $("holder-activity");
    list.replaceChildren();
    for (const event of activity.items.slice(0, 10)) {
      const item = document.createElement("li");
      item.textContent = `${timeFormat.format(new Date(event.at))} : ${event.detail}`;
      list.append(item);
    }
  } catch (error) {
    // The mandate was revoked, or ended: back to the mandates, saying why.
    state.delegated = null;
    try {
      await openMandates();
      say(error.message, true);
    } catch (mediatorError) {
      showError(mediatorError);
    }
  }
}

async function onEndDelegated() {
  const token = state.delegated && state.delegated.token;
  state.delegated = null;
  try {
    await api("POST", "/auth/logout", { token });
  } catch {
    // Ended (or dead) either way: the token is forgotten.
  }
  await openMandates("La session d'accompagnement est fermée.");
}

async function onSignOut() {
  try {
    await api("POST", "/mediator/logout", { token: state.access });
  } catch {
    // Signed out locally in any case.
  }
  signedOut("Vous êtes déconnecté.");
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", onLogin);
  $("password-form").addEventListener("submit", onChangePassword);
  $("mandates").addEventListener("click", onMandatesClick);
  $("reload-mandates").addEventListener("click", () => refreshMandates().catch(showError));
  $("reload-delegated").addEventListener("click", refreshDelegated);
  $("end-delegated").addEventListener("click", onEndDelegated);
  $("sign-out").addEventListener("click", onSignOut);
  Page.passwordToggles();
  Page.step("Connexion aidant");
});
