import { z } from "@hono/zod-openapi";
import { maskConnectionString } from "../../lib/secrets";
import type { SourcePlugin } from "../source";
import { parseConnectionString } from "./connection-string";
import { openMysql } from "./queries";
import { jsonValue } from "./types";

/**
 * The MySQL source: MySQL 5.7+, MariaDB 10.3+ and what speaks their protocol, reached over TCP
 * (`cloudflare:sockets`) by a `mysql://` URL. The whole URL is the credential: it holds the
 * password, so it is stored encrypted and returned masked.
 */

const config = z.object({});

const credentials = z.object({
  connection_string: z
    .string()
    .max(4096)
    .refine((s) => /^(mysql|mariadb):\/\/[^/\s]+/.test(s) && URL.canParse(s), {
      message: "must be a mysql:// URL, e.g. mysql://user:password@host:3306/db",
    }),
});

/** The MySQL plug-in, as src/sources/registry.ts lists it. */
export const mysql = {
  type: "mysql",
  config,
  credentials,
  hosts: (settings) => [parseConnectionString(settings.connection_string).host],
  seal: (settings) => ({ secret: settings.connection_string, masked: maskConnectionString(settings.connection_string) }),
  unseal: (secret) => ({ connection_string: secret }),
  open: (settings, opts) => openMysql(settings.connection_string, opts),
  jsonValue,
} satisfies SourcePlugin<"mysql", typeof config, typeof credentials>;
