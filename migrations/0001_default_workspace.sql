-- The default workspace, owned by the bootstrap ADMIN_TOKEN.
INSERT INTO `workspaces` (`id`, `name`, `created_at`, `updated_at`)
VALUES ('wsp_default', 'Default', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
