// Calls to the gateway's own APIs, with the keys this browser tab was given.
//
// Keys live in sessionStorage only (gone when the tab closes), never in localStorage.
// The page may sit under a path prefix (an API Gateway stage: /prod/ui), so every URL is
// built from the page's own path.

export const BASE = location.pathname.replace(/\/ui\/?$/, "");

export function url(path) {
  return BASE + path;
}

function stored(name) {
  return {
    get: () => sessionStorage.getItem(name),
    set: (value) => sessionStorage.setItem(name, value),
    clear: () => sessionStorage.removeItem(name),
  };
}

export const adminKey = stored("llm-agg.admin-key");
export const gatewayKey = stored("llm-agg.gateway-key");

// An OpenAI-shaped error from the gateway: {error: {message, type, param, code}}.
export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.type = error?.type;
    this.code = error?.code;
    this.param = error?.param;
  }

  get refused() {
    return this.status === 401 || this.status === 403;
  }
}

export async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's error page
  }
  return new ApiError(response.status, body?.error ?? { message: `${response.status} ${response.statusText}` });
}

function headers(key, json) {
  const out = {};
  if (key) out.authorization = `Bearer ${key}`;
  if (json) out["content-type"] = "application/json";
  return out;
}

async function call(path, { method = "GET", body, key, signal } = {}) {
  let response;
  try {
    response = await fetch(url(path), {
      method,
      headers: headers(key, body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { message: `The gateway could not be reached (${error.message}).` });
  }
  if (!response.ok) throw await errorOf(response);
  return response.status === 204 ? null : response.json();
}

// The admin API: a refused key is forgotten, and every admin view asks for it again.
export async function admin(path, options = {}) {
  const key = adminKey.get();
  try {
    return await call(path, { ...options, key });
  } catch (error) {
    if (error instanceof ApiError && error.refused) {
      adminKey.clear();
      document.dispatchEvent(new CustomEvent("admin-key-refused", { detail: error.message }));
    }
    throw error;
  }
}

// The client API (/v1), with the gateway key if this tab has one.
export function client(path, options = {}) {
  return call(path, { ...options, key: gatewayKey.get() });
}

export function clientHeaders() {
  return headers(gatewayKey.get(), true);
}

// Whether an admin key works, without keeping it unless it does.
export async function tryAdminKey(key) {
  await call("/admin/keys", { key });
  adminKey.set(key);
  document.dispatchEvent(new CustomEvent("admin-key-accepted"));
}
