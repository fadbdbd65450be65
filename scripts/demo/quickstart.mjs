// The quickstart commands `npm start` prints; README "Quickstart" shows the same ones.
import { EXAMPLE_MAPPINGS, SEED } from "./seed.mjs";

/** The body of the quickstart's create-sync request, pretty-printed for a shell here-string. */
export function exampleSyncBody() {
  const body = {
    name: SEED.sync,
    model_id: "MODEL_ID",
    destination_id: "DESTINATION_ID",
    mode: "upsert",
    schedule: { type: "interval", interval_minutes: 60 },
    field_mappings: EXAMPLE_MAPPINGS,
  };
  return JSON.stringify(body, null, 2)
    .replace(/\n {4}\{\n\s+("source": "[^"]+"),\n\s+("destination": "[^"]+")\n\s+\}/g, "\n    { $1, $2 }")
    .replace(/\{\n\s+("type": "interval"),\n\s+("interval_minutes": 60)\n\s+\}/, "{ $1, $2 }")
    .replace('"MODEL_ID"', `"'"$MODEL_ID"'"`)
    .replace('"DESTINATION_ID"', `"'"$DESTINATION_ID"'"`);
}

/** The shell lines that set the variables the commands use. */
export function exportLines({ base, token, modelId, destinationId, syncId }) {
  const lines = [`export API=${base}/api/v1 TOKEN=${token}`, `export MODEL_ID=${modelId} DESTINATION_ID=${destinationId}`];
  if (syncId) lines.push(`export SYNC_ID=${syncId}`);
  return lines;
}

/** The quickstart's commands: create the sync (unless it exists), trigger it, watch the run. */
export function quickstartCommands({ withCreate }) {
  const auth = `-H "Authorization: Bearer $TOKEN"`;
  const create = [
    "# 1. Create the example sync (upsert, every 60 minutes) and keep its id",
    `export SYNC_ID=$(curl -s -X POST "$API/syncs" ${auth} -H "Content-Type: application/json" -d '${exampleSyncBody()}' | jq -r .id)`,
    "echo $SYNC_ID",
    "",
  ];
  return [
    ...(withCreate ? create : []),
    "# 2. Run it now and keep the run's id",
    `export RUN_ID=$(curl -s -X POST "$API/syncs/$SYNC_ID/trigger" ${auth} | jq -r .id)`,
    "",
    "# 3. Watch the run: repeat until status is succeeded (a few seconds)",
    `curl -s "$API/syncs/$SYNC_ID/runs/$RUN_ID" ${auth} | jq '{status, phase, progress, rows_created, rows_updated, rows_deleted, rows_unchanged, rows_failed, duration_ms}'`,
  ];
}
