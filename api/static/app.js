// Mon Compte web page: the same JSON API as the Caf app. Tokens live in memory only.
"use strict";

const API = "/api/v1";
const state = {
  mfaToken: null,
  access: null,
  refresh: null,
  methods: [],
  hints: {},
  countdown: null,
  editing: null, // the contact kind being added or changed
  // The passkey autofill request waiting on the NIR field, and its renewal timer.
  autofill: null,
  autofillTimer: null,
};

const $ = (id) => document.getElementById(id);

const MESSAGES = {
  network: "Le service ne répond pas. Vérifiez votre connexion internet puis réessayez.",
  webauthnCancelled:
    "La vérification biométrique a été annulée ou refusée. Réessayez, ou recevez un code par courriel.",
  webauthnUnsupported: "Ce navigateur ne permet pas la connexion biométrique.",
  franceconnectFailed:
    "La connexion avec FranceConnect n'a pas abouti. Ce n'est pas grave : réessayez, ou connectez-vous avec votre numéro de sécurité sociale et votre mot de passe.",
  franceconnectLinkFirst:
    "Votre identité FranceConnect n'est pas encore associée à votre compte. Connectez-vous une fois avec votre numéro de sécurité sociale et votre mot de passe : vous pourrez ensuite confirmer l'association.",
  franceconnectConfirm:
    "Vous êtes connecté. Confirmez l'association de votre identité FranceConnect à votre compte.",
  passkeyCancelled:
    "La connexion avec la biométrie a été annulée, ou cet appareil n'est pas associé à votre compte. Réessayez, ou connectez-vous avec votre numéro de sécurité sociale et votre mot de passe.",
  passkeyOff:
    "La connexion avec la biométrie seule n'est pas disponible pour le moment. Connectez-vous avec votre numéro de sécurité sociale et votre mot de passe.",
};

// The code channels: how the choice reads, where the code is read, what "sent" says.
const CHANNELS = {
  email: {
    method: "email_otp",
    hint: "email_hint",
    choice: (hint) => `Par courriel (${hint})`,
    label: "Code à 6 chiffres reçu par courriel",
    sent: (hint) => `Un code a été envoyé à ${hint}.`,
  },
  sms: {
    method: "sms_otp",
    hint: "phone_hint",
    choice: (hint) => `Par SMS (${hint})`,
    label: "Code à 6 chiffres reçu par SMS",
    sent: (hint) => `Un code a été envoyé par SMS au ${hint}.`,
  },
  trusted_email: {
    method: "trusted_email_otp",
    hint: "trusted_email_hint",
    choice: (hint) => `À ma personne de confiance (${hint})`,
    label: "Code à 6 chiffres transmis par votre personne de confiance",
    sent: (hint) =>
      `Un code a été envoyé à votre personne de confiance (${hint}). Demandez-lui de vous le transmettre.`,
  },
};

// « Mes coordonnées »: each kind of contact as the page names it.
const CONTACTS = {
  email: {
    title: "Adresse électronique",
    label: "Nouvelle adresse électronique",
    hint: "Par exemple : nom@exemple.fr",
    input: { type: "email", autocomplete: "email", inputmode: "email" },
    codeLabel: "Code à 6 chiffres reçu à la nouvelle adresse",
  },
  phone: {
    title: "Numéro de mobile",
    label: "Numéro de mobile",
    hint:
      "Un mobile français : 06 ou 07, ou un mobile d'outre-mer. Par exemple : 06 12 34 56 78. " +
      "Le SMS est moins sûr que la connexion biométrique : activez-la si votre téléphone le permet.",
    input: { type: "tel", autocomplete: "tel", inputmode: "tel" },
    codeLabel: "Code à 6 chiffres reçu par SMS",
  },
  trusted_email: {
    title: "Personne de confiance",
    label: "Adresse électronique de votre personne de confiance",
    hint: "Un proche ou un travailleur social. Il recevra un code : demandez-lui de vous le donner.",
    input: { type: "email", autocomplete: "off", inputmode: "email" },
    codeLabel: "Code à 6 chiffres reçu par votre personne de confiance",
  },
};

const minutes = (seconds) => Math.max(1, Math.round(seconds / 60));

// --- messages, announced to screen readers ----------------------------------------------

function say(text, isError = false) {
  const box = $("message");
  box.textContent = text;
  box.classList.toggle("error", isError);
  box.setAttribute("role", isError ? "alert" : "status");
  box.hidden = false;
  if (isError) box.focus();
}

