/** The API tests' harness: the typed client and the seeding helpers (the run harness is ./run). */
export * from "./api";
export * from "./seed";
