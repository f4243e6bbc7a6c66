/**
 * Projects (folders of conversations with their own instructions and files) and each user's
 * custom instructions. As with conversations, every method acts only on the given user's rows:
 * another user's project answers exactly as a missing one does.
 */
import { createHash, randomUUID } from "node:crypto";
import type { Kysely, Selectable } from "kysely";
import type { Database, ProjectFilesTable, ProjectsTable } from "./schema.js";

export interface Project {
  id: string;
  name: string;
  /** Added to the system prompt of every reply in the project; empty when none. */
  instructions: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
}

/** A project's file without its text, as lists show it. */
export interface ProjectFileInfo {
  id: string;
  name: string;
  /** The extracted text's size in UTF-8 bytes. */
  bytes: number;
  /** sha256 (hex) of the text. */
  sha256: string;
  createdAt: number;
}

export interface ProjectDetail extends Project {
  files: ProjectFileInfo[];
  /** How many conversations are in it. */
  conversations: number;
}

export interface CustomInstructions {
  /** What qiusuo should know about the user; empty when unset. */
  aboutUser: string;
  /** How qiusuo should answer; empty when unset. */
  responseStyle: string;
  /** Whether replies get them; they are kept while off. */
  enabled: boolean;
}

/** What a reply in a project is given: its instructions and its files' text. */
export interface ProjectContext {
  id: string;
  instructions: string;
  files: Array<{ name: string; text: string; sha256: string }>;
}

/** What happens to a deleted project's conversations. */
export type ProjectChatsOnDelete = "keep" | "delete";

const projectColumns = ["id", "name", "instructions", "created_at", "updated_at"] as const;
const fileInfoColumns = ["id", "name", "bytes", "sha256", "created_at"] as const;

