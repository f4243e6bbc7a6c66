import type { FastifyInstance } from "fastify";
import { listAuditReports, readAuditReport } from "../../audit/report-files.js";
import { AUDIT_REPORT_CSP } from "../../audit/render-report.js";
import { QiusuoError } from "../../core/errors.js";
import { requireAdmin, type AppApiContext } from "./app-api.js";

/**
 * The reports `qiusuo audit` wrote to the data dir's audits/ (admins only): `GET /api/audits`
 * lists them, `GET /api/audits/:name` serves one as the self-contained page it is, under a CSP that
 * allows inline styles and nothing else (no script, no request anywhere). A name is checked against
 * the report pattern before any path is built, so `..` or a slash can never reach the disk.
 */
export function registerAuditRoutes(app: FastifyInstance, context: AppApiContext): void {
  app.get("/audits", async (request) => {
    requireAdmin(context.user(request));
    return { data: context.auditsDir ? await listAuditReports(context.auditsDir) : [] };
  });

  app.get<{ Params: { name: string } }>("/audits/:name", async (request, reply) => {
    requireAdmin(context.user(request));
    const { name } = request.params;
    const html = context.auditsDir ? await readAuditReport(context.auditsDir, name) : undefined;
    if (html === undefined) {
      throw new QiusuoError("not_found", "audit_report_not_found", `Audit report '${name}' does not exist.`);
    }
    return reply
      .header("content-type", "text/html; charset=utf-8")
      .header("content-security-policy", AUDIT_REPORT_CSP)
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer")
      .send(html);
  });
}
