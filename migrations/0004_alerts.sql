CREATE TABLE `alert_channels` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`config` text NOT NULL,
	`secrets_ciphertext` text,
	`is_default` integer DEFAULT false NOT NULL,
	`last_sent_at` text,
	`last_error` text,
	`last_error_at` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `alert_channels_workspace_idx` ON `alert_channels` (`workspace_id`,`id`);--> statement-breakpoint
CREATE TABLE `sync_alert_states` (
	`sync_id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`event` text NOT NULL,
	`opened_at` text NOT NULL,
	PRIMARY KEY(`sync_id`, `event`)
);
--> statement-breakpoint
ALTER TABLE `syncs` ADD `alerts` text;