/**
 * Stands in for "better-sqlite3" inside the single executable (the bundler points every
 * import of it here): the same Database, with `nativeBinding` defaulting to the addon
 * embedded in the executable. The app keeps writing `new Database(path)`, unchanged.
 * Outside the executable (no embedded runtime) it is the plain better-sqlite3.
 */
import Database from "better-sqlite3";
import { embeddedRuntime } from "../../common/embedded.js";

function withBinding(options: Database.Options | undefined): Database.Options | undefined {
  const rt = embeddedRuntime();
  if (rt === undefined || options?.nativeBinding !== undefined) return options;
  // better-sqlite3 accepts the addon object itself; @types/better-sqlite3 only knows a path.
  return { ...options, nativeBinding: rt.sqliteBinding() as unknown as string };
}

// A plain function, like better-sqlite3's own: it works with and without `new`, and
// `instanceof` holds because both share one prototype.
function EmbeddedDatabase(filename?: string | Buffer, options?: Database.Options): Database.Database {
  return new Database(filename, withBinding(options));
}
EmbeddedDatabase.prototype = Database.prototype;
Object.setPrototypeOf(EmbeddedDatabase, Database); // statics: SqliteError

export default EmbeddedDatabase as unknown as typeof Database;