export class ProjectRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(userId: string, project: { name: string; instructions?: string }): Promise<Project> {
    const now = Date.now();
    const row = {
      id: randomUUID(),
      user_id: userId,
      name: project.name,
      instructions: project.instructions ?? "",
      created_at: now,
      updated_at: now,
    };
    await this.db.insertInto("projects").values(row).execute();
    return toProject(row);
  }

  /** The user's projects, by name. */
  async list(userId: string): Promise<Project[]> {
    const rows = await this.db
      .selectFrom("projects")
      .select(projectColumns)
      .where("user_id", "=", userId)
      .orderBy("name")
      .orderBy("id")
      .execute();
    return rows.map(toProject);
  }

  async get(userId: string, id: string): Promise<ProjectDetail | undefined> {
    const row = await this.own(userId, id);
    if (!row) return undefined;
    const [files, count] = await Promise.all([
      this.db
        .selectFrom("project_files")
        .select(fileInfoColumns)
        .where("project_id", "=", id)
        .orderBy("created_at")
        .orderBy("id")
        .execute(),
      this.db
        .selectFrom("conversations")
        .select((eb) => eb.fn.countAll<number>().as("count"))
        .where("project_id", "=", id)
        .executeTakeFirstOrThrow(),
    ]);
    return { ...toProject(row), files: files.map(toFileInfo), conversations: Number(count.count) };
  }

  async update(
    userId: string,
    id: string,
    changes: { name?: string; instructions?: string },
  ): Promise<Project | undefined> {
    const row = await this.own(userId, id);
    if (!row) return undefined;
    const updated = {
      ...row,
      name: changes.name ?? row.name,
      instructions: changes.instructions ?? row.instructions,
      updated_at: Date.now(),
    };
    await this.db
      .updateTable("projects")
      .set({ name: updated.name, instructions: updated.instructions, updated_at: updated.updated_at })
      .where("id", "=", id)
      .where("user_id", "=", userId)
      .execute();
    return toProject(updated);
  }

  /**
   * Deletes the project and its files. Its conversations are kept, moved out of any project,
   * unless `chats` is `delete`. False when the user has no such project.
   */
  async delete(userId: string, id: string, chats: ProjectChatsOnDelete): Promise<boolean> {
    return this.db.transaction().execute(async (transaction) => {
      const project = await transaction
        .selectFrom("projects")
        .select("id")
        .where("id", "=", id)
        .where("user_id", "=", userId)
        .executeTakeFirst();
      if (!project) return false;
      if (chats === "delete") {
        await transaction
          .deleteFrom("conversations")
          .where("project_id", "=", id)
          .where("user_id", "=", userId)
          .execute();
      }
      // The foreign key sets the kept conversations' project_id to null.
      const result = await transaction
        .deleteFrom("projects")
        .where("id", "=", id)
        .where("user_id", "=", userId)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  /**
   * Adds files to the project, all or none: `fits` sees the files the project has and the new
   * ones and throws when they are too many or too large. Undefined when there is no such project.
   */
  async addFiles(
    userId: string,
    projectId: string,
    files: ReadonlyArray<{ name: string; text: string }>,
    fits: (existing: readonly ProjectFileInfo[], added: ReadonlyArray<{ bytes: number }>) => void,
  ): Promise<ProjectFileInfo[] | undefined> {
    return this.db.transaction().execute(async (transaction) => {
      const now = Date.now();
      // Writing the project's row first takes its lock (PostgreSQL), so two additions at once
      // are checked against the limits one after the other, each seeing the other's files.
      const touched = await transaction
        .updateTable("projects")
        .set({ updated_at: now })
        .where("id", "=", projectId)
        .where("user_id", "=", userId)
        .executeTakeFirst();
      if (Number(touched.numUpdatedRows) === 0) return undefined;
      const existing = await transaction
        .selectFrom("project_files")
        .select(fileInfoColumns)
        .where("project_id", "=", projectId)
        .execute();
      const rows = files.map((file) => ({
        id: randomUUID(),
        project_id: projectId,
        name: file.name,
        text: file.text,
        sha256: textSha256(file.text),
        bytes: Buffer.byteLength(file.text, "utf8"),
        created_at: now,
      }));
      fits(existing.map(toFileInfo), rows);
      if (rows.length > 0) await transaction.insertInto("project_files").values(rows).execute();
      return rows.map(toFileInfo);
    });
  }

  /** Removes one file; false when the user's project has no such file. */
  async removeFile(userId: string, projectId: string, fileId: string): Promise<boolean> {
    if (!(await this.own(userId, projectId))) return false;
    const result = await this.db
      .deleteFrom("project_files")
      .where("id", "=", fileId)
      .where("project_id", "=", projectId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** What a reply in the project is given; undefined when the user has no such project. */
  async context(userId: string, projectId: string): Promise<ProjectContext | undefined> {
    const row = await this.own(userId, projectId);
    if (!row) return undefined;
    const files = await this.db
      .selectFrom("project_files")
      .select(["name", "text", "sha256"])
      .where("project_id", "=", projectId)
      .orderBy("created_at")
      .orderBy("id")
      .execute();
    return { id: row.id, instructions: row.instructions, files };
  }

  /**
   * The text of a file of one of the user's projects whose text has this SHA-256, so a replay
   * finds what a reply was given while any project still holds it; undefined when none does.
   */
  async fileText(userId: string, sha256: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom("project_files")
      .innerJoin("projects", "projects.id", "project_files.project_id")
      .select("project_files.text")
      .where("projects.user_id", "=", userId)
      .where("project_files.sha256", "=", sha256)
      .executeTakeFirst();
    return row?.text;
  }

  /** The user's custom instructions; empty and off when never set. */
  async instructions(userId: string): Promise<CustomInstructions> {
    const row = await this.db
      .selectFrom("user_instructions")
      .select(["about_user", "response_style", "enabled"])
      .where("user_id", "=", userId)
      .executeTakeFirst();
    if (!row) return { aboutUser: "", responseStyle: "", enabled: false };
    return {
      aboutUser: row.about_user,
      responseStyle: row.response_style,
      enabled: Number(row.enabled) === 1,
    };
  }

  async setInstructions(userId: string, instructions: CustomInstructions): Promise<CustomInstructions> {
    const values = {
      about_user: instructions.aboutUser,
      response_style: instructions.responseStyle,
      enabled: instructions.enabled ? 1 : 0,
      updated_at: Date.now(),
    };
    await this.db
      .insertInto("user_instructions")
      .values({ user_id: userId, ...values })
      .onConflict((conflict) => conflict.column("user_id").doUpdateSet(values))
      .execute();
    return instructions;
  }

  private own(userId: string, id: string) {
    return this.db
      .selectFrom("projects")
      .select(projectColumns)
      .where("id", "=", id)
      .where("user_id", "=", userId)
      .executeTakeFirst();
  }
}

/** sha256 (hex) of a text's UTF-8 bytes. */
export function textSha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

function toProject(row: Pick<Selectable<ProjectsTable>, (typeof projectColumns)[number]>): Project {
  return {
    id: row.id,
    name: row.name,
    instructions: row.instructions,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function toFileInfo(
  row: Pick<Selectable<ProjectFilesTable>, (typeof fileInfoColumns)[number]>,
): ProjectFileInfo {
  return {
    id: row.id,
    name: row.name,
    bytes: Number(row.bytes),
    sha256: row.sha256,
    createdAt: Number(row.created_at),
  };
}
