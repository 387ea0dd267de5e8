// Mon Compte web page: the same JSON API as the Caf app. Access and refresh tokens live in
// memory only; the sign-in in progress (its mfa token, step and channel) is kept in this
// tab's sessionStorage, so that a reload does not lose the code the person just received.
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
  // The sign-in in progress: when it ends (epoch ms), the code sent (channel, hint, until).
  expiresAt: 0,
  sent: null,
  expiryTimers: [],
  recovery: null, // « Mot de passe oublié »: {token, channel, expiresAt}
};

const $ = (id) => document.getElementById(id);

const MESSAGES = {
  network: "Le service ne répond pas. Vérifiez votre connexion à internet, puis réessayez.",
  unexpected: "Un problème est survenu de notre côté. Réessayez dans quelques minutes.",
  webauthnCancelled:
    "La vérification biométrique a été annulée ou refusée. Réessayez, ou recevez un code.",
  franceconnectFailed:
    "La connexion avec FranceConnect n'a pas abouti. Ce n'est pas grave : réessayez, ou connectez-vous avec votre numéro de sécurité sociale et votre mot de passe.",
  franceconnectLinkFirst:
    "Votre identité FranceConnect n'est pas encore associée à votre compte. Connectez-vous une fois avec votre numéro de sécurité sociale et votre mot de passe. Vous pourrez ensuite confirmer l'association.",
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

// --- messages, announced to screen readers (page.js) ------------------------------------

function say(text, isError = false, options = {}) {
  if (isError) Page.alert(text, options);
  else Page.say(text, options);
}

function clearMessage() {
  Page.clear();
}

// The NIR as printed on the Carte Vitale (« 1 85 05 75 123 456 »), without its spaces.
const NIR_PATTERN = /^[12][0-9]{4}(?:[0-9]{2}|2A|2B)[0-9]{6}$/;
const compactNir = (value) => value.replace(/[\s.\-]/g, "").toUpperCase();

// Check a NIR field before sending it; on a mistake, say so at the field. Return the NIR.
function nirFrom(input) {
  const nir = compactNir(input.value);
  if (!nir) {
    Page.fieldError(input, "Saisissez votre numéro de sécurité sociale.");
    return null;
  }
  if (!NIR_PATTERN.test(nir)) {
    Page.fieldError(
      input,
      "Ce numéro n'a pas la bonne forme. Il a 13 chiffres et commence par 1 ou 2. Recopiez-le depuis votre carte Vitale.",
    );
    return null;
  }
  return nir;
}

// A 6-digit code field; on a mistake, say so at the field.
function codeFrom(input) {
  const code = input.value.replace(/\s/g, "");
  if (/^[0-9]{6}$/.test(code)) return code;
  Page.fieldError(input, "Le code a 6 chiffres. Recopiez-le depuis le message reçu.");
  return null;
}

// The lock after too many tries: how long, from Retry-After, in plain French.
function lockMessage(error) {
  const wait = error.retryAfter;
  if (!wait) return error.message;
  const until = Page.at(Date.now() + wait * 1000);
  return `Trop d'essais. Par sécurité, la connexion est bloquée. Réessayez dans ${Page.delay(wait)} (vers ${until}).`;
}

// --- the API ----------------------------------------------------------------------------

class Problem extends Error {
  constructor(body, status, retryAfter = 0) {
    super(body.detail || MESSAGES.unexpected);
    this.code = body.code;
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
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
  if (!response.ok) {
    const retryAfter = Number(response.headers.get("Retry-After")) || data.retry_after || 0;
    throw new Problem(data, response.status, retryAfter);
  }
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
  forgetSignIn();
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
    if (["token_invalid", "token_expired", "token_reused"].includes(error.code) && !state.access) {
      restart();
      say(
        "Le délai pour finir la connexion est dépassé. Recommencez : saisissez votre numéro et votre mot de passe.",
        true,
      );
      return;
    }
    if (error.code === "too_many_attempts" || error.code === "rate_limited") {
      say(error.code === "too_many_attempts" ? lockMessage(error) : error.message, true);
      return;
    }
    say(error.message, true);
  } else if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
    say(MESSAGES.webauthnCancelled, true);
  } else if (error && error.name === "InvalidStateError") {
    say("Cet appareil est déjà associé à votre compte.", true);
  } else {
    say(MESSAGES.unexpected, true);
  }
}