function clearMessage() {
  $("message").hidden = true;
}

// --- the API ----------------------------------------------------------------------------

class Problem extends Error {
  constructor(body, status) {
    super(body.detail || "Une erreur est survenue.");
    this.code = body.code;
    this.status = status;
    this.body = body;
  }
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
    throw new Problem({ detail: MESSAGES.network, code: "network" }, 0);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Problem(data, response.status);
  return data;
}

// Call an account endpoint; refresh the access token once if it expired.
async function accountApi(method, path, body) {
  try {
    return await api(method, path, { body, token: state.access });
  } catch (error) {
    if (error.code !== "token_expired" || !state.refresh) throw error;
    keepTokens(await api("POST", "/auth/refresh", { token: state.refresh }));
    return api(method, path, { body, token: state.access });
  }
}

// The browser's device token outlives sign-outs (unlike the access and refresh tokens,
// kept in memory only): with it, strangers' wrong passwords never lock this browser out.
const DEVICE_TOKEN_KEY = "moncompte.device_token";

function deviceToken() {
  try {
    return window.localStorage.getItem(DEVICE_TOKEN_KEY);
  } catch (error) {
    return null; // storage disabled: the NIR-wide lock applies, nothing else changes
  }
}

// What the password step and a passkey sign-in send to be recognised as a known device.
function knownDevice() {
  const known = deviceToken();
  return known ? { device_token: known } : {};
}

function keepTokens(pair) {
  state.access = pair.access_token;
  state.refresh = pair.refresh_token;
  state.mfaToken = null;
  if (pair.device_token) {
    try {
      window.localStorage.setItem(DEVICE_TOKEN_KEY, pair.device_token);
    } catch (error) {
      // storage disabled: nothing to keep
    }
  }
}

function showError(error) {
  if (error instanceof Problem) {
    say(error.message, true);
    if (["token_invalid", "token_expired", "token_reused"].includes(error.code) && !state.access) {
      show("screen-login");
    }
  } else if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
    say(MESSAGES.webauthnCancelled, true);
  } else if (error && error.name === "InvalidStateError") {
    say("Cet appareil est déjà associé à votre compte.", true);
  } else {
    say("Une erreur inattendue est survenue. Réessayez.", true);
  }
}

// --- screens ----------------------------------------------------------------------------

function show(screenId) {
  for (const screen of document.querySelectorAll(".screen")) {
    screen.hidden = screen.id !== screenId;
  }
  const heading = document.querySelector(`#${screenId} h2`);
  heading.setAttribute("tabindex", "-1");
  heading.focus();
}

function biometricsAvailable() {
  return (
    window.PublicKeyCredential &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function"
  );
}

function restart() {
  Object.assign(state, { mfaToken: null, access: null, refresh: null, methods: [] });
  stopCountdown();
  $("login-form").reset();
  $("code-form").hidden = true;
  $("code-sent").hidden = true;
  show("screen-login");
  armPasskeyAutofill();
}

// --- passkey sign-in: the phone or computer alone, no NIR or password ----------------

async function conditionalMediationAvailable() {
  return Boolean(
    biometricsAvailable() &&
      typeof PublicKeyCredential.isConditionalMediationAvailable === "function" &&
      (await PublicKeyCredential.isConditionalMediationAvailable()),
  );
}

function stopPasskeyAutofill() {
  if (state.autofillTimer) clearTimeout(state.autofillTimer);
  state.autofillTimer = null;
  if (state.autofill) state.autofill.abort();
  state.autofill = null;
}

function passkeyOff() {
  stopPasskeyAutofill();
  $("passkey-choice").hidden = true;
}

async function beginPasskey() {
  try {
    return await api("POST", "/auth/passkey/options", { body: knownDevice() });
  } catch (error) {
    if (error.code === "not_found") passkeyOff(); // switched off on the server
    throw error;
  }
}

async function finishPasskey(started, credential) {
  keepTokens(
    await api("POST", "/auth/passkey/verify", {
      body: credential.toJSON(),
      token: started.passkey_token,
    }),
  );
  stopPasskeyAutofill();
  await openAccount("Vous êtes connecté avec la biométrie.");
}

