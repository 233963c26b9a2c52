import Foundation

/// A bounded set of connections to one database, handed out one caller at a time.
///
/// Connections are made lazily, up to `maxConnections`. A connection that broke while in use is dropped
/// when it comes back; an idle one that the server closed meanwhile is noticed and replaced at checkout.
/// A connection-level failure (`PostgresError.isConnectionFailure`: the connection lost, the server shutting
/// down, or a server that turned read-only, as an old primary does when it comes back as a standby) drops that
/// connection and every idle one made before it, so one restart or failover costs one failed call, not one per
/// pooled connection. The next checkout connects afresh; with a multi-host conninfo and
/// `target_session_attrs=read-write` libpq then finds the server that is primary now. The pool never retries a
/// call itself: the failed call throws and its caller decides (a request is answered "retry").
/// A statement or lock timeout leaves the connection in the pool.
///
/// All calls block the calling thread (libpq is synchronous): run them on threads of your own, never on the
/// Swift concurrency pool. `@unchecked Sendable`: all mutable state is guarded by `condition`.
public final class ConnectionPool: @unchecked Sendable {
    public let options: ConnectionOptions
    public let maxConnections: Int
    /// How long a checkout waits for a busy pool before giving up with `.unavailable`.
    public let checkoutTimeoutSeconds: Double

    private let condition = NSCondition()
    private var idle: [(connection: Connection, generation: Int)] = []
    private var open = 0
    /// Bumped on every connection-level failure; idle connections from older generations are discarded.
    private var generation = 0
    private var closed = false
    /// Set by a connection-level failure (or a failed connect), cleared by the next successful connect.
    private var lostServer = false
    private var reconnectCount = 0

    public init(options: ConnectionOptions, maxConnections: Int = 4, checkoutTimeoutSeconds: Double = 5) {
        precondition(maxConnections > 0, "a pool needs at least one connection")
        self.options = options
        self.maxConnections = maxConnections
        self.checkoutTimeoutSeconds = checkoutTimeoutSeconds
    }

    deinit { close() }

    /// Runs `body` with a connection of its own; the connection goes back to the pool afterwards.
    ///
    /// Throws `PostgresError` (`.unavailable` when no connection can be had) or whatever `body` throws.
    public func withConnection<T>(_ body: (Connection) throws -> T) throws -> T {
        let (connection, gen) = try checkout()
        do {
            let value = try body(connection)
            checkin(connection, generation: gen, failed: false)
            return value
        } catch let error as PostgresError {
            checkin(connection, generation: gen, failed: error.isConnectionFailure)
            throw error
        } catch {
            checkin(connection, generation: gen, failed: false)
            throw error
        }
    }

    /// Runs one statement on a pooled connection.
    @discardableResult
    public func execute(_ sql: String, _ params: [String?] = []) throws -> QueryResult {
        try withConnection { try $0.execute(sql, params) }
    }

    /// Runs `body` in a transaction on a pooled connection.
    public func transaction<T>(_ body: (Connection) throws -> T) throws -> T {
        try withConnection { try $0.transaction(body) }
    }

    /// Closes idle connections and refuses further checkouts; connections in use close when returned.
    public func close() {
        condition.lock()
        closed = true
        let toClose = idle
        idle.removeAll()
        open -= toClose.count
        condition.broadcast()
        condition.unlock()
        toClose.forEach { $0.connection.close() }
    }

    /// Times the pool connected again after losing its server: the first connection made after a connection-level
    /// failure or a failed connect counts once, however many follow it. A rise means the server restarted, a
    /// network path broke, or (with a multi-host conninfo) the primary moved.
    public var reconnects: Int {
        condition.lock()
        defer { condition.unlock() }
        return reconnectCount
    }

    /// Connections currently made (idle or in use).
    public var openConnections: Int {
        condition.lock()
        defer { condition.unlock() }
        return open
    }

    private func checkout() throws(PostgresError) -> (Connection, Int) {
        let deadline = Date().addingTimeInterval(checkoutTimeoutSeconds)
        condition.lock()
        while true {
            if closed {
                condition.unlock()
                throw PostgresError(kind: .unavailable, sqlState: nil, message: "connection pool closed")
            }
            if let candidate = idle.popLast() {
                if candidate.generation == generation {
                    condition.unlock()
                    // Checking costs no round trip; a connection the server dropped is replaced below.
                    if candidate.connection.isUsable { return (candidate.connection, candidate.generation) }
                    candidate.connection.close()
                    condition.lock()
                    lostServer = true
                }
                else { candidate.connection.close() }
                open -= 1
                continue
            }
            if open < maxConnections {
                open += 1
                let gen = generation
                condition.unlock()
                do {
                    let connection = try Connection(options: options)
                    condition.lock()
                    if lostServer {
                        lostServer = false
                        reconnectCount += 1
                    }
                    condition.unlock()
                    return (connection, gen)
                } catch {
                    condition.lock()
                    open -= 1
                    generation += 1
                    lostServer = true
                    condition.signal()
                    condition.unlock()
                    throw error
                }
            }
            if !condition.wait(until: deadline) {
                condition.unlock()
                throw PostgresError(kind: .unavailable, sqlState: nil,
                                    message: "no free connection within \(checkoutTimeoutSeconds)s (pool of \(maxConnections))")
            }
        }
    }

    private func checkin(_ connection: Connection, generation gen: Int, failed: Bool) {
        // A connection found dead on its way back failed at the connection level too, whatever the call threw.
        let broken = failed || !connection.isUsable
        let usable = !broken && !connection.inTransaction
        condition.lock()
        if broken {
            lostServer = true
            if gen == generation { generation += 1 }
        }
        if usable, !closed, gen == generation {
            idle.append((connection, gen))
            condition.signal()
            condition.unlock()
        } else {
            open -= 1
            condition.signal()
            condition.unlock()
            connection.close()
        }
    }
}
