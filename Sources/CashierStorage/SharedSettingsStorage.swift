import CashierCore
import Postgres
import SQLite

/// Settings every service instance shares through the base data (the order groups and their routes),
/// each one JSON document with a version that every change raises by one: a change is a compare-and-set
/// on the version, so two operators never overwrite each other's, and an instance notices a change by
/// reading the version.
enum SharedSettingSQL {
    static let sqliteSchema = [
        "CREATE TABLE IF NOT EXISTS shared_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL)",
    ]
    static let postgresSchema = [
        "CREATE TABLE IF NOT EXISTS shared_settings (name text PRIMARY KEY, value text NOT NULL, version bigint NOT NULL, updated_at bigint NOT NULL)",
    ]
}

extension SQLiteBaseStore {
    public func sharedSetting(_ name: String) throws -> SharedSetting? {
        try storage {
            try db.query("SELECT value, version FROM shared_settings WHERE name = ?", [.text(name)]) {
                SharedSetting(value: $0.string(0), version: $0.int64(1))
            }.first
        }
    }

    public func putSharedSetting(_ name: String, value: String, replacing version: Int64?, now: Int64) throws -> Bool {
        try storage {
            try db.write { () throws -> Bool in
                if let version {
                    return try db.run("UPDATE shared_settings SET value = ?, version = version + 1, updated_at = ? WHERE name = ? AND version = ?",
                                      [.text(value), .integer(now), .text(name), .integer(version)]) == 1
                }
                return try db.run("INSERT INTO shared_settings (name, value, version, updated_at) VALUES (?, ?, 1, ?) ON CONFLICT DO NOTHING",
                                  [.text(name), .text(value), .integer(now)]) == 1
            }
        }
    }
}

extension PostgresBaseStore {
    public func sharedSetting(_ name: String) throws -> SharedSetting? {
        try run { c in
            try c.execute("SELECT value, version FROM shared_settings WHERE name = $1", [name]).rows.first.map { row throws(StorageError) in
                let r = PostgresRow(row)
                return SharedSetting(value: try r.string(0), version: try r.int64(1))
            }
        }
    }

    public func putSharedSetting(_ name: String, value: String, replacing version: Int64?, now: Int64) throws -> Bool {
        try run { c in
            if let version {
                return try c.execute("UPDATE shared_settings SET value = $1, version = version + 1, updated_at = $2 WHERE name = $3 AND version = $4",
                                     [value, String(now), name, String(version)]).affectedRows == 1
            }
            return try c.execute("INSERT INTO shared_settings (name, value, version, updated_at) VALUES ($1, $2, 1, $3) ON CONFLICT DO NOTHING",
                                 [name, value, String(now)]).affectedRows == 1
        }
    }
}