// Offer this device's passkeys in the NIR field's suggestions (passkey autofill), where
// the browser can. The request waits until the person picks one, or is renewed before
// its challenge expires.
async function armPasskeyAutofill() {
  stopPasskeyAutofill();
  const controller = new AbortController();
  state.autofill = controller; // set before any wait, so that a newer call can abort it
  if (!(await conditionalMediationAvailable()) || controller.signal.aborted) return;
  let started;
  try {
    started = await beginPasskey();
  } catch {
    return; // the password remains; nothing to tell before the person acts
  }
  if (controller.signal.aborted) return;
  const renewIn = Math.max(30, started.expires_in - 30) * 1000;
  state.autofillTimer = setTimeout(armPasskeyAutofill, renewIn);
  let credential;
  try {
    credential = await navigator.credentials.get({
      mediation: "conditional",
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(started.options),
      signal: controller.signal,
    });
  } catch {
    return; // aborted (the person used the form or the button), or nothing picked
  }
  if (!credential || controller.signal.aborted) return;
  clearMessage();
  try {
    await finishPasskey(started, credential);
  } catch (error) {
    showError(error);
    armPasskeyAutofill();
  }
}

async function onPasskeySignIn() {
  clearMessage();
  // One WebAuthn request at a time: the autofill one gives way to the button's.
  stopPasskeyAutofill();
  try {
    const started = await beginPasskey();
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(started.options);
    const credential = await navigator.credentials.get({ publicKey });
    await finishPasskey(started, credential);
  } catch (error) {
    if (error.code === "not_found") say(MESSAGES.passkeyOff, true);
    else if (error.name === "NotAllowedError" || error.name === "AbortError") {
      say(MESSAGES.passkeyCancelled, true);
    } else showError(error);
    if (!state.access) armPasskeyAutofill();
  }
}

// --- step 1: NIR and password -----------------------------------------------------------

async function onLogin(event) {
  event.preventDefault();
  clearMessage();
  const nir = $("nir").value.trim().toUpperCase();
  const password = $("password").value;
  try {
    const started = await api("POST", "/auth/login", {
      body: { nir, password, ...knownDevice() },
    });
    stopPasskeyAutofill();
    state.mfaToken = started.mfa_token;
    state.methods = started.methods;
    state.hints = started;
    $("password").value = "";
    renderChannels(started);
    $("biometric-choice").hidden = !(started.methods.includes("webauthn") && biometricsAvailable());
    $("code-form").hidden = true;
    $("code-sent").hidden = true;
    show("screen-verify");
  } catch (error) {
    const fields = error.body && error.body.errors;
    if (fields && fields.nir) say(fields.nir[0], true);
    else showError(error);
  }
}

// --- step 2: a code (email, SMS, trusted person) or biometrics --------------------------

function renderChannels(started) {
  const box = $("channels");
  box.replaceChildren();
  let first = true;
  for (const [channel, info] of Object.entries(CHANNELS)) {
    if (!started.methods.includes(info.method)) continue;
    const label = document.createElement("label");
    label.className = "choice";
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "channel";
    radio.value = channel;
    radio.checked = first;
    first = false;
    label.append(radio, document.createTextNode(info.choice(started[info.hint])));
    box.append(label);
  }
  $("channel-choice").hidden = box.childElementCount === 0;
  $("send-code").hidden = box.childElementCount === 0;
}

function chosenChannel() {
  const checked = document.querySelector("input[name='channel']:checked");
  return checked ? checked.value : undefined;
}

function stopCountdown() {
  if (state.countdown) clearInterval(state.countdown);
  state.countdown = null;
  $("resend-countdown").hidden = true;
  $("send-code").disabled = false;
}

function startCountdown(seconds) {
  stopCountdown();
  let left = seconds;
  const button = $("send-code");
  const label = $("resend-countdown");
  button.disabled = true;
  label.hidden = false;
  const tick = () => {
    label.textContent = `Vous pourrez demander un nouveau code dans ${left} secondes.`;
    if (left <= 0) {
      stopCountdown();
      button.textContent = "Renvoyer le code";
    }
    left -= 1;
  };
  tick();
  state.countdown = setInterval(tick, 1000);
}

async function onSendCode() {
  clearMessage();
  try {
    const channel = chosenChannel();
    const sent = await api("POST", "/auth/otp", {
      token: state.mfaToken,
      body: channel ? { channel } : undefined,
    });
    const info = CHANNELS[sent.channel];
    $("code-label").textContent = info.label;
    $("code-sent").textContent =
      `${info.sent(sent.destination_hint)} Il est valable ${minutes(sent.expires_in)} minutes.`;
    $("code-sent").hidden = false;
    $("code-form").hidden = false;
    startCountdown(sent.resend_after);
    $("code").focus();
  } catch (error) {
    if (error.code === "rate_limited" && error.body.retry_after) {
      startCountdown(error.body.retry_after);
    }
    showError(error);
  }
}

