// @ts-check
// The API's response shapes as the console reads them: JSDoc mirrors of the zod schemas in
// src/routes/*/schema.ts (Sync, Schedule, FieldMapping), src/routes/syncs/run-schema.ts (Run),
// src/routes/syncs/runs.ts (RowError) and src/api/openapi.ts (error details, list pages). Types only.

/** A sync's state (SYNC_STATUSES, src/sync/lifecycle.ts). @typedef {"created" | "active" | "paused" | "error" | "archived"} SyncStatus */
/** What a sync does with each change (SYNC_MODES, src/sync/mode.ts). @typedef {"upsert" | "mirror" | "append" | "update"} SyncMode */

// The run vocabulary: RUN_STATUSES, RUN_TRIGGERS and RUN_PHASES of the API's Run schema.
/**
 * A run's state; the last four are final.
 * @typedef {"queued" | "running" | "succeeded" | "partial" | "failed" | "cancelled"} RunStatus
 */
/** What started a run. @typedef {"schedule" | "manual" | "webhook"} RunTrigger */
/** The step a run is in, as the API shows it. @typedef {"queued" | "extract" | "diff" | "deliver" | "commit" | "done"} RunPhase */

/**
 * When a sync runs on its own.
 * @typedef {{ type: "manual" }
 *   | { type: "interval", interval_minutes: number }
 *   | { type: "cron", expression: string, timezone: string }} Schedule
 */

/**
 * A destination field filled from a model column, a constant (any JSON value) or a Liquid template.
 * @typedef {{ source: string, destination: string }
 *   | { static: unknown, destination: string }
 *   | { template: string, destination: string }} FieldMapping
 */

/**
 * What a trigger asks of its run.
 * @typedef {{ full_resync?: boolean, allow_mass_delete?: boolean, dry_run?: boolean }} RunOptions
 */

/**
 * One run of a sync. `progress` holds live counters (rows_read, partitions, partitions_diffed,
 * batches_sent, batches_acknowledged, partitions_committed) and a dry run's planned_* counts.
 * @typedef {object} Run
 * @property {string} id
 * @property {string} sync_id
 * @property {RunStatus} status
 * @property {RunTrigger} trigger
 * @property {RunPhase} phase
 * @property {Record<string, number>} progress
 * @property {RunOptions} options
 * @property {string | null} started_at
 * @property {string | null} finished_at
 * @property {number | null} duration_ms
 * @property {number} rows_processed
 * @property {number} rows_created
 * @property {number} rows_updated
 * @property {number} rows_deleted
 * @property {number} rows_unchanged
 * @property {number} rows_failed
 * @property {{ code: string, message: string } | null} error
 * @property {string} created_at
 */

/**
 * What an update carries: every mapped field, or only the changed ones.
 * @typedef {"all_fields" | "changed_fields"} SendFields
 */

/**
 * Whether null fields are sent or left out.
 * @typedef {"send" | "skip"} NullValues
 */

/**
 * A sync with its last run.
 * @typedef {object} Sync
 * @property {string} id
 * @property {string} name
 * @property {string} model_id
 * @property {string} destination_id
 * @property {SyncMode} mode
 * @property {Schedule} schedule
 * @property {FieldMapping[]} field_mappings
 * @property {number} mass_delete_threshold_pct
 * @property {number} max_run_minutes
 * @property {SendFields} send
 * @property {NullValues} null_values
 * @property {AlertRules} alerts
 * @property {SyncStatus} status
 * @property {string | null} status_reason
 * @property {string | null} next_run_at
 * @property {Run | null} last_run
 * @property {string} trigger_url
 * @property {string} created_at
 * @property {string} updated_at
 */

/**
 * The body of POST /syncs (PUT /syncs/{id} takes the same fields but `paused`).
 * @typedef {object} SyncBody
 * @property {string} name
 * @property {string} model_id
 * @property {string} destination_id
 * @property {SyncMode} mode
 * @property {Schedule} schedule
 * @property {FieldMapping[]} field_mappings
 * @property {number} mass_delete_threshold_pct
 * @property {number} [max_run_minutes]
 * @property {SendFields} [send]
 * @property {NullValues} [null_values]
 * @property {AlertRules | null} [alerts]
 * @property {boolean} [paused]
 */

