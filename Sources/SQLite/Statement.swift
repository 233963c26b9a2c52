import CSQLite

/// A compiled statement of one `Database`. Not `Sendable`: use it on the thread that prepared it.
///
/// Parameter and column indexes follow SQLite: parameters from 1, columns from 0.
public final class Statement {
    private let database: Database
    private let handle: OpaquePointer
    /// False for the database's cached statements, which the database finalizes itself.
    private let owned: Bool

    init(database: Database, handle: OpaquePointer, owned: Bool = true) {
        self.database = database
        self.handle = handle
        self.owned = owned
    }

    deinit {
        if owned { database.withLock { _ = sqlite3_finalize(handle) } }
    }

    /// Tells SQLite to copy bound text and blobs (the C macro `SQLITE_TRANSIENT`).
    private static var transient: sqlite3_destructor_type { unsafeBitCast(-1 as Int, to: sqlite3_destructor_type.self) }

    public func bind(_ index: Int32, _ value: Int64) throws {
        try database.withLock { try database.check(sqlite3_bind_int64(handle, index, value)) }
    }

    public func bind(_ index: Int32, _ value: Double) throws {
        try database.withLock { try database.check(sqlite3_bind_double(handle, index, value)) }
    }

    public func bind(_ index: Int32, _ value: String) throws {
        try database.withLock { try database.check(sqlite3_bind_text(handle, index, value, Int32(value.utf8.count), Statement.transient)) }
    }

    public func bind(_ index: Int32, _ value: [UInt8]) throws {
        try database.withLock {
            try value.withUnsafeBytes { raw in
                // A zero-length blob with a nil pointer would bind NULL; zeroblob keeps it a blob.
                if raw.count == 0 {
                    try database.check(sqlite3_bind_zeroblob(handle, index, 0))
                } else {
                    try database.check(sqlite3_bind_blob(handle, index, raw.baseAddress, Int32(raw.count), Statement.transient))
                }
            }
        }
    }

    public func bindNull(_ index: Int32) throws {
        try database.withLock { try database.check(sqlite3_bind_null(handle, index)) }
    }

    public func bind(_ index: Int32, _ value: SQLiteValue) throws {
        switch value {
        case .integer(let v): try bind(index, v)
        case .real(let v): try bind(index, v)
        case .text(let v): try bind(index, v)
        case .blob(let v): try bind(index, v)
        case .null: try bindNull(index)
        }
    }

    /// Binds `values` to parameters 1, 2, ….
    public func bind(_ values: [SQLiteValue]) throws {
        for (i, v) in values.enumerated() { try bind(Int32(i + 1), v) }
    }

    /// Advances; true when a row is available, false when done.
    public func step() throws -> Bool {
        try database.withLock { try database.check(sqlite3_step(handle)) == SQLITE_ROW }
    }

    /// Makes the statement ready to run again (bindings are kept).
    public func reset() throws {
        try database.withLock { try database.check(sqlite3_reset(handle)) }
    }

    public func clearBindings() {
        database.withLock { _ = sqlite3_clear_bindings(handle) }
    }

    public func isNull(_ column: Int32) -> Bool {
        database.withLock { sqlite3_column_type(handle, column) == SQLITE_NULL }
    }

    public func int64(_ column: Int32) -> Int64 {
        database.withLock { sqlite3_column_int64(handle, column) }
    }

    public func double(_ column: Int32) -> Double {
        database.withLock { sqlite3_column_double(handle, column) }
    }

    /// The column as text; "" for NULL.
    public func string(_ column: Int32) -> String {
        // By its byte count, not up to a NUL: text is stored and read back verbatim.
        database.withLock {
            guard let p = sqlite3_column_text(handle, column) else { return "" }
            let count = Int(sqlite3_column_bytes(handle, column))
            return String(decoding: UnsafeRawBufferPointer(start: p, count: count), as: UTF8.self)
        }
    }

    public func blob(_ column: Int32) -> [UInt8] {
        database.withLock {
            let count = Int(sqlite3_column_bytes(handle, column))
            guard count > 0, let p = sqlite3_column_blob(handle, column) else { return [] }
            return Array(UnsafeRawBufferPointer(start: p, count: count))
        }
    }

    public func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }
    public func optionalString(_ column: Int32) -> String? { isNull(column) ? nil : string(column) }
}