async function onVerifyCode(event) {
  event.preventDefault();
  clearMessage();
  const code = $("code").value.trim();
  if (!/^[0-9]{6}$/.test(code)) {
    say("Le code doit comporter 6 chiffres.", true);
    return;
  }
  try {
    keepTokens(await api("POST", "/auth/otp/verify", { body: { code }, token: state.mfaToken }));
    $("code").value = "";
    stopCountdown();
    await openAccount("Vous êtes connecté.");
  } catch (error) {
    showError(error);
  }
}

async function onUseBiometrics() {
  clearMessage();
  try {
    const options = await api("POST", "/auth/webauthn/options", { token: state.mfaToken });
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    const credential = await navigator.credentials.get({ publicKey });
    const pair = await api("POST", "/auth/webauthn/verify", {
      body: credential.toJSON(),
      token: state.mfaToken,
    });
    keepTokens(pair);
    stopCountdown();
    await openAccount("Vous êtes connecté avec la biométrie.");
  } catch (error) {
    showError(error);
  }
}

// --- step 3: « Gérer mon compte » -------------------------------------------------------

const dateFormat = new Intl.DateTimeFormat("fr-FR", { dateStyle: "long", timeStyle: "short" });
const formatDate = (iso) => (iso ? dateFormat.format(new Date(iso)) : "jamais");

async function openAccount(greeting) {
  show("screen-account");
  if (greeting) say(pendingLinkToken() ? MESSAGES.franceconnectConfirm : greeting);
  await refreshAccount();
}

async function refreshAccount() {
  const [account, sessions, activity, mandates] = await Promise.all([
    accountApi("GET", "/account"),
    accountApi("GET", "/account/sessions"),
    accountApi("GET", "/account/activity"),
    accountApi("GET", "/account/mandates"),
  ]);
  $("account-summary").textContent =
    `Numéro de sécurité sociale : ${account.nir_masked} — courriel : ${account.email || "aucun"}`;
  renderDevices(account.authenticators);
  renderFranceConnect(account.franceconnect);
  renderMandates(mandates.items);
  renderSessions(sessions.items);
  renderActivity(activity.items);
  $("enable-form").hidden = !biometricsAvailable();
}

// --- « Mes aidants » ----------------------------------------------------------------------

const SCOPE_LABELS = {
  consult: "consulter votre compte",
  declare: "faire vos déclarations",
  documents: "envoyer vos documents",
};
const dayFormat = new Intl.DateTimeFormat("fr-FR", { dateStyle: "long" });

function scopesSentence(scopes) {
  const labels = scopes.map((scope) => SCOPE_LABELS[scope] || scope);
  return labels.length > 1
    ? `${labels.slice(0, -1).join(", ")} et ${labels[labels.length - 1]}`
    : labels.join("");
}

function renderMandates(mandates) {
  const list = $("mandates");
  list.replaceChildren();
  const shown = mandates.filter((mandate) => mandate.in_force).concat(
    mandates.filter((mandate) => !mandate.in_force).slice(0, 3),
  );
  if (shown.length === 0) {
    const empty = document.createElement("li");
    empty.textContent = "Vous n'avez donné de mandat à aucun aidant.";
    list.append(empty);
    return;
  }
  for (const mandate of shown) {
    const item = document.createElement("li");
    const who = document.createElement("p");
    who.className = "mandate-who";
    who.textContent = `${mandate.mediator.name} — ${mandate.mediator.organisation}`;
    const what = document.createElement("p");
    what.textContent = `Peut ${scopesSentence(mandate.scopes)}.`;
    const when = document.createElement("p");
    when.className = "hint";
    if (mandate.in_force) {
      when.textContent = `Jusqu'au ${dayFormat.format(new Date(mandate.expires_at))} — dernière connexion : ${formatDate(mandate.last_used_at)}`;
    } else {
      item.classList.add("ended");
      when.textContent = mandate.revoked_at
        ? `Mandat retiré le ${dayFormat.format(new Date(mandate.revoked_at))}`
        : `Mandat terminé le ${dayFormat.format(new Date(mandate.expires_at))}`;
    }
    item.append(who, what, when);
    if (mandate.in_force) {
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "link danger";
      revoke.dataset.action = "revoke-mandate";
      revoke.dataset.id = mandate.id;
      revoke.dataset.name = mandate.mediator.name;
      revoke.textContent = "Retirer le mandat";
      revoke.setAttribute("aria-label", `Retirer le mandat de ${mandate.mediator.name}`);
      item.append(revoke);
    }
    list.append(item);
  }
}

