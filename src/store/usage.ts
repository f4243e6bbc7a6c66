/**
 * The usage ledger: one row per request, and sums of it by user, key, model or day, or by day and
 * one of the others (the admin's chart).
 */
import { randomUUID } from "node:crypto";
import { sql, type Kysely, type RawBuilder } from "kysely";
import type { StoreDialect } from "./dialects.js";
import type { Database } from "./schema.js";

export interface UsageRecord {
  userId: string;
  /** Null for requests without a key (local mode, the chat app). */
  apiKeyId: string | null;
  model: string;
  /** Always `promptCacheHitTokens + promptCacheMissTokens`, as DeepSeek reports it. */
  promptTokens: number;
  promptCacheHitTokens: number;
  promptCacheMissTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  latencyMs: number;
  /** `ok`, or the error code the request ended with. */
  status: string;
  /** Where the token counts come from; default `engine`. */
  usageSource?: "engine" | "upstream" | "estimated";
  /** The upstream pool that answered, for upstream models. */
  upstream?: string | null;
  /** Default now. */
  createdAt?: Date;
}

export type UsageGrouping = "user" | "key" | "model" | "day";

export interface UsageFilter {
  userId?: string;
  apiKeyId?: string;
  model?: string;
  /** Inclusive. */
  since?: Date;
  /** Exclusive. */
  until?: Date;
}

export interface UsageTotals {
  requests: number;
  promptTokens: number;
  promptCacheHitTokens: number;
  promptCacheMissTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  /** prompt + completion. */
  totalTokens: number;
  latencyMs: number;
}

export interface UsageSummaryRow extends UsageTotals {
  /** The user id, key id (null for keyless requests), model, or UTC day (`YYYY-MM-DD`). */
  group: string | null;
}

export interface UsageDailyRow extends UsageTotals {
  /** The UTC day, `YYYY-MM-DD`. */
  day: string;
  /** The user id, key id (null for keyless requests) or model; null too when not split. */
  series: string | null;
}

export class UsageRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /** Appends the request to the ledger and adds it to its key's counters, in one transaction. */
  async record(usage: UsageRecord): Promise<void> {
    await this.db.transaction().execute(async (transaction) => {
      await transaction
        .insertInto("usage")
        .values({
          id: randomUUID(),
          user_id: usage.userId,
          api_key_id: usage.apiKeyId,
          model: usage.model,
          prompt_tokens: usage.promptTokens,
          prompt_cache_hit_tokens: usage.promptCacheHitTokens,
          prompt_cache_miss_tokens: usage.promptCacheMissTokens,
          completion_tokens: usage.completionTokens,
          reasoning_tokens: usage.reasoningTokens,
          latency_ms: Math.round(usage.latencyMs),
          status: usage.status,
          usage_source: usage.usageSource ?? "engine",
          upstream: usage.upstream ?? null,
          created_at: (usage.createdAt ?? new Date()).getTime(),
        })
        .execute();
      if (usage.apiKeyId !== null) {
        await transaction
          .updateTable("api_keys")
          .set((eb) => ({
            used_tokens: eb("used_tokens", "+", usage.promptTokens + usage.completionTokens),
            used_requests: eb("used_requests", "+", 1),
          }))
          .where("id", "=", usage.apiKeyId)
          .execute();
      }
    });
  }

  /** Sums of the ledger rows that pass `filter`, one row per group, in group order. */
  async summary(groupBy: UsageGrouping, filter: UsageFilter = {}): Promise<UsageSummaryRow[]> {
    const group = this.groupExpression(groupBy);
    // Keyless requests (a null group) last, on both engines (SQLite sorts nulls first, PostgreSQL last).
    const rows = await this.totalsOf(filter)
      .select(group.as("group"))
      .groupBy(group)
      .orderBy(sql`case when ${group} is null then 1 else 0 end`)
      .orderBy(group)
      .execute();
    return rows.map((row) => ({ group: row.group, ...toTotals(row) }));
  }

  /**
   * Sums per UTC day of the ledger rows that pass `filter`, split by `series` when given: one row
   * per day and series, days in order, a day's series as in `summary`. Days without rows are absent.
   */
  async daily(
    series: Exclude<UsageGrouping, "day"> | null,
    filter: UsageFilter = {},
  ): Promise<UsageDailyRow[]> {
    const day = this.dialect.utcDay(sql.ref<number>("created_at"));
    if (series === null) {
      const rows = await this.totalsOf(filter).select(day.as("day")).groupBy(day).orderBy(day).execute();
      return rows.map((row) => ({ day: row.day, series: null, ...toTotals(row) }));
    }
    const split = this.groupExpression(series);
    const rows = await this.totalsOf(filter)
      .select([day.as("day"), split.as("series")])
      .groupBy([day, split])
      .orderBy(day)
      .orderBy(sql`case when ${split} is null then 1 else 0 end`)
      .orderBy(split)
      .execute();
    return rows.map((row) => ({ day: row.day, series: row.series, ...toTotals(row) }));
  }

  private groupExpression(groupBy: UsageGrouping): RawBuilder<string | null> {
    switch (groupBy) {
      case "user":
        return sql.ref<string>("user_id");
      case "key":
        return sql.ref<string | null>("api_key_id");
      case "model":
        return sql.ref<string>("model");
      case "day":
        return this.dialect.utcDay(sql.ref<number>("created_at"));
    }
  }

  /** The sums of every ledger column over the rows that pass `filter`; callers add the grouping. */
  private totalsOf(filter: UsageFilter) {
    // Sums of bigint are numeric in PostgreSQL; cast back so both engines return integers.
    const total = (column: string) => sql<number>`cast(coalesce(sum(${sql.ref(column)}), 0) as bigint)`;
    let query = this.db
      .selectFrom("usage")
      .select([
        sql<number>`count(*)`.as("requests"),
        total("prompt_tokens").as("prompt_tokens"),
        total("prompt_cache_hit_tokens").as("prompt_cache_hit_tokens"),
        total("prompt_cache_miss_tokens").as("prompt_cache_miss_tokens"),
        total("completion_tokens").as("completion_tokens"),
        total("reasoning_tokens").as("reasoning_tokens"),
        total("latency_ms").as("latency_ms"),
      ]);
    if (filter.userId !== undefined) query = query.where("user_id", "=", filter.userId);
    if (filter.apiKeyId !== undefined) query = query.where("api_key_id", "=", filter.apiKeyId);
    if (filter.model !== undefined) query = query.where("model", "=", filter.model);
    if (filter.since !== undefined) query = query.where("created_at", ">=", filter.since.getTime());
    if (filter.until !== undefined) query = query.where("created_at", "<", filter.until.getTime());
    return query;
  }
}

interface TotalsRow {
  requests: number;
  prompt_tokens: number;
  prompt_cache_hit_tokens: number;
  prompt_cache_miss_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  latency_ms: number;
}

function toTotals(row: TotalsRow): UsageTotals {
  return {
    requests: Number(row.requests),
    promptTokens: Number(row.prompt_tokens),
    promptCacheHitTokens: Number(row.prompt_cache_hit_tokens),
    promptCacheMissTokens: Number(row.prompt_cache_miss_tokens),
    completionTokens: Number(row.completion_tokens),
    reasoningTokens: Number(row.reasoning_tokens),
    totalTokens: Number(row.prompt_tokens) + Number(row.completion_tokens),
    latencyMs: Number(row.latency_ms),
  };
}
