// A local stand-in for FranceConnect+ v2, for the test suite only.
//
// panva's oidc-provider (the library FranceConnect's own back end is built on), configured
// the way FranceConnect+ v2 behaves: authorization code flow, client_secret_post, acr
// values eidas1 to eidas3, the pivot-identity claims, and id_token and userinfo signed
// (ES256 or RS256) and encrypted (ECDH-ES or RSA-OAEP, A256GCM) to the client's key.
//
//   node provider.mjs CONFIG.json
//
// CONFIG: {"port", "issuer", "clients": [client metadata...], "accounts": {id: claims}}.
// It prints "ready" once it listens. Clients may also be registered while it runs.
//
// The login page stands for the identity provider the person picks (France Identité,
// La Poste...): a form with the account and the level of assurance it vouches for, and a
// "cancel" button. It grants the requested scopes in the same step.
//
// /_test/* lets a test register a client, change an identity, or make the provider
// misbehave (a forged userinfo, a rotated key set): what an attacker in the middle or a
// provider incident would do.

import { readFileSync } from "node:fs";
import http from "node:http";

import * as jose from "jose";
import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const accounts = new Map(Object.entries(config.accounts || {}));
const ACR_VALUES = ["eidas1", "eidas2", "eidas3"];
const PIVOT_CLAIMS = [
  "given_name",
  "family_name",
  "birthdate",
  "gender",
  "birthplace",
  "birthcountry",
  "preferred_username",
];

async function signingKey(alg, kid) {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  return { ...(await jose.exportJWK(privateKey)), alg, kid, use: "sig" };
}

// The provider's own signing keys, new at each start, and the keys of an impostor.
const signingKeys = [await signingKey("ES256", "fcp-es256"), await signingKey("RS256", "fcp-rs256")];
const impostorKeys = [await signingKey("ES256", "fcp-es256"), await signingKey("RS256", "fcp-rs256")];

// How the provider misbehaves, set by the tests through /_test/mode.
const mode = { jwks: "genuine", userinfo: "genuine" };

const claims = { openid: ["sub"], acr: null, amr: null, auth_time: null, iss: null };
for (const claim of PIVOT_CLAIMS) claims[claim] = [claim];

const provider = new Provider(config.issuer, {
  clients: config.clients || [],
  jwks: { keys: signingKeys },
  acrValues: ACR_VALUES,
  claims,
  scopes: ["openid", ...PIVOT_CLAIMS],
  conformIdTokenClaims: true,
  cookies: { keys: [Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex")] },
  enabledJWA: {
    // HS256 too, so that a client registered with it shows the relying party refusing it.
    idTokenSigningAlgValues: ["ES256", "RS256", "HS256"],
    userinfoSigningAlgValues: ["ES256", "RS256", "HS256"],
  },
  features: {
    devInteractions: { enabled: false },
    encryption: { enabled: true },
    jwtUserinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
  async findAccount(ctx, id) {
    if (!accounts.has(id)) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...accounts.get(id) }) };
  },
  async renderError(ctx, out) {
    ctx.type = "json";
    ctx.body = out;
  },
});

function html(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks).toString("utf8");
  return req.headers["content-type"]?.startsWith("application/json")
    ? JSON.parse(body || "{}")
    : Object.fromEntries(new URLSearchParams(body));
}

function send(res, status, type, body) {
  res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store" });
  res.end(body);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, "text/plain", "wrong interaction");
  if (req.method === "GET" && !action) {
    const options = ACR_VALUES.map((acr) => `<option>${acr}</option>`).join("");
    return send(
      res,
      200,
      "text/html; charset=utf-8",
      `<!doctype html><title>Identification</title>
<form method="post" action="/interaction/${html(uid)}/login">
<label>Identifiant <input name="login"></label>
<label>Niveau <select name="acr">${options}</select></label>
<button>Se connecter</button></form>
<form method="post" action="/interaction/${html(uid)}/abort"><button>Annuler</button></form>
<p>requested acr_values: ${html(details.params.acr_values || "")}</p>`,
    );
  }
  if (req.method === "POST" && action === "abort") {
    return provider.interactionFinished(req, res, {
      error: "access_denied",
      error_description: "The person cancelled at the identity provider",
    });
  }
  if (req.method === "POST" && action === "login") {
    const form = await readForm(req);
    if (!accounts.has(form.login)) return send(res, 400, "text/plain", "unknown account");
    const grant = new provider.Grant({ accountId: form.login, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, {
      login: { accountId: form.login, acr: form.acr || "eidas2", amr: ["pwd"], remember: false },
      consent: { grantId },
    });
  }
  return send(res, 405, "text/plain", "method not allowed");
}

