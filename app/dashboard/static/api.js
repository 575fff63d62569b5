// The GraphQL client: signs in with the contract's SignIn, keeps the session in this
// tab's sessionStorage, refreshes the access token before it expires (or once when the
// server says UNAUTHENTICATED) and turns every failure into an ApiError with a code.
"use strict";
window.Dashboard = window.Dashboard || {};
window.Dashboard.api = (() => {
  const KEY = "cashback.dashboard.session";
  const EARLY_MS = 30000; // refresh this long before the access token expires
  const SESSION = "session { accessToken refreshToken accessTokenExpiresAt tokenType }";
  const SIGN_IN = `mutation SignIn($input: SignInInput!) {
    signIn(input: $input) { ${SESSION} userErrors { code field message } } }`;
  const REFRESH = `mutation RefreshSession($refreshToken: String!) {
    refreshSession(refreshToken: $refreshToken) { ${SESSION} userErrors { code field message } } }`;
  const SIGN_OUT = `mutation SignOut($refreshToken: String!, $everywhere: Boolean) {
    signOut(refreshToken: $refreshToken, everywhere: $everywhere) { userErrors { code field message } } }`;

  class ApiError extends Error {
    constructor(message, code) {
      super(message);
      this.name = "ApiError";
      this.code = code;
    }
  }

  let refreshing = null; // one refresh at a time, shared by concurrent calls

  function load() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY));
    } catch {
      return null;
    }
  }

  function store(session, email) {
    sessionStorage.setItem(KEY, JSON.stringify({ ...session, email }));
  }

  function forget() {
    sessionStorage.removeItem(KEY);
  }

  async function post(query, variables, token) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch("/graphql", {
        method: "POST",
        headers,
        body: JSON.stringify({ query, variables }),
        credentials: "omit",
        cache: "no-store",
      });
    } catch {
      throw new ApiError("The server could not be reached.", "NETWORK_ERROR");
    }
    let body;
    try {
      body = await response.json();
    } catch {
      throw new ApiError(`The server answered HTTP ${response.status}.`, "BAD_RESPONSE");
    }
    const error = (body.errors || [])[0];
    if (error) {
      throw new ApiError(error.message, (error.extensions || {}).code || "ERROR");
    }
    if (!response.ok || !body.data) {
      throw new ApiError(`The server answered HTTP ${response.status}.`, "BAD_RESPONSE");
    }
    return body.data;
  }

  function refusal(payload) {
    const first = (payload.userErrors || [])[0];
    return first ? new ApiError(first.message, first.code) : null;
  }

  async function signIn(email, password) {
    const data = await post(SIGN_IN, { input: { email, password } });
    const error = refusal(data.signIn);
    if (error) throw error;
    store(data.signIn.session, email);
  }

  async function refreshNow() {
    const current = load();
    if (!current) throw new ApiError("Please sign in.", "UNAUTHENTICATED");
    const data = await post(REFRESH, { refreshToken: current.refreshToken });
    const error = refusal(data.refreshSession);
    if (error) {
      forget();
      throw new ApiError("Your session has ended: please sign in again.", "UNAUTHENTICATED");
    }
    store(data.refreshSession.session, current.email);
  }

  function refresh() {
    refreshing = refreshing || refreshNow().finally(() => (refreshing = null));
    return refreshing;
  }

  async function accessToken() {
    const current = load();
    if (!current) throw new ApiError("Please sign in.", "UNAUTHENTICATED");
    if (Date.parse(current.accessTokenExpiresAt) - Date.now() < EARLY_MS) {
      await refresh();
    }
    return load().accessToken;
  }

  async function query(document, variables) {
    try {
      return await post(document, variables, await accessToken());
    } catch (error) {
      if (error.code !== "UNAUTHENTICATED" || !load()) throw error;
      await refresh(); // the token was refused before its time (e.g. a clock skew)
      return post(document, variables, await accessToken());
    }
  }

  async function signOut() {
    const current = load();
    forget();
    if (!current) return;
    const data = await post(SIGN_OUT, { refreshToken: current.refreshToken, everywhere: false });
    const error = refusal(data.signOut);
    if (error) throw error;
  }

  return {
    ApiError,
    signIn,
    signOut,
    query,
    email: () => (load() || {}).email || null,
    signedIn: () => load() !== null,
  };
})();
