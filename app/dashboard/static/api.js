// The GraphQL client: signs in with the contract's SignIn, keeps the session in this
// tab's sessionStorage, refreshes the access token before it expires (or once when the
// server says UNAUTHENTICATED) and turns every failure into an ApiError with a code.
"use strict";
window.Dashboard = window.Dashboard || {};
window.Dashboard.api = (() => {
  const KEY = "cashback.dashboard.session";
  const EARLY_MS = 30000; // refresh this long before the access token expires
  // Operations are sent by name with their hash alone (app/dashboard/documents.graphql):
  // trusted documents, which run even when the server accepts nothing else.
  const documents = window.Dashboard.documents;

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

  async function post(operationName, variables, token) {
    const sha256Hash = documents[operationName];
    if (!sha256Hash) throw new ApiError(`Unknown operation ${operationName}.`, "UNKNOWN_OPERATION");
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch("/graphql", {
        method: "POST",
        headers,
        body: JSON.stringify({
          operationName,
          variables,
          extensions: { persistedQuery: { version: 1, sha256Hash } },
        }),
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
    const data = await post("SignIn", { input: { email, password } });
    const error = refusal(data.signIn);
    if (error) throw error;
    store(data.signIn.session, email);
  }

  async function refreshNow() {
    const current = load();
    if (!current) throw new ApiError("Please sign in.", "UNAUTHENTICATED");
    const data = await post("RefreshSession", { refreshToken: current.refreshToken });
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

  async function query(operationName, variables) {
    try {
      return await post(operationName, variables, await accessToken());
    } catch (error) {
      if (error.code !== "UNAUTHENTICATED" || !load()) throw error;
      await refresh(); // the token was refused before its time (e.g. a clock skew)
      return post(operationName, variables, await accessToken());
    }
  }

  async function signOut() {
    const current = load();
    forget();
    if (!current) return;
    const data = await post("SignOut", { refreshToken: current.refreshToken, everywhere: false });
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