// --- screens ----------------------------------------------------------------------------

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

function biometricsAvailable() {
  return (
    window.PublicKeyCredential &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function"
  );
}

function restart() {
  Object.assign(state, { mfaToken: null, access: null, refresh: null, methods: [], recovery: null });
  forgetSignIn();
  stopCountdown();
  $("login-form").reset();
  $("send-code").textContent = "Envoyer le code";
  $("code-form").hidden = true;
  $("code-sent").hidden = true;
  show("screen-login");
  armPasskeyAutofill();
}

// --- the sign-in in progress: kept in this tab, with its deadline -----------------------
// Never the access or refresh tokens: only what the password step gave (the mfa token,
// the methods and masked hints), the code sent, and when it all ends.

const SIGN_IN_KEY = "moncompte.sign_in";
const WARN_BEFORE_MS = 2 * 60 * 1000;

function keepSignIn() {
  const kept = {
    mfaToken: state.mfaToken,
    expiresAt: state.expiresAt,
    methods: state.methods,
    hints: {
      email_hint: state.hints.email_hint,
      phone_hint: state.hints.phone_hint,
      trusted_email_hint: state.hints.trusted_email_hint,
    },
    step: state.sent ? "code" : "channel",
    channel: chosenChannel() || null,
    sent: state.sent,
  };
  try {
    sessionStorage.setItem(SIGN_IN_KEY, JSON.stringify(kept));
  } catch {
    // storage disabled: a reload starts again, nothing else changes
  }
}

function forgetSignIn() {
  for (const timer of state.expiryTimers) clearTimeout(timer);
  state.expiryTimers = [];
  state.expiresAt = 0;
  state.sent = null;
  $("expiry-warning").hidden = true;
  try {
    sessionStorage.removeItem(SIGN_IN_KEY);
  } catch {
    // nothing kept
  }
}

// Warn two minutes before the sign-in in progress ends (sooner for a short one), with a
// way to get more time; when it has ended, say so and start again.
function watchExpiry() {
  for (const timer of state.expiryTimers) clearTimeout(timer);
  $("expiry-warning").hidden = true;
  const left = state.expiresAt - Date.now();
  const warnIn = Math.max(0, left - Math.min(WARN_BEFORE_MS, left / 2));
  state.expiryTimers = [
    setTimeout(() => {
      const remaining = Math.max(1, (state.expiresAt - Date.now()) / 1000);
      $("expiry-text").textContent =
        `Votre connexion n'est pas finie. Elle sera annulée dans ${Page.delay(remaining)}, à ${Page.at(state.expiresAt)}. Vous pouvez la prolonger.`;
      $("expiry-warning").hidden = false;
      say($("expiry-text").textContent, true, { echo: true });
    }, warnIn),
    setTimeout(() => {
      restart();
      say(
        "Le délai pour finir la connexion est dépassé. Par sécurité, elle a été annulée. Recommencez : saisissez votre numéro et votre mot de passe.",
        true,
      );
    }, Math.max(0, left)),
  ];
}

function extendSignIn(seconds) {
  state.expiresAt = Math.max(state.expiresAt, Date.now() + seconds * 1000);
  watchExpiry();
  keepSignIn();
}

