import type { RunRecord } from "./record";

/** Result of one step of a run. */
export interface StepResult {
  /** True when the run has reached a final status (set on `run.status`). */
  done: boolean;
}

/**
 * Advances `run` by one checkpointed step. NOT BUILT YET: the extract/diff/deliver/commit engine
 * lands with the run-engine issue; until then a run fails honestly instead of faking results.
 */
export async function advanceRun(_ctx: DurableObjectState, _env: Env, run: RunRecord): Promise<StepResult> {
  run.status = "failed";
  run.error = { code: "engine_not_built", message: "the run engine (extract, diff, deliver, commit) is not built yet" };
  return { done: true };
}

/** Deletes a finished run's temporary chunks. */
export async function discardRunData(_ctx: DurableObjectState, _env: Env, _run: RunRecord): Promise<void> {}

/** Deletes every snapshot object of a sync (permanent delete). */
export async function purgeSyncData(env: Env, syncId: string): Promise<void> {
  const prefix = `syncs/${syncId}/`;
  let cursor: string | undefined;
  do {
    const page = await env.SNAPSHOTS.list({ prefix, cursor });
    if (page.objects.length) await env.SNAPSHOTS.delete(page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
}
