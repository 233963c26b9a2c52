import CPostgres
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The rows a statement returned (text format; nil is SQL NULL) and how many rows it affected.
public struct QueryResult: Equatable, Sendable {
    public var columns: [String]
    public var rows: [[String?]]
    /// Rows inserted, updated or deleted (from the command tag); 0 for statements that report none.
    public var affectedRows: Int

    public init(columns: [String], rows: [[String?]], affectedRows: Int) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
    }
}

/// One libpq connection.
///
/// Every call blocks the calling thread until the server answers (bounded by the connect, statement and
/// TCP timeouts in `ConnectionOptions`). Callers must run them on threads of their own, never on the Swift
/// concurrency pool. A connection is used by one thread at a time; `ConnectionPool` hands them out.
public final class Connection {
    private var handle: OpaquePointer?

    /// Connects; throws `.unavailable` if the server cannot be reached or refuses.
    public init(options: ConnectionOptions) throws(PostgresError) {
        let params = options.parameters
        let keywords = params.map { strdup($0.0) }
        let values = params.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let k: [UnsafePointer<CChar>?] = keywords.map { UnsafePointer($0) } + [nil]
        let v: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        handle = PQconnectdbParams(k, v, 1)
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            let message = handle.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(handle)
            self.handle = nil
            throw PostgresError(kind: .unavailable, sqlState: nil, message: Connection.trim(message))
        }
    }

    deinit { PQfinish(handle) }

    /// The server this connection reached, "host:port" (with a multi-host conninfo: the one libpq chose).
    public var server: String {
        guard let handle else { return "" }
        let host = PQhost(handle).map { String(cString: $0) } ?? ""
        let port = PQport(handle).map { String(cString: $0) } ?? ""
        return "\(host):\(port)"
    }

    /// Closes the connection; later calls throw `.unavailable`.
    public func close() {
        PQfinish(handle)
        handle = nil
    }

    /// Whether the connection is still usable, as far as can be told without a round trip: reads anything the
    /// server sent meanwhile, so a server that closed the socket (shutdown, crash) is noticed here.
    public var isUsable: Bool {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return false }
        return PQconsumeInput(handle) == 1 && PQstatus(handle) == CONNECTION_OK
    }

    /// Whether the connection is inside a transaction block (or a failed one).
    public var inTransaction: Bool {
        guard let handle else { return false }
        let s = PQtransactionStatus(handle)
        return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE
    }

    /// Runs one statement with `$1...` parameters sent as text (nil is NULL).
    @discardableResult
    public func execute(_ sql: String, _ params: [String?] = []) throws(PostgresError) -> QueryResult {
        guard let handle else {
            throw PostgresError(kind: .unavailable, sqlState: nil, message: "connection closed")
        }
        let copies = params.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        let values: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
        let result = PQexecParams(handle, sql, Int32(params.count), nil, values, nil, nil, 0)
        defer { PQclear(result) }
        guard let result else {
            throw PostgresError(sqlState: nil, message: Connection.trim(String(cString: PQerrorMessage(handle))),
                                connectionBad: PQstatus(handle) != CONNECTION_OK)
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return Connection.read(result)
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            var message = String(cString: PQresultErrorMessage(result))
            if message.isEmpty { message = String(cString: PQerrorMessage(handle)) }
            throw PostgresError(sqlState: state, message: Connection.trim(message),
                                connectionBad: PQstatus(handle) != CONNECTION_OK)
        }
    }

    /// Runs `body` between BEGIN and COMMIT; rolls back and rethrows if it throws.
    ///
    /// A failed COMMIT on a lost connection throws `.unavailable`: the outcome is then unknown.
    public func transaction<T>(_ body: (Connection) throws -> T) throws -> T {
        try execute("BEGIN")
        let value: T
        do {
            value = try body(self)
        } catch {
            if (try? execute("ROLLBACK")) == nil {
                // A connection that may still be inside a transaction must not be used again.
                close()
            }
            throw error
        }
        try execute("COMMIT")
        return value
    }

    private static func read(_ result: OpaquePointer) -> QueryResult {
        let rowCount = Int(PQntuples(result))
        let fieldCount = Int(PQnfields(result))
        var columns: [String] = []
        columns.reserveCapacity(fieldCount)
        for f in 0..<fieldCount { columns.append(String(cString: PQfname(result, Int32(f)))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            var row: [String?] = []
            row.reserveCapacity(fieldCount)
            for f in 0..<fieldCount {
                if PQgetisnull(result, Int32(r), Int32(f)) == 1 {
                    row.append(nil)
                } else {
                    row.append(String(cString: PQgetvalue(result, Int32(r), Int32(f))))
                }
            }
            rows.append(row)
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return QueryResult(columns: columns, rows: rows, affectedRows: affected)
    }

    private static func trim(_ message: String) -> String {
        var s = Substring(message)
        while let last = s.last, last == "\n" || last == " " { s = s.dropLast() }
        return String(s)
    }
}