// After a reload: back to the code, where the person was.
function resumeSignIn() {
  let kept = null;
  try {
    kept = JSON.parse(sessionStorage.getItem(SIGN_IN_KEY) || "null");
  } catch {
    kept = null;
  }
  if (!kept || !kept.mfaToken || kept.expiresAt <= Date.now()) {
    forgetSignIn();
    return false;
  }
  Object.assign(state, {
    mfaToken: kept.mfaToken,
    methods: kept.methods,
    hints: kept.hints,
    expiresAt: kept.expiresAt,
  });
  openVerify();
  if (kept.channel) {
    const radio = document.querySelector(`input[name='channel'][value='${kept.channel}']`);
    if (radio) radio.checked = true;
  }
  if (kept.sent && kept.sent.until > Date.now()) {
    state.sent = kept.sent;
    showCodeSent(kept.sent, false);
    $("send-code").textContent = "Renvoyer le code";
    $("code").focus();
  }
  watchExpiry();
  say(
    state.sent
      ? "Votre connexion en cours a été reprise. Saisissez le code reçu."
      : "Votre connexion en cours a été reprise. Choisissez comment recevoir le code.",
  );
  return true;
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
  const nir = nirFrom($("nir"));
  if (!nir) return;
  const password = $("password").value;
  if (!password) {
    Page.fieldError($("password"), "Saisissez votre mot de passe.");
    return;
  }
  try {
    const started = await api("POST", "/auth/login", {
      body: { nir, password, ...knownDevice() },
    });
    stopPasskeyAutofill();
    state.mfaToken = started.mfa_token;
    state.methods = started.methods;
    state.hints = started;
    state.sent = null;
    $("password").value = "";
    openVerify();
    state.expiresAt = 0;
    extendSignIn(started.expires_in);
  } catch (error) {
    const fields = error.body && error.body.errors;
    if (fields && fields.nir) Page.fieldError($("nir"), fields.nir[0]);
    else if (fields && fields.password) Page.fieldError($("password"), fields.password[0]);
    else if (error.code === "invalid_credentials") {
      $("password").value = "";
      Page.fieldError(
        $("password"),
        "Le numéro de sécurité sociale ou le mot de passe est incorrect. Vérifiez-les, puis réessayez. Vous avez oublié votre mot de passe ? Choisissez « Mot de passe oublié ? », sous le bouton « Se connecter ».",
      );
    } else showError(error);
  }
}

function openVerify() {
  renderChannels({ ...state.hints, methods: state.methods });
  $("biometric-choice").hidden = !(state.methods.includes("webauthn") && biometricsAvailable());
  $("send-code").textContent = "Envoyer le code";
  $("code-form").hidden = true;
  $("code-sent").hidden = true;
  show("screen-verify");
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
    label.textContent = `Vous pourrez demander un nouveau code dans ${Page.delay(left)}.`;
    if (left <= 0) {
      stopCountdown();
      button.textContent = "Renvoyer le code";
    }
    left -= 1;
  };
  tick();
  state.countdown = setInterval(tick, 1000);
}

// What the page says of a code sent: where, how long it lasts (from the API's
// expires_in), and after a resend that the earlier code no longer works.
function codeSentText(sent) {
  const info = CHANNELS[sent.channel];
  const lasts = Page.delay((sent.until - sent.at) / 1000);
  let text = `${info.sent(sent.hint)} Il est valable ${lasts}, jusqu'à ${Page.at(sent.until)}.`;
  if (sent.resent) text += " Le code reçu avant ne fonctionne plus : utilisez le dernier.";
  return text;
}

function showCodeSent(sent, announce = true) {
  $("code-label").textContent = CHANNELS[sent.channel].label;
  $("code-sent").textContent = codeSentText(sent);
  $("code-sent").hidden = false;
  $("code-form").hidden = false;
  if (announce) say(codeSentText(sent), false, { echo: true });
}

async function onSendCode() {
  clearMessage();
  try {
    const channel = chosenChannel();
    const sent = await api("POST", "/auth/otp", {
      token: state.mfaToken,
      body: channel ? { channel } : undefined,
    });
    const now = Date.now();
    state.sent = {
      channel: sent.channel,
      hint: sent.destination_hint,
      at: now,
      until: now + sent.expires_in * 1000,
      resent: Boolean(state.sent),
    };
    // A code sent extends the sign-in so that the code really lives that long.
    extendSignIn(sent.expires_in);
    $("code").value = "";
    showCodeSent(state.sent);
    $("send-code").textContent = "Renvoyer le code";
    startCountdown(sent.resend_after);
    $("code").focus();
  } catch (error) {
    if (error.code === "rate_limited" && error.retryAfter) startCountdown(error.retryAfter);
    showError(error);
  }
}