/**
 * A sync's alert rules (src/alerts/rules.ts); `channel_ids` null: the workspace's default channels,
 * a null threshold: never.
 * @typedef {object} AlertRules
 * @property {string[] | null} channel_ids
 * @property {boolean} on_failure
 * @property {boolean} on_error_state
 * @property {boolean} on_recovery
 * @property {number | null} rows_failed_pct
 * @property {number | null} row_count_change_pct
 * @property {number | null} late_minutes
 * @property {number | null} max_duration_minutes
 */

/** An alert channel's type. @typedef {"webhook" | "slack" | "email" | "pagerduty"} AlertChannelType */

/**
 * An alert channel (src/routes/alert-channels/schema.ts); secret config fields come masked.
 * `signing_secret` only in the answer of its creation (webhook channels).
 * @typedef {object} AlertChannel
 * @property {string} id
 * @property {string} name
 * @property {AlertChannelType} type
 * @property {Record<string, unknown>} config
 * @property {boolean} default
 * @property {string | null} last_sent_at
 * @property {string | null} last_error
 * @property {string | null} last_error_at
 * @property {string} created_at
 * @property {string} updated_at
 * @property {string} [signing_secret]
 */

/** The body of POST /alert-channels. @typedef {{ name: string, type: AlertChannelType, config: Record<string, unknown>, default?: boolean }} AlertChannelBody */

/** The answer of POST /syncs/{id}/trigger-secret, shown once. @typedef {{ trigger_url: string, secret: string }} TriggerSecret */

/** A model column; `type` is the Postgres type name, e.g. "int8". @typedef {{ name: string, type: string }} ModelColumn */

/**
 * @typedef {object} Model
 * @property {string} id
 * @property {string} name
 * @property {string} source_id
 * @property {string} sql
 * @property {string} primary_key
 * @property {ModelColumn[]} columns
 * @property {string} created_at
 * @property {string} updated_at
 */

/**
 * A model's body (POST /models; PUT takes any of these fields).
 * @typedef {{ name: string, source_id: string, sql: string, primary_key: string }} ModelBody
 */

/**
 * The first rows of a query and its columns; with field mappings, each row as a sync sends it.
 * @typedef {{ columns: ModelColumn[], rows: Record<string, unknown>[], mapped?: ({ fields: Record<string, unknown> } | { error: string })[] }} Preview
 */

/**
 * A source: `config` holds the type's non-secret settings; `connection_string` comes masked.
 * @typedef {object} Source
 * @property {string} id
 * @property {string} name
 * @property {string} type
 * @property {string} connection_string
 * @property {Record<string, unknown>} config
 * @property {string} created_at
 * @property {string} updated_at
 */

/**
 * The answer of POST /sources/{id}/test.
 * @typedef {{ ok: boolean, latency_ms?: number, server_version?: string, error?: { code: string, message: string } }} SourceTest
 */

/** The answer of POST /destinations/{id}/test. @typedef {{ ok: boolean, error?: string }} ConnectionTest */

/**
 * A field of a destination's object (GET /destinations/{id}/fields); `required` ones must be mapped by syncs that create records.
 * @typedef {{ name: string, label?: string, type: string, required: boolean, identifier?: boolean }} DestinationField
 */

/**
 * A destination; credentials come masked.
 * @typedef {object} Destination
 * @property {string} id
 * @property {string} name
 * @property {string} type
 * @property {Record<string, unknown>} config
 * @property {Record<string, string> | null} credentials
 * @property {string} created_at
 * @property {string} updated_at
 */

/**
 * A row the destination refused, or that could not be sent.
 * @typedef {{ primary_key: string | null, operation: string, message: string, created_at: string }} RowError
 */

/**
 * One operation of a run as the run debugger keeps it (src/routes/syncs/operations.ts `RunOperation`).
 * @typedef {{ key: string, op: "create" | "update" | "upsert" | "delete", fields: Record<string, unknown>, status: "succeeded" | "failed" | "planned", error: string | null, destination_status: number | null, response: string | null, attempts: number, batch_id: string, at: string }} RunOperation
 */

/** Filters of the operations table; empty strings mean "any". @typedef {{ status?: string, op?: string, key?: string }} OperationFilter */

/**
 * One run's operation on a key (src/routes/syncs/operations.ts `RecordHistoryEntry`).
 * @typedef {RunOperation & { run_id: string, run_status: string, dry_run: boolean, run_started_at: string | null }} RecordEvent
 */

/**
 * One page of a list endpoint.
 * @template T
 * @typedef {{ data: T[], next_cursor: string | null }} Page
 */

/** One bad field of a 400 answer. @typedef {{ path: string, message: string }} ErrorDetail */

export {};
