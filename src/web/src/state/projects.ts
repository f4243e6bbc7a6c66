// The user's projects and custom instructions, and moving and pinning chats.
import { signal } from "@preact/signals";
import { projectApi } from "../api/client.ts";
import type { CustomInstructions, Project } from "../api/types.ts";
import { describeError, notice, replaceConversation } from "./chat.ts";

export const projects = signal<Project[]>([]);
/** Null until loaded. */
export const customInstructions = signal<CustomInstructions | null>(null);
/** Whether the custom instructions dialog is open (the sidebar and chat settings open it). */
export const instructionsOpen = signal(false);

export async function loadProjects(): Promise<void> {
  try {
    projects.value = (await projectApi.list()).data;
  } catch (error) {
    notice.value = describeError(error);
  }
}

export async function loadInstructions(): Promise<void> {
  try {
    customInstructions.value = await projectApi.instructions();
  } catch (error) {
    notice.value = describeError(error);
  }
}

export async function saveInstructions(instructions: CustomInstructions): Promise<boolean> {
  try {
    customInstructions.value = await projectApi.setInstructions(instructions);
    return true;
  } catch (error) {
    notice.value = describeError(error);
    return false;
  }
}

/** Creates a project and answers its id; undefined when it failed (the notice says why). */
export async function createProject(name: string): Promise<string | undefined> {
  try {
    const project = await projectApi.create(name);
    projects.value = [...projects.value, project].sort((a, b) => a.name.localeCompare(b.name));
    return project.id;
  } catch (error) {
    notice.value = describeError(error);
    return undefined;
  }
}

/** Keeps the list in step with a project changed or deleted on its page. */
export function replaceProject(project: Project | { id: string; deleted: true }): void {
  projects.value =
    "deleted" in project
      ? projects.value.filter((existing) => existing.id !== project.id)
      : projects.value.map((existing) => (existing.id === project.id ? project : existing));
}

export async function moveConversation(id: string, projectId: string | null): Promise<void> {
  try {
    replaceConversation(await projectApi.move(id, projectId));
  } catch (error) {
    notice.value = describeError(error);
  }
}

export async function pinConversation(id: string, pinned: boolean): Promise<void> {
  try {
    replaceConversation(await projectApi.pin(id, pinned));
  } catch (error) {
    notice.value = describeError(error);
  }
}
