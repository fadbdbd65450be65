/**
 * Holds the bench's "remote" R2 bucket in a second workerd process (bench/run.mjs starts it): in
 * production R2 is another service, not code sharing the extracting isolate's thread, as the local
 * R2 simulator does. `PUT /<key>` stores the body; the extraction's puts reach it over a socket.
 */
interface HostEnv {
  BUCKET: R2Bucket;
}

export default {
  async fetch(request: Request, env: HostEnv): Promise<Response> {
    if (request.method !== "PUT") return new Response("PUT /<key> only", { status: 405 });
    const key = decodeURIComponent(new URL(request.url).pathname.slice(1));
    await env.BUCKET.put(key, await request.arrayBuffer());
    return new Response(null, { status: 204 });
  },
};
