/**
 * The end-to-end check of a destination's sync modes, shared by the delivery and destination
 * tests: a customers table, a model, a destination and a sync through the API; a run; the changes
 * of changeModel (5 inserts, 6 updates, 4 deletes); a second run. After each run the destination
 * must hold what the mode implies (expectedRows) and the run must count what it did.
 */
import { expect } from "vitest";
import type { Run } from "./api";
import {
  changeModel,
  createSync,
  customersTable,
  expectedRows,
  type Mode,
  modelNow,
  modelOf,
  type Rows,
  runErrors,
  runSync,
  SECOND_RUN_COUNTS,
} from "./run";

/** The destination field each column of the customers table goes to. */
type CustomerFields = { email: string; name: string; plan: string; score: string };

/** A destination made for one exercise: its id and how to read back what it holds (as {@link Rows}). */
export interface TargetDestination {
  destinationId: string;
  read: () => Promise<Rows>;
  /** Checks of the destination's own, after the last run. */
  extra?: () => Promise<void>;
}

/** A destination type under test: its mapping and how to make a fresh destination of it through the API. */
export interface ModesTarget<D extends TargetDestination = TargetDestination> {
  fields: CustomerFields;
  /** Where the model's key column goes too, when the destination matches records by a mapped field (HubSpot's id_property). */
  keyField?: string;
  create(): Promise<D>;
}

/** What {@link exerciseModes} went through, for a test's own checks of the destination afterwards. */
export interface ModesExercise<D extends TargetDestination> {
  destination: D;
  syncId: string;
  table: string;
  first: Run;
  second: Run;
}

const N = 40;

async function syncTo(target: ModesTarget, table: string, destinationId: string, mode: Mode): Promise<string> {
  const mappings = (["email", "name", "plan", "score"] as const).map((source) => ({ source, destination: target.fields[source] }));
  const keyMapping = target.keyField ? { field_mappings: [...mappings, { source: "id", destination: target.keyField }] } : {};
  return createSync(await modelOf(table), destinationId, mode, target.fields, keyMapping);
}

/** Syncs a table of 40 customers in one mode, changes it and syncs again: the destination must equal what the mode implies after each run. */
export async function exerciseModes<D extends TargetDestination>(
  target: ModesTarget<D>,
  mode: Exclude<Mode, "update">,
): Promise<ModesExercise<D>> {
  const table = await customersTable(N);
  const before = await modelNow(table);
  const destination = await target.create();
  const { read } = destination;
  const syncId = await syncTo(target, table, destination.destinationId, mode);

  const first = await runSync(syncId);
  expect(first, `${mode} run 1: ${JSON.stringify(first)}`).toMatchObject({ status: "succeeded", rows_created: N, rows_failed: 0 });
  expect(await read(), `${mode} after run 1`).toEqual(before);

  await changeModel(table, N);
  const after = await modelNow(table);
  const second = await runSync(syncId);
  expect(second, `${mode} run 2: ${JSON.stringify(second)}`).toMatchObject({
    status: "succeeded",
    rows_failed: 0,
    ...SECOND_RUN_COUNTS[mode],
  });
  const expected = expectedRows(mode, before, after);
  expect(await read(), `${mode} after run 2`).toEqual(expected);
  // The expectation itself differs by mode (so each assertion can tell modes apart): only mirror
  // removed the 4 deleted keys, only append kept the changed rows as they were.
  expect("31" in expected, mode).toBe(mode !== "mirror");
  if (mode !== "mirror") expect(expected["31"], mode).toEqual(before["31"]);
  if (mode === "append") expect(expected["11"]?.plan).not.toBe("enterprise");
  await destination.extra?.();
  return { destination, syncId, table, first, second };
}

/**
 * Update mode: an upsert sync of half the customers puts their records at the destination; an
 * update sync of all of them updates those and creates nothing. The others fail as `not_found`
 * once, and are sent again only when they change.
 */
export async function exerciseUpdate(target: ModesTarget): Promise<void> {
  const half = N / 2;
  const seedTable = await customersTable(half);
  const table = await customersTable(N);
  const { destinationId, read, extra } = await target.create();
  const seed = await syncTo(target, seedTable, destinationId, "upsert");
  expect(await runSync(seed)).toMatchObject({ status: "succeeded", rows_created: half });
  const held = await read();
  expect(Object.keys(held)).toHaveLength(half);

  const syncId = await syncTo(target, table, destinationId, "update");
  const first = await runSync(syncId);
  expect(first, JSON.stringify(first)).toMatchObject({ status: "partial", rows_created: 0, rows_updated: half, rows_failed: N - half });
  const errors = await runErrors(syncId, first.id);
  expect(new Set(errors.map((e) => e.code))).toEqual(new Set(["not_found"]));
  expect(errors.map((e) => Number(e.primary_key)).sort((a, b) => a - b)).toEqual(Array.from({ length: N - half }, (_, i) => half + 1 + i));
  expect(await read(), "nothing created").toEqual(held);

  // Nothing changed: the records that were not found are not tried again.
  expect(await runSync(syncId)).toMatchObject({ status: "succeeded", rows_updated: 0, rows_failed: 0 });

  const before = await modelNow(table);
  await changeModel(table, N);
  const after = await modelNow(table);
  const third = await runSync(syncId);
  // 11-16 changed and are held: updated. 41-45 are new and not held: not found. 31-34 left the model: kept.
  expect(third, JSON.stringify(third)).toMatchObject({
    status: "partial",
    rows_created: 0,
    rows_updated: 6,
    rows_deleted: 0,
    rows_failed: 5,
  });
  const expected = expectedRows("update", held, after);
  expect(expected["11"]?.plan).toBe("enterprise");
  expect(expected["41"]).toBeUndefined();
  expect(before["11"]?.plan).not.toBe("enterprise");
  expect(await read(), "after the changes").toEqual(expected);
  await extra?.();
}
