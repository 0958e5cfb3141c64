/** One step of the registry schema. Versions start at 1 and increase by one; a step never changes once released. */
export interface Migration {
  readonly version: number;
  /** What the step does, recorded in schema_migrations. */
  readonly name: string;
  /** DDL run inside the step's own transaction. */
  readonly sql: string;
}
