/** The embedded addon's name: a SEA asset key, or a key of the bundle's files (armv7). */
export const ADDON_NAME = "better_sqlite3.node";
