// What both « Mon Compte » pages share: the two live regions, errors tied to their
// fields, the page title, « Afficher le mot de passe », and delays said in plain French.
"use strict";

const Page = (() => {
  const byId = (id) => document.getElementById(id);
  let baseTitle = document.title;
  let stepTitle = "";

  // Two live regions, present and empty from the start so that screen readers already
  // watch them: "status" (polite) for what went well, "alert" (assertive) for problems.
  // Their roles never change; an old message is emptied first so that the same words
  // said twice are announced twice.
  const pending = new Map();

  // ``echo``: the same words are already on screen (a note, a warning): announce them
  // without showing them twice.
  function write(region, text, echo = false) {
    clearTimeout(pending.get(region.id));
    region.textContent = "";
    region.classList.remove("shown");
    region.classList.toggle("visually-hidden", echo);
    if (!text) return;
    // A moment later: an emptied-then-filled region is what screen readers announce.
    pending.set(
      region.id,
      setTimeout(() => {
        region.textContent = text;
        region.classList.add("shown");
      }, 50),
    );
  }

  function say(text, { echo = false } = {}) {
    write(byId("alert"), "");
    write(byId("message"), text, echo);
    title();
  }

  function alertText(text, { echo = false } = {}) {
    write(byId("message"), "");
    write(byId("alert"), text, echo);
    title(text);
  }

  function clear() {
    write(byId("message"), "");
    write(byId("alert"), "");
    clearFieldErrors();
    title();
  }

  // The title names the step, and starts with « Erreur : » while an error is shown.
  function title(error) {
    const parts = [];
    if (error) parts.push(`Erreur : ${error}`);
    if (stepTitle) parts.push(stepTitle);
    parts.push(baseTitle);
    document.title = parts.join(" - ");
  }

  function step(name) {
    stepTitle = name;
    title();
  }

  // --- errors tied to their fields ---------------------------------------------------

  function errorId(input) {
    return `${input.id}-error`;
  }

  function clearFieldError(input) {
    const shown = byId(errorId(input));
    if (shown) shown.remove();
    input.removeAttribute("aria-invalid");
    const described = (input.getAttribute("aria-describedby") || "")
      .split(" ")
      .filter((id) => id && id !== errorId(input));
    if (described.length) input.setAttribute("aria-describedby", described.join(" "));
    else input.removeAttribute("aria-describedby");
  }

  function clearFieldErrors(root = document) {
    for (const input of root.querySelectorAll("[aria-invalid='true']")) clearFieldError(input);
  }

  // Show the error under the field, link it (aria-invalid, aria-describedby), announce it,
  // and put the cursor back in the field so that it can be corrected at once.
  function fieldError(input, text) {
    clearFieldError(input);
    const shown = document.createElement("p");
    shown.id = errorId(input);
    shown.className = "field-error";
    shown.textContent = text;
    const field = input.closest(".field") || input.parentElement;
    const before = field.querySelector(`label[for='${input.id}']`);
    if (before && before.nextSibling) field.insertBefore(shown, before.nextSibling);
    else field.append(shown);
    input.setAttribute("aria-invalid", "true");
    const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    input.setAttribute("aria-describedby", [errorId(input), ...described].join(" "));
    alertText(text);
    input.focus();
  }

  // --- delays in plain French ---------------------------------------------------------

  const clock = new Intl.DateTimeFormat("fr-FR", { hour: "numeric", minute: "2-digit" });

  function plural(count, word) {
    return `${count} ${word}${count > 1 ? "s" : ""}`;
  }

  // 45 -> « 45 secondes », 700 -> « 12 minutes », 5400 -> « 1 heure et 30 minutes ».
  function delay(seconds) {
    const wait = Math.max(1, Math.ceil(seconds));
    if (wait < 60) return plural(wait, "seconde");
    const minutes = Math.ceil(wait / 60);
    if (minutes < 60) return plural(minutes, "minute");
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    return rest ? `${plural(hours, "heure")} et ${plural(rest, "minute")}` : plural(hours, "heure");
  }

  // « 14 h 32 »: the time a delay ends, as people read it on a clock.
  function at(epochMs) {
    return clock.format(new Date(epochMs)).replace(":", " h ");
  }

  // --- « Afficher le mot de passe » ---------------------------------------------------

  function passwordToggles(root = document) {
    for (const button of root.querySelectorAll("button[data-toggles]")) {
      button.addEventListener("click", () => {
        const input = byId(button.dataset.toggles);
        const showing = input.type === "text";
        input.type = showing ? "password" : "text";
        button.setAttribute("aria-pressed", String(!showing));
        input.focus();
      });
    }
  }

  function hidePasswords(root = document) {
    for (const button of root.querySelectorAll("button[data-toggles]")) {
      byId(button.dataset.toggles).type = "password";
      button.setAttribute("aria-pressed", "false");
    }
  }

  function setBaseTitle(text) {
    baseTitle = text;
    title();
  }

  return {
    say,
    alert: alertText,
    clear,
    step,
    fieldError,
    clearFieldErrors,
    delay,
    at,
    passwordToggles,
    hidePasswords,
    setBaseTitle,
  };
})();
