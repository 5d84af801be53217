// A small typed client over the types openapi-typescript generates from openapi/openapi.json.
// CI compiles it under `tsc --strict`: if the spec stops describing these calls the way a
// front-end team uses them, the build fails here first.
import type { components, paths } from "./generated/karvon";

type Problem = components["schemas"]["Problem"];
type Json<T> = { content: { "application/json": T } };
type RequestOf<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody?: Json<infer B>;
}
  ? B
  : never;
type ResponseOf<P extends keyof paths, M extends keyof paths[P], S extends number> =
  paths[P][M] extends { responses: { [K in S]: Json<infer R> } } ? R : never;

export class KarvonError extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
  }
}

export class Karvon {
  constructor(
    private readonly base: string,
    private token?: string,
  ) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(`${this.base}${path}`, init);
    if (!response.ok) throw new KarvonError((await response.json()) as Problem);
    return (await response.json()) as T;
  }

  async login(body: RequestOf<"/api/v1/auth/login", "post">) {
    const tokens = await this.call<ResponseOf<"/api/v1/auth/login", "post", 200>>(
      "POST",
      "/api/v1/auth/login",
      body,
    );
    this.token = tokens.access_token;
    return tokens;
  }

  registerMigrant(body: RequestOf<"/api/v1/migrants", "post">) {
    return this.call<ResponseOf<"/api/v1/migrants", "post", 201>>("POST", "/api/v1/migrants", body);
  }

  openCase(body: RequestOf<"/api/v1/cases", "post">) {
    return this.call<ResponseOf<"/api/v1/cases", "post", 201>>("POST", "/api/v1/cases", body);
  }

  logConsultation(body: RequestOf<"/api/v1/consultations", "post">) {
    return this.call<ResponseOf<"/api/v1/consultations", "post", 201>>(
      "POST",
      "/api/v1/consultations",
      body,
    );
  }

  async openCases(cursor?: string) {
    const query = new URLSearchParams({ status: "open", limit: "50" });
    if (cursor !== undefined) query.set("cursor", cursor);
    return this.call<ResponseOf<"/api/v1/cases", "get", 200>>("GET", `/api/v1/cases?${query}`);
  }
}

/// What a walk-in desk does: register a person, open a case, log the consultation.
export async function walkIn(api: Karvon): Promise<string> {
  const migrant = await api.registerMigrant({
    given_name: "Gulru",
    family_name: "Jabborzoda",
    sex: "female",
    birth_year: 1996,
    nationality: "TJ",
    migration_status: "prospective",
    vulnerabilities: [],
    consent: { services: true, referral_sharing: true, statistics: true },
  });
  const opened = await api.openCase({ migrant_id: migrant.id, summary: "Pre-departure advice" });
  await api.logConsultation({
    case_id: opened.id,
    occurred_at: new Date().toISOString(),
    channel: "walk_in",
    duration_minutes: 30,
    topics: ["pre_departure", "legal_documents"],
    language: "tg",
    notes: "Explained the work permit steps.",
  });
  const page = await api.openCases();
  return page.items.map((item) => item.id).join(",");
}
