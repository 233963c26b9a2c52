import SQLite

/// Direct access to a service database file, for tests that age data the way time would.
public final class SQLiteTestDatabase {
    private let db: Database
    public init(path: String) throws { db = try Database(.path(path)) }
    public func exec(_ sql: String) throws { try db.exec(sql) }
}
