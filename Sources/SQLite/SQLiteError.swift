import CSQLite

/// A failed SQLite call: the (extended) result code and the connection's message at the time.
public struct SQLiteError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Extended result code (e.g. `SQLITE_CONSTRAINT_UNIQUE`); `code & 0xff` is the primary code.
    public let code: Int32
    public let message: String

    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    public var primaryCode: Int32 { code & 0xff }

    /// The database could not be reached, locked or written now; retrying later may work.
    public var isUnavailable: Bool {
        switch primaryCode {
        case SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_READONLY, SQLITE_FULL, SQLITE_CANTOPEN,
             SQLITE_CORRUPT, SQLITE_PROTOCOL, SQLITE_NOTADB:
            return true
        default:
            return false
        }
    }

    /// A unique index or primary key refused the row.
    public var isDuplicateKey: Bool {
        code == SQLiteError.constraintUnique || code == SQLiteError.constraintPrimaryKey
    }

    // Extended codes are C macros Swift cannot import: primary code | (detail << 8).
    public static let constraintPrimaryKey: Int32 = SQLITE_CONSTRAINT | (6 << 8)
    public static let constraintUnique: Int32 = SQLITE_CONSTRAINT | (8 << 8)

    public var description: String {
        let name = sqlite3_errstr(code).map { String(cString: $0) } ?? "error"
        return "SQLite \(code) (\(name)): \(message)"
    }
}