// A userinfo answer an attacker would craft: signed with a key that is not the provider's
// (under the provider's key id), or a genuine-looking one for somebody else.
async function craftedUserinfo(req, res) {
  const token = (req.headers.authorization || "").replace(/^Bearer /, "");
  const accessToken = await provider.AccessToken.find(token);
  if (!accessToken) return send(res, 401, "application/json", '{"error":"invalid_token"}');
  const client = await provider.Client.find(accessToken.clientId);
  const victim = accessToken.accountId;
  if (mode.userinfo === "unencrypted") {
    return send(res, 200, "application/json", JSON.stringify({ sub: victim, ...accounts.get(victim) }));
  }
  const forged = mode.userinfo === "forged";
  const claimsOut = forged
    ? { sub: victim, ...accounts.get(victim), given_name: "Mallory" }
    : { sub: "someone-else", ...accounts.get(victim) };
  const alg = client.metadata().userinfo_signed_response_alg;
  const keys = forged ? impostorKeys : signingKeys;
  const jwk = keys.find((key) => key.alg === alg);
  const signed = await new jose.SignJWT({ ...claimsOut, iss: config.issuer, aud: client.clientId })
    .setProtectedHeader({ alg, kid: jwk.kid, typ: "JWT" })
    .sign(await jose.importJWK(jwk, alg));
  const encAlg = client.metadata().userinfo_encrypted_response_alg;
  const recipient = client.metadata().jwks.keys.find((key) =>
    encAlg.startsWith("ECDH") ? key.kty === "EC" : key.kty === "RSA",
  );
  const encrypted = await new jose.CompactEncrypt(new TextEncoder().encode(signed))
    .setProtectedHeader({ alg: encAlg, enc: "A256GCM", kid: recipient.kid, cty: "JWT" })
    .encrypt(await jose.importJWK(recipient, encAlg));
  return send(res, 200, "application/jwt; charset=utf-8", encrypted);
}

async function testControl(req, res, path) {
  if (req.method === "PUT" && path === "/_test/mode") {
    Object.assign(mode, { jwks: "genuine", userinfo: "genuine" }, await readForm(req));
    return send(res, 200, "application/json", JSON.stringify(mode));
  }
  const account = path.match(/^\/_test\/accounts\/([^/]+)$/);
  if (req.method === "PUT" && account) {
    accounts.set(decodeURIComponent(account[1]), await readForm(req));
    return send(res, 204, "text/plain", "");
  }
  const client = path.match(/^\/_test\/clients\/([^/]+)$/);
  if (req.method === "PUT" && client) {
    const clientId = decodeURIComponent(client[1]);
    const metadata = { ...(await readForm(req)), client_id: clientId };
    await provider.Client.validate(metadata);
    await provider.Client.adapter.upsert(clientId, metadata);
    return send(res, 204, "text/plain", "");
  }
  return send(res, 404, "text/plain", "not found");
}

const oidc = provider.callback();

const server = http.createServer(async (req, res) => {
  const { pathname } = new URL(req.url, config.issuer);
  try {
    const step = pathname.match(/^\/interaction\/([^/]+)(?:\/(login|abort))?$/);
    if (step) return await interaction(req, res, step[1], step[2]);
    if (pathname.startsWith("/_test/")) return await testControl(req, res, pathname);
    if (pathname === "/jwks" && mode.jwks === "rotated") {
      // Keys the provider does not sign with: its tokens no longer match its key set.
      const published = impostorKeys.map(({ d, p, q, dp, dq, qi, kid, ...pub }) => ({
        ...pub,
        kid: `${kid}-rotated`,
      }));
      return send(res, 200, "application/json", JSON.stringify({ keys: published }));
    }
    if (pathname === "/me" && mode.userinfo !== "genuine") return await craftedUserinfo(req, res);
    return oidc(req, res);
  } catch (error) {
    send(res, 500, "text/plain", String(error && error.stack));
  }
});

server.listen(config.port, "127.0.0.1", () => console.log("ready"));
// Stop at once: idle keep-alive connections must not hold the test run.
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
