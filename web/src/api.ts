// The service's HTTP API: JSON in and out, bearer token, errors as
// `{"message": "field: reason"}`.

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public body: any,
  ) {
    super(message);
  }
}

export class Api {
  token: string | null = null;

  constructor(public base = '') {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { ...extra };
    if (this.token) h['Authorization'] = `Bearer ${this.token}`;
    return h;
  }

  async request<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method, headers: this.headers() };
    if (body !== undefined) {
      (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(this.base + path, init);
    const text = await resp.text();
    let parsed: any = text;
    if ((resp.headers.get('content-type') || '').includes('json') && text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        /* keep the text */
      }
    }
    if (!resp.ok) {
      const msg = (parsed && parsed.message) || `${resp.status} ${resp.statusText}`;
      throw new ApiError(resp.status, msg, parsed);
    }
    return parsed as T;
  }

  get<T = any>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T = any>(path: string, body?: unknown) {
    return this.request<T>('POST', path, body);
  }
  put<T = any>(path: string, body?: unknown) {
    return this.request<T>('PUT', path, body);
  }
  del<T = any>(path: string) {
    return this.request<T>('DELETE', path);
  }
}

/// The claims of a JWT, unverified: the UI only needs `sub` for display
/// and to tell own entities from others' (the service checks the token).
export function jwtClaims(token: string): Record<string, any> | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    return JSON.parse(json);
  } catch {
    return null;
  }
}
