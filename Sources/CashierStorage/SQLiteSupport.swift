import CashierCore
import Foundation
import SQLite

extension StorageError {
    /// Maps any error from the SQLite wrapper onto the storage contract's three cases.
    static func from(_ error: Error) -> StorageError {
        if let e = error as? StorageError { return e }
        guard let e = error as? SQLiteError else { return .failed(String(describing: error)) }
        if e.isUnavailable { return .unavailable(e.description) }
        if e.isDuplicateKey { return .duplicateKey(e.description) }
        return .failed(e.description)
    }
}

enum SQLiteTuning {
    /// The longest the service's SQLite files go without copying their write-ahead log back (off the request path).
    static let checkpointIntervalMilliseconds = 1_000
}

/// Runs `body`, rethrowing every error as a `StorageError`.
@discardableResult
func storage<T>(_ body: () throws -> T) throws(StorageError) -> T {
    do { return try body() } catch { throw StorageError.from(error) }
}

/// Order items are kept as one JSON text column.
enum ItemsJSON {
    static func encode(_ items: [OrderItem]) -> String {
        String(decoding: API.encode(items), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> [OrderItem] {
        do { return try API.decode([OrderItem].self, from: Array(text.utf8)) } catch {
            throw StorageError.failed("corrupt order items: \(error)")
        }
    }
}

/// Creates tables on open and records the schema version, in one transaction. A database made by an
/// older version is first brought up to date: `migrations[v]` takes the schema from version v - 1 to v,
/// and runs for every v after the database's version; a new database gets the current tables directly.
/// Migrations run with foreign keys off (SQLite's way to rebuild a table others refer to; the pragma
/// cannot change inside a transaction) and must leave no foreign key broken.
func applySchema(_ db: Database, version: Int64, statements: [String], migrations: [Int64: [String]] = [:]) throws {
    if !migrations.isEmpty { try db.exec("PRAGMA foreign_keys=OFF") }
    defer { if !migrations.isEmpty { try? db.exec("PRAGMA foreign_keys=ON") } }
    try db.transaction(.immediate) {
        try db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        let current = try db.query("SELECT max(version) FROM schema_version") { $0.optionalInt64(0) }.first ?? nil
        if let current, current > version {
            throw StorageError.failed("database schema \(current) is newer than this program's \(version)")
        }
        if let current, current < version {
            for step in (current + 1)...version {
                for sql in migrations[step] ?? [] { try db.exec(sql) }
            }
            let broken = try db.query("PRAGMA foreign_key_check") { $0.string(0) }
            guard broken.isEmpty else { throw StorageError.failed("migration to schema \(version) broke foreign keys in \(broken)") }
        }
        for sql in statements { try db.exec(sql) }
        if current != version { try db.run("INSERT INTO schema_version (version) VALUES (?)", [.integer(version)]) }
    }
}

extension NonceRecord {
    /// Inserts the nonce on `db`, inside the caller's write; false if it was there already (a replay).
    /// The base database and every SQLite order group record nonces through this.
    func insert(into db: Database) throws -> Bool {
        try db.run(NonceSQL.sqliteInsert, [.text(deviceID), .text(nonce), .integer(expiresAt)]) == 1
    }
}