async function onGrantMandate(event) {
  event.preventDefault();
  clearMessage();
  const scopes = [...document.querySelectorAll("#mandate-form input[name='scope']:checked")].map(
    (box) => box.value,
  );
  if (scopes.length === 0) {
    say("Choisissez au moins une chose que l'aidant pourra faire pour vous.", true);
    return;
  }
  const body = {
    mediator_code: $("mediator-code").value.trim(),
    scopes,
    duration_days: Number($("mandate-duration").value),
  };
  try {
    const mandate = await accountApi("POST", "/account/mandates", body);
    $("mediator-code").value = "";
    say(
      `Vous avez donné un mandat à ${mandate.mediator.name} (${mandate.mediator.organisation}) jusqu'au ${dayFormat.format(new Date(mandate.expires_at))}.`,
    );
    await refreshAccount();
  } catch (error) {
    const fields = error.body && error.body.errors;
    if (error.code === "reauthentication_required") {
      say(`${error.message} Déconnectez-vous puis reconnectez-vous.`, true);
    } else if (fields) {
      say(Object.values(fields)[0][0], true);
    } else {
      showError(error);
    }
  }
}

function renderDevices(devices) {
  const list = $("devices");
  list.replaceChildren();
  if (devices.length === 0) {
    const empty = document.createElement("li");
    empty.textContent = "Aucun appareil associé pour le moment.";
    list.append(empty);
    return;
  }
  for (const device of devices) {
    const item = $("device-template").content.firstElementChild.cloneNode(true);
    item.querySelector(".device-name").textContent = device.name;
    item.querySelector(".device-dates").textContent =
      `Associé le ${formatDate(device.created_at)} — dernière utilisation : ${formatDate(device.last_used_at)}`;
    if (device.discoverable && !device.blocked) {
      const alone = document.createElement("p");
      alone.className = "hint";
      alone.textContent = "Peut vous connecter seul, sans numéro ni mot de passe.";
      item.insertBefore(alone, item.querySelector(".actions"));
    }
    if (device.blocked) {
      const blocked = document.createElement("p");
      blocked.className = "blocked";
      blocked.textContent = "Bloqué par sécurité : cet appareil ne peut plus vous connecter.";
      item.insertBefore(blocked, item.querySelector(".actions"));
    }
    for (const button of item.querySelectorAll("button")) {
      button.dataset.id = device.id;
      button.dataset.name = device.name;
      button.setAttribute("aria-label", `${button.textContent} ${device.name}`);
    }
    list.append(item);
  }
}

function renderSessions(sessions) {
  const list = $("sessions");
  list.replaceChildren();
  for (const session of sessions) {
    const item = document.createElement("li");
    const how = session.amr.includes("fc")
      ? "FranceConnect"
      : session.amr.includes("hwk")
        ? "biométrie"
        : session.amr.includes("sms")
          ? "code par SMS"
          : "code par courriel";
    const text = document.createElement("p");
    text.textContent = `${session.current ? "Cette connexion" : "Autre connexion"} — ${how} — depuis le ${formatDate(session.created_at)}`;
    item.append(text);
    if (!session.current) {
      const end = document.createElement("button");
      end.type = "button";
      end.className = "link danger";
      end.dataset.action = "end-session";
      end.dataset.id = session.id;
      end.textContent = "Fermer cette connexion";
      item.append(end);
    }
    list.append(item);
  }
}

function renderActivity(events) {
  const list = $("activity");
  list.replaceChildren();
  for (const event of events.slice(0, 10)) {
    const item = document.createElement("li");
    item.textContent = `${formatDate(event.at)} : ${event.detail}`;
    list.append(item);
  }
}

async function onEnableBiometrics(event) {
  event.preventDefault();
  clearMessage();
  const name = $("device-name").value.trim() || "Mon téléphone";
  try {
    const options = await accountApi("POST", "/account/authenticators/options");
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    const credential = await navigator.credentials.create({ publicKey });
    await accountApi("POST", "/account/authenticators", { credential: credential.toJSON(), name });
    say(`La connexion biométrique est activée sur « ${name} ».`);
    await refreshAccount();
  } catch (error) {
    if (error.code === "reauthentication_required") {
      say(`${error.message} Déconnectez-vous puis reconnectez-vous.`, true);
    } else {
      showError(error);
    }
  }
}

