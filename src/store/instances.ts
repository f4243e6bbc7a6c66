/**
 * The server instances sharing a database. Each registers at start and refreshes its row; a
 * streaming reply records its instance, so an instance that starts (or sweeps) marks as
 * interrupted only the replies of instances that are gone: on this host, a process that no
 * longer exists; elsewhere, one silent for `STALE_INSTANCE_MS`.
 */
import { randomUUID } from "node:crypto";
import os from "node:os";
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";
import { isProcessAlive } from "../core/process-alive.js";

/** An instance elsewhere that has not refreshed its row for this long is taken for dead. */
export const STALE_INSTANCE_MS = 60_000;
/** How often a running instance refreshes its row. */
export const INSTANCE_HEARTBEAT_MS = 15_000;

export class InstanceRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Registers this process; returns its instance id. */
  async register(now = Date.now()): Promise<string> {
    const id = randomUUID();
    await this.db
      .insertInto("instances")
      .values({ id, hostname: os.hostname(), pid: process.pid, started_at: now, last_seen_at: now })
      .execute();
    return id;
  }

  async heartbeat(id: string, now = Date.now()): Promise<void> {
    await this.db.updateTable("instances").set({ last_seen_at: now }).where("id", "=", id).execute();
  }

  /** Removes an instance that stops cleanly. */
  async remove(id: string): Promise<void> {
    await this.db.deleteFrom("instances").where("id", "=", id).execute();
  }

  /** The ids of the instances still running; the rows of the others are removed. */
  async liveIds(now = Date.now()): Promise<string[]> {
    const rows = await this.db.selectFrom("instances").selectAll().execute();
    const host = os.hostname();
    const live: string[] = [];
    const dead: string[] = [];
    for (const row of rows) {
      const alive =
        row.hostname === host
          ? isProcessAlive(Number(row.pid))
          : Number(row.last_seen_at) > now - STALE_INSTANCE_MS;
      (alive ? live : dead).push(row.id);
    }
    if (dead.length > 0) await this.db.deleteFrom("instances").where("id", "in", dead).execute();
    return live;
  }
}
