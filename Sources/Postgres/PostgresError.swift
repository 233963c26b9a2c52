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
    /// 57P01-57P03 (shutdown, cannot connect now), 57014 (statement timeout or cancel), 55P03 (lock timeout).
    public static func classify(sqlState: String?, connectionBad: Bool) -> Kind {
        if connectionBad { return .unavailable }
        guard let state = sqlState, state.utf8.count == 5 else { return .unavailable }
        if state == "23505" { return .uniqueViolation }
        if state.hasPrefix("08") || state.hasPrefix("53") { return .unavailable }
        switch state {
        case "57P01", "57P02", "57P03", "57014", "55P03": return .unavailable
        default: return .other
        }
    }

    public var description: String {
        "postgres \(kind) [\(sqlState ?? "-----")]: \(message)"
    }
}
