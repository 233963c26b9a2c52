/// A failed libpq call: the server's SQLSTATE (when it sent one) and message, and what that means to a caller.
public struct PostgresError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What a caller can do about a failure.
    public enum Kind: Equatable, Sendable {
        /// The server cannot serve now: connection lost or refused, shutting down, out of resources,
        /// statement or lock wait timed out. Retrying later (or elsewhere) may work.
        case unavailable
        /// A unique or primary key already exists (SQLSTATE 23505).
        case uniqueViolation
        /// Anything else: bad SQL, a constraint, a bug.
        case other
    }

    public let kind: Kind
    /// Five-character SQLSTATE, e.g. "23505"; nil when the failure happened in libpq itself.
    public let sqlState: String?
    public let message: String

    public init(kind: Kind, sqlState: String?, message: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
    }

    /// An error from a SQLSTATE, classified; `connectionBad` is whether the connection is unusable afterwards.
    public init(sqlState: String?, message: String, connectionBad: Bool) {
        self.init(kind: PostgresError.classify(sqlState: sqlState, connectionBad: connectionBad), sqlState: sqlState, message: message)
    }

    /// Unavailable: a dead connection, class 08 (connection exception), 53 (insufficient resources),
    /// 57P01-57P03 (shutdown, cannot connect now), 25006 (a read-only server: a primary that became a standby),
    /// 57014 (statement timeout or cancel), 55P03 (lock timeout).
    public static func classify(sqlState: String?, connectionBad: Bool) -> Kind {
        if connectionBad { return .unavailable }
        guard let state = sqlState, state.utf8.count == 5 else { return .unavailable }
        if state == "23505" { return .uniqueViolation }
        if state.hasPrefix("08") || state.hasPrefix("53") { return .unavailable }
        switch state {
        case "57P01", "57P02", "57P03", "25006", "57014", "55P03": return .unavailable
        default: return .other
        }
    }

    /// Whether the failure is the connection's, not the statement's: the connection is gone (no SQLSTATE: libpq
    /// lost or could not make it), class 08, the server shutting down or not taking connections (57P01-57P03), or
    /// the server is read-only (25006: after a failover the old primary comes back as a standby). Such a
    /// connection must not be used again: the next connection, made afresh, finds the current primary (a multi-host
    /// conninfo with `target_session_attrs=read-write`). A statement or lock timeout, or a full server (53…), leaves
    /// the connection good.
    public var isConnectionFailure: Bool {
        guard kind == .unavailable else { return false }
        guard let state = sqlState else { return true }
        return state.hasPrefix("08") || state == "57P01" || state == "57P02" || state == "57P03" || state == "25006"
    }

    public var description: String {
        "postgres \(kind) [\(sqlState ?? "-----")]: \(message)"
    }
}