async function onVerifyCode(event) {
  event.preventDefault();
  clearMessage();
  const code = codeFrom($("code"));
  if (!code) return;
  try {
    keepTokens(await api("POST", "/auth/otp/verify", { body: { code }, token: state.mfaToken }));
    $("code").value = "";
    stopCountdown();
    await openAccount("Vous êtes connecté.");
  } catch (error) {
    if (["otp_invalid", "otp_expired", "otp_locked"].includes(error.code)) {
      $("code").value = "";
      let text = error.message;
      if (error.code === "otp_invalid" && error.body.attempts_remaining !== undefined) {
        const left = error.body.attempts_remaining;
        text += ` Il vous reste ${left} essai${left > 1 ? "s" : ""}.`;
      }
      Page.fieldError($("code"), text);
    } else showError(error);
  }
}

// « Prolonger »: a new code extends the sign-in; while a resend must wait, say how long.
async function onExtendSignIn() {
  if ($("send-code").disabled) {
    say(`${$("resend-countdown").textContent} Le code déjà reçu reste valable d'ici là.`, true);
    return;
  }
  $("expiry-warning").hidden = true;
  await onSendCode();
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
  // Said, not just hidden: a browser without WebAuthn cannot enable biometrics.
  $("enable-form").hidden = !biometricsAvailable();
  $("biometrics-unavailable").hidden = biometricsAvailable();
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
    Page.fieldError(
      document.querySelector("#mandate-form input[name='scope']"),
      "Cochez au moins une case : ce que l'aidant pourra faire pour vous.",
    );
    return;
  }
  if (!$("mediator-code").value.trim()) {
    Page.fieldError($("mediator-code"), "Saisissez le code que votre aidant vous a donné.");
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
      say(`${error.message} Déconnectez-vous, puis reconnectez-vous.`, true);
    } else if (fields) {
      Page.fieldError($("mediator-code"), Object.values(fields)[0][0]);
    } else if (error.code === "mediator_not_found") {
      Page.fieldError($("mediator-code"), error.message);
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
      end.setAttribute("aria-label", `Fermer la connexion par ${how} du ${formatDate(session.created_at)}`);
      item.append(end);
    }
    list.append(item);
  }
  $("end-all-sessions").hidden = !sessions.some((session) => !session.current);
}