async function onAccountAction(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  clearMessage();
  const { action, id, name } = button.dataset;
  try {
    if (action === "rename") {
      const newName = window.prompt("Nouveau nom de l'appareil :", name);
      if (!newName || !newName.trim()) return;
      await accountApi("PATCH", `/account/authenticators/${id}`, { name: newName.trim() });
      say(`Appareil renommé en « ${newName.trim()} ».`);
    } else if (action === "remove") {
      if (!window.confirm(`Retirer « ${name} » ? Il ne pourra plus vous connecter.`)) return;
      await accountApi("DELETE", `/account/authenticators/${id}`);
      if (!(await stillSignedIn())) {
        // This very connection was opened with that device: it ended with it.
        restart();
        say(
          `L'appareil « ${name} » a été retiré. Cette connexion avait été ouverte avec lui : elle est fermée. Reconnectez-vous.`,
        );
        return;
      }
      say(`L'appareil « ${name} » a été retiré.`);
    } else if (action === "end-session") {
      await accountApi("DELETE", `/account/sessions/${id}`);
      say("La connexion a été fermée.");
    } else if (action === "revoke-mandate") {
      if (!window.confirm(`Retirer le mandat de ${name} ? Cet aidant ne pourra plus agir pour vous.`)) return;
      await accountApi("DELETE", `/account/mandates/${id}`);
      say(`Le mandat de ${name} a été retiré : cet aidant ne peut plus agir pour vous.`);
    }
    await refreshAccount();
  } catch (error) {
    showError(error);
  }
}

async function stillSignedIn() {
  try {
    await api("GET", "/account", { token: state.access });
    return true;
  } catch (error) {
    if (error.code === "token_invalid") return false;
    throw error;
  }
}

async function onSignOut() {
  let result = null;
  try {
    result = await api("POST", "/auth/logout", { token: state.access });
  } catch {
    // Signed out locally in any case: the tokens are forgotten below.
  }
  restart();
  if (result && result.franceconnect_logout_url) {
    // Opened with FranceConnect: sign out there too; it brings the person back here.
    window.location.assign(result.franceconnect_logout_url);
    return;
  }
  say("Vous êtes déconnecté.");
}

// --- FranceConnect+ ---------------------------------------------------------------------
// The page starts the sign-in with a PKCE challenge; the verifier waits in this tab's
// sessionStorage for the return with ?handoff=, and is used once.

const FC_VERIFIER_KEY = "moncompte.fc_verifier";
const FC_LINK_KEY = "moncompte.fc_link";

function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function onFranceConnect() {
  clearMessage();
  try {
    const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    sessionStorage.setItem(FC_VERIFIER_KEY, verifier);
    const query = new URLSearchParams({
      return_to: window.location.origin + window.location.pathname,
      code_challenge: base64url(digest),
    });
    window.location.assign(`${API}/auth/franceconnect/start?${query}`);
  } catch {
    say(MESSAGES.franceconnectFailed, true);
  }
}

function takeFromSession(key) {
  try {
    const value = sessionStorage.getItem(key);
    sessionStorage.removeItem(key);
    return value;
  } catch {
    return null;
  }
}

function pendingLinkToken() {
  try {
    const pending = JSON.parse(sessionStorage.getItem(FC_LINK_KEY) || "null");
    if (pending && pending.until > Date.now()) return pending.token;
    sessionStorage.removeItem(FC_LINK_KEY);
  } catch {
    // storage disabled or damaged: nothing pending
  }
  return null;
}

// Back from FranceConnect: ?handoff= to complete, ?error= to explain, ?state= after a
// sign-out there. The address bar is cleaned first: nothing of it stays in the history.
async function onFranceConnectReturn() {
  const params = new URLSearchParams(window.location.search);
  const handoff = params.get("handoff");
  const error = params.get("error");
  if (!handoff && !error && !params.has("state")) return;
  window.history.replaceState(null, "", window.location.pathname);
  if (!handoff) {
    say(error ? MESSAGES.franceconnectFailed : "Vous êtes déconnecté.", Boolean(error));
    return;
  }
  const verifier = takeFromSession(FC_VERIFIER_KEY);
  if (!verifier) {
    say(MESSAGES.franceconnectFailed, true);
    return;
  }
  try {
    const body = { handoff, code_verifier: verifier };
    const known = deviceToken();
    if (known) body.device_token = known;
    keepTokens(await api("POST", "/auth/franceconnect/complete", { body }));
    await openAccount("Vous êtes connecté avec FranceConnect.");
  } catch (problem) {
    if (problem.code === "link_required") {
      const until = Date.now() + (problem.body.expires_in || 600) * 1000;
      sessionStorage.setItem(FC_LINK_KEY, JSON.stringify({ token: problem.body.link_token, until }));
      show("screen-login");
      say(MESSAGES.franceconnectLinkFirst);
    } else {
      say(MESSAGES.franceconnectFailed, true);
    }
  }
}

