ALTER TABLE `syncs` ADD `send` text DEFAULT 'all_fields' NOT NULL;--> statement-breakpoint
ALTER TABLE `syncs` ADD `null_values` text DEFAULT 'send' NOT NULL;