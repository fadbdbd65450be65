import { DurableObject } from "cloudflare:workers";

export class SyncObject extends DurableObject<Env> {}