function renderFranceConnect(status) {
  const card = $("franceconnect-card");
  if (!card || !status) return;
  const pending = pendingLinkToken();
  $("fc-status").textContent = status.linked
    ? `Votre compte est associé à FranceConnect depuis le ${formatDate(status.linked_at)}. Vous pouvez vous connecter avec FranceConnect, sans mot de passe ni code.`
    : "Associez FranceConnect (France Identité, L'Identité Numérique La Poste…) pour vous connecter sans mot de passe ni code, même si vous les avez perdus.";
  $("fc-confirm").hidden = status.linked || !pending;
  $("fc-link").hidden = status.linked || Boolean(pending);
  $("fc-unlink").hidden = !status.linked;
}

async function onConfirmFranceConnect() {
  clearMessage();
  const token = pendingLinkToken();
  if (!token) {
    say("Le délai pour associer FranceConnect est dépassé. Recommencez avec « Associer FranceConnect ».", true);
    await refreshAccount();
    return;
  }
  try {
    const linked = await accountApi("POST", "/account/franceconnect", { link_token: token });
    sessionStorage.removeItem(FC_LINK_KEY);
    say(`FranceConnect est associé à votre compte (${linked.given_name} ${linked.family_name}).`);
    await refreshAccount();
  } catch (error) {
    if (error.code === "link_token_invalid") sessionStorage.removeItem(FC_LINK_KEY);
    if (error.code === "reauthentication_required") {
      say(`${error.message} Déconnectez-vous puis reconnectez-vous.`, true);
    } else {
      showError(error);
    }
    await refreshAccount();
  }
}

async function onUnlinkFranceConnect() {
  clearMessage();
  if (!window.confirm("Retirer FranceConnect ? Il ne pourra plus servir à vous connecter.")) return;
  try {
    await accountApi("DELETE", "/account/franceconnect");
    if (!(await stillSignedIn())) {
      // This very connection was opened with FranceConnect: it ended with the link.
      restart();
      say("FranceConnect a été retiré de votre compte. Cette connexion avait été ouverte avec lui : elle est fermée.");
      return;
    }
    say("FranceConnect a été retiré de votre compte.");
    await refreshAccount();
  } catch (error) {
    showError(error);
  }
}

// --- « Mes coordonnées » -----------------------------------------------------------------

const PHONE_DISPLAY = (e164) => {
  // +33612345678 -> 06 12 34 56 78 (overseas numbers keep their +590… form)
  if (!e164.startsWith("+33")) return e164;
  return ("0" + e164.slice(3)).replace(/(\d{2})(?=\d)/g, "$1 ");
};

async function openContacts() {
  clearMessage();
  closeEditor();
  show("screen-contacts");
  await refreshContacts();
}

async function refreshContacts() {
  const contacts = await accountApi("GET", "/account/contacts");
  const list = $("contacts");
  list.replaceChildren();
  for (const [kind, info] of Object.entries(CONTACTS)) {
    const contact = contacts[kind];
    const item = $("contact-template").content.firstElementChild.cloneNode(true);
    item.querySelector(".contact-title").textContent = info.title;
    let value = "Aucune";
    if (contact) {
      value = kind === "phone" ? PHONE_DISPLAY(contact.value) : contact.value;
      if (contact.name) value = `${contact.name} — ${value}`;
    } else if (kind === "phone") {
      value = "Aucun";
    }
    item.querySelector(".contact-value").textContent = value;
    item.querySelector(".contact-dates").textContent =
      contact && contact.verified_at ? `Confirmé le ${formatDate(contact.verified_at)}` : "";
    const edit = item.querySelector("[data-action='edit-contact']");
    edit.textContent = contact ? "Modifier" : "Ajouter";
    const remove = item.querySelector("[data-action='remove-contact']");
    remove.hidden = !contact;
    for (const button of [edit, remove]) {
      button.dataset.kind = kind;
      button.setAttribute("aria-label", `${button.textContent} : ${info.title}`);
    }
    list.append(item);
  }
}