function renderActivity(events) {
  const list = $("activity");
  list.replaceChildren();
  for (const event of events.slice(0, 10)) {
    const item = document.createElement("li");
    const text = document.createElement("p");
    text.textContent = `${formatDate(event.at)} : ${event.detail}`;
    item.append(text);
    if (event.id !== undefined && event.id !== null) {
      const notMe = document.createElement("button");
      notMe.type = "button";
      notMe.className = "link danger";
      notMe.dataset.action = "not-me";
      notMe.dataset.id = event.id;
      notMe.textContent = "Ce n'était pas moi";
      notMe.setAttribute("aria-label", `Ce n'était pas moi : ${event.detail}, ${formatDate(event.at)}`);
      item.append(notMe);
    }
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
      say(`${error.message} Déconnectez-vous, puis reconnectez-vous.`, true);
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
    } else if (action === "not-me") {
      await accountApi("POST", `/account/activity/${id}/not-me`);
      say(
        "Merci. Toutes vos autres connexions sont fermées. Si quelqu'un connaît votre mot de passe, changez-le : déconnectez-vous, puis choisissez « Mot de passe oublié ».",
      );
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

async function onEndAllSessions() {
  clearMessage();
  if (!window.confirm("Déconnecter tous vos autres appareils ? Ils devront se reconnecter.")) return;
  try {
    await accountApi("DELETE", "/account/sessions");
    say("Tous vos autres appareils sont déconnectés. Cette connexion reste ouverte.");
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
      say(`${error.message} Déconnectez-vous, puis reconnectez-vous.`, true);
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
    const until = Date.now() + sent.expires_in * 1000;
    $("contact-code-sent").textContent =
      `Un code a été envoyé à ${sent.destination_hint}. Il est valable ${Page.delay(sent.expires_in)}, jusqu'à ${Page.at(until)}. Rien ne change tant qu'il n'est pas saisi.`;
    say($("contact-code-sent").textContent, false, { echo: true });
    $("contact-form").hidden = true;
    $("contact-code-form").hidden = false;
    $("contact-code").value = "";
    $("contact-code").focus();
  } catch (error) {
    const fields = error.body && error.body.errors;
    if (fields && fields.value) Page.fieldError($("contact-value"), fields.value[0]);
    else if (fields && fields.name) Page.fieldError($("contact-name"), fields.name[0]);
    else reauthenticationHint(error);
  }
}

async function onContactCode(event) {
  event.preventDefault();
  clearMessage();
  const kind = state.editing;
  const code = codeFrom($("contact-code"));
  if (!code) return;
  try {
    await accountApi("POST", `/account/contacts/${kind}/verify`, { code });
    closeEditor();
    say(`${CONTACTS[kind].title} : enregistré. Un message de confirmation vous a été envoyé.`);
    await refreshContacts();
  } catch (error) {
    if (["otp_invalid", "otp_expired", "otp_locked"].includes(error.code)) {
      $("contact-code").value = "";
      Page.fieldError($("contact-code"), error.message);
    } else showError(error);
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

// --- « Mot de passe oublié » (contract v2: recovery) -------------------------------------
// The same answer whether or not the NIR has an account or that channel: the page says
// « if … », and never more than the API tells.

const RECOVERY_SENT = {
  email: "Si ce numéro a un compte avec une adresse électronique, un code vient d'y être envoyé.",
  sms: "Si ce numéro a un compte avec un numéro de mobile, un code vient d'y être envoyé par SMS.",
};

function openForgot() {
  clearMessage();
  stopPasskeyAutofill();
  const typed = $("nir").value.trim();
  if (typed && !$("forgot-nir").value) $("forgot-nir").value = typed;
  show("screen-forgot");
}

function forgotChannel() {
  const checked = document.querySelector("input[name='forgot-channel']:checked");
  return checked ? checked.value : "email";
}

async function askRecoveryCode(nir, channel, resent) {
  const started = await api("POST", "/auth/recovery", { body: { nir, channel } });
  const now = Date.now();
  state.recovery = {
    nir,
    channel,
    token: started.recovery_token,
    expiresAt: now + started.expires_in * 1000,
  };
  let text = `${RECOVERY_SENT[channel]} Il est valable ${Page.delay(started.expires_in)}, jusqu'à ${Page.at(state.recovery.expiresAt)}.`;
  if (resent) text += " Le code reçu avant ne fonctionne plus : utilisez le dernier.";
  $("reset-sent").textContent = text;
  $("reset-code").value = "";
  return text;
}

async function onForgot(event) {
  event.preventDefault();
  clearMessage();
  const nir = nirFrom($("forgot-nir"));
  if (!nir) return;
  try {
    const text = await askRecoveryCode(nir, forgotChannel(), false);
    show("screen-reset");
    say(text, false, { echo: true });
    $("reset-code").focus();
  } catch (error) {
    const fields = error.body && error.body.errors;
    if (fields && fields.nir) Page.fieldError($("forgot-nir"), fields.nir[0]);
    else showError(error);
  }
}

async function onResendRecovery() {
  clearMessage();
  if (!state.recovery) {
    show("screen-forgot");
    return;
  }
  try {
    say(await askRecoveryCode(state.recovery.nir, state.recovery.channel, true), false, {
      echo: true,
    });
    $("reset-code").focus();
  } catch (error) {
    showError(error);
  }
}

// A wrong new password or code is said at its field; a dead recovery starts again.
function recoveryFieldError(error, fields) {
  const at = fields || {};
  for (const [name, id] of Object.entries(at)) {
    const input = $(id);
    if (error.body.errors && error.body.errors[name]) {
      Page.fieldError(input, error.body.errors[name][0]);
      return true;
    }
  }
  return false;
}

async function onReset(event) {
  event.preventDefault();
  clearMessage();
  if (!state.recovery || state.recovery.expiresAt <= Date.now()) {
    state.recovery = null;
    show("screen-forgot");
    say("Le délai pour saisir le code est dépassé. Demandez un nouveau code.", true);
    return;
  }
  const code = codeFrom($("reset-code"));
  if (!code) return;
  const newPassword = $("reset-password").value;
  if (!newPassword) {
    Page.fieldError($("reset-password"), "Choisissez un nouveau mot de passe.");
    return;
  }
  try {
    await api("POST", "/auth/recovery/verify", {
      token: state.recovery.token,
      body: { code, new_password: newPassword },
    });
    finishRecovery();
  } catch (error) {
    if (error.code === "weak_password") Page.fieldError($("reset-password"), error.message);
    else if (["otp_invalid", "otp_expired", "otp_locked"].includes(error.code)) {
      $("reset-code").value = "";
      Page.fieldError($("reset-code"), error.message);
    } else if (error.body && error.body.errors) {
      if (!recoveryFieldError(error, { new_password: "reset-password", code: "reset-code" })) {
        showError(error);
      }
    } else if (["token_invalid", "token_expired"].includes(error.code)) {
      state.recovery = null;
      show("screen-forgot");
      say("Le délai pour saisir le code est dépassé. Demandez un nouveau code.", true);
    } else showError(error);
  }
}

function finishRecovery() {
  restart();
  say(
    "Votre nouveau mot de passe est enregistré. Par sécurité, toutes vos connexions ont été fermées. Connectez-vous avec votre nouveau mot de passe.",
  );
}

function openCounter() {
  clearMessage();
  const typed = $("forgot-nir").value.trim() || $("nir").value.trim();
  if (typed && !$("counter-nir").value) $("counter-nir").value = typed;
  show("screen-counter");
}

async function onCounter(event) {
  event.preventDefault();
  clearMessage();
  const nir = nirFrom($("counter-nir"));
  if (!nir) return;
  const recoveryCode = $("counter-code").value.trim().toUpperCase();
  if (!recoveryCode) {
    Page.fieldError($("counter-code"), "Saisissez le code remis au guichet.");
    return;
  }
  const newPassword = $("counter-password").value;
  if (!newPassword) {
    Page.fieldError($("counter-password"), "Choisissez un nouveau mot de passe.");
    return;
  }
  const body = { nir, recovery_code: recoveryCode, new_password: newPassword };
  const email = $("counter-email").value.trim();
  const phone = $("counter-phone").value.trim();
  if (email) body.email = email;
  if (phone) body.phone = phone;
  try {
    await api("POST", "/auth/recovery/counter", { body });
    $("counter-form").reset();
    finishRecovery();
  } catch (error) {
    if (error.code === "invalid_recovery_code") {
      Page.fieldError(
        $("counter-code"),
        "Ce code ne correspond pas à ce numéro de sécurité sociale, ou il a déjà servi. Vérifiez le numéro et le code. Sinon, retournez au guichet.",
      );
    } else if (error.code === "weak_password") {
      Page.fieldError($("counter-password"), error.message);
    } else if (error.code === "too_many_attempts") {
      say(lockMessage(error), true);
    } else if (error.body && error.body.errors) {
      const known = {
        nir: "counter-nir",
        recovery_code: "counter-code",
        new_password: "counter-password",
        email: "counter-email",
        phone: "counter-phone",
      };
      if (!recoveryFieldError(error, known)) showError(error);
    } else showError(error);
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
  $("extend-sign-in").addEventListener("click", onExtendSignIn);
  $("channels").addEventListener("change", () => state.mfaToken && keepSignIn());
  $("end-all-sessions").addEventListener("click", onEndAllSessions);
  $("open-forgot").addEventListener("click", openForgot);
  $("forgot-form").addEventListener("submit", onForgot);
  $("reset-form").addEventListener("submit", onReset);
  $("reset-resend").addEventListener("click", onResendRecovery);
  $("open-counter").addEventListener("click", openCounter);
  $("counter-form").addEventListener("submit", onCounter);
  Page.passwordToggles();
  for (const link of document.querySelectorAll("[data-action='restart']")) {
    link.addEventListener("click", restart);
  }
  $("passkey-choice").hidden = !biometricsAvailable();
  Page.step("Connexion");
  if (!resumeSignIn()) armPasskeyAutofill();
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