function openEditor(kind) {
  const info = CONTACTS[kind];
  state.editing = kind;
  $("editor-title").textContent = info.title;
  $("contact-value-label").textContent = info.label;
  $("contact-value-hint").textContent = info.hint;
  const input = $("contact-value");
  input.value = "";
  for (const [name, value] of Object.entries(info.input)) input.setAttribute(name, value);
  $("contact-name-field").hidden = kind !== "trusted_email";
  $("contact-name").value = "";
  $("contact-code-label").textContent = info.codeLabel;
  $("contact-form").hidden = false;
  $("contact-code-form").hidden = true;
  $("contact-editor").hidden = false;
  input.focus();
}

function closeEditor() {
  state.editing = null;
  $("contact-editor").hidden = true;
}

function reauthenticationHint(error) {
  if (error.code === "reauthentication_required") {
    say(`${error.message} Déconnectez-vous puis reconnectez-vous.`, true);
  } else {
    showError(error);
  }
}

async function onContactSubmit(event) {
  event.preventDefault();
  clearMessage();
  const kind = state.editing;
  const body = { value: $("contact-value").value.trim() };
  if (kind === "trusted_email") body.name = $("contact-name").value.trim();
  try {
    const sent = await accountApi("PUT", `/account/contacts/${kind}`, body);
    $("contact-code-sent").textContent =
      `Un code a été envoyé à ${sent.destination_hint}. Il est valable ${minutes(sent.expires_in)} minutes. Rien ne change tant qu'il n'est pas saisi.`;
    $("contact-form").hidden = true;
    $("contact-code-form").hidden = false;
    $("contact-code").value = "";
    $("contact-code").focus();
  } catch (error) {
    const fields = error.body && error.body.errors;
    if (fields && (fields.value || fields.name)) say((fields.value || fields.name)[0], true);
    else reauthenticationHint(error);
  }
}

async function onContactCode(event) {
  event.preventDefault();
  clearMessage();
  const kind = state.editing;
  const code = $("contact-code").value.trim();
  if (!/^[0-9]{6}$/.test(code)) {
    say("Le code doit comporter 6 chiffres.", true);
    return;
  }
  try {
    await accountApi("POST", `/account/contacts/${kind}/verify`, { code });
    closeEditor();
    say(`${CONTACTS[kind].title} : enregistré. Un message de confirmation vous a été envoyé.`);
    await refreshContacts();
  } catch (error) {
    showError(error);
  }
}

async function onContactsAction(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const { action, kind } = button.dataset;
  clearMessage();
  if (action === "edit-contact") {
    openEditor(kind);
    return;
  }
  if (action !== "remove-contact") return;
  if (!window.confirm(`Retirer : ${CONTACTS[kind].title} ? Vous n'y recevrez plus de code.`)) return;
  try {
    await accountApi("DELETE", `/account/contacts/${kind}`);
    say(`${CONTACTS[kind].title} : retiré.`);
    await refreshContacts();
  } catch (error) {
    reauthenticationHint(error);
  }
}

// --- wiring -----------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", onLogin);
  $("send-code").addEventListener("click", onSendCode);
  $("code-form").addEventListener("submit", onVerifyCode);
  $("use-biometrics").addEventListener("click", onUseBiometrics);
  $("passkey-sign-in").addEventListener("click", onPasskeySignIn);
  $("enable-form").addEventListener("submit", onEnableBiometrics);
  $("mandate-form").addEventListener("submit", onGrantMandate);
  $("sign-out").addEventListener("click", onSignOut);
  $("screen-account").addEventListener("click", onAccountAction);
  $("open-contacts").addEventListener("click", () => openContacts().catch(showError));
  $("close-contacts").addEventListener("click", () => openAccount().catch(showError));
  $("contacts").addEventListener("click", onContactsAction);
  $("contact-form").addEventListener("submit", onContactSubmit);
  $("contact-code-form").addEventListener("submit", onContactCode);
  $("cancel-contact").addEventListener("click", closeEditor);
  for (const link of document.querySelectorAll("[data-action='restart']")) {
    link.addEventListener("click", restart);
  }
  $("passkey-choice").hidden = !biometricsAvailable();
  armPasskeyAutofill();
  // FranceConnect's controls exist only when the service is configured for it.
  const optional = {
    franceconnect: onFranceConnect,
    "fc-link": onFranceConnect,
    "fc-confirm": onConfirmFranceConnect,
    "fc-unlink": onUnlinkFranceConnect,
  };
  for (const [id, handler] of Object.entries(optional)) {
    if ($(id)) $(id).addEventListener("click", handler);
  }
  onFranceConnectReturn();
});
