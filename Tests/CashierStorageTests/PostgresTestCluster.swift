import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Postgres
import XCTest

/// A throwaway PostgreSQL cluster started with scripts/pg-cluster.sh, on a loopback port of its own.
final class PostgresTestCluster {
    struct ScriptError: Error, CustomStringConvertible {
        let description: String
    }

    let dir: String
    let port: Int
    private var databases = 0

    static let script: String = {
        // Tests/CashierStorageTests/<file> -> repository root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("scripts/pg-cluster.sh").path
    }()

    /// Why clusters cannot be started here, or nil if the server binaries are installed.
    static var missingBinaries: String? {
        (try? run(["bindir"])) == nil
            ? "PostgreSQL server binaries not found (install the postgresql package; looked in /usr/lib/postgresql/*/bin and PATH)"
            : nil
    }

    /// Starts a new cluster in a fresh directory directly under /tmp (the postgres user must reach it),
    /// trying a few random ports in case one is taken.
    static func start() throws -> PostgresTestCluster {
        var lastError: Error = ScriptError(description: "no attempt")
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...32_767)
            let dir = "/tmp/cashier-pg-\(UUID().uuidString.prefix(8))-\(port)"
            do {
                _ = try run(["start", dir, String(port)])
                return PostgresTestCluster(dir: dir, port: port)
            } catch {
                lastError = error
                _ = try? run(["destroy", dir])
            }
        }
        throw lastError
    }

    private init(dir: String, port: Int) {
        self.dir = dir
        self.port = port
    }

    var conninfo: String { "host=127.0.0.1 port=\(port) user=postgres dbname=postgres" }

    /// Options for database `name` with short timeouts, so failure tests finish quickly.
    func options(database: String = "postgres", statementTimeoutMilliseconds: Int = 5_000) -> ConnectionOptions {
        ConnectionOptions(conninfo: "host=127.0.0.1 port=\(port) user=postgres dbname=\(database)", connectTimeoutSeconds: 2,
                          statementTimeoutMilliseconds: statementTimeoutMilliseconds, lockTimeoutMilliseconds: 2_000)
    }

    /// Creates an empty database and returns options for it, so each store under test starts empty.
    func freshDatabase() throws -> ConnectionOptions {
        databases += 1
        let name = "t\(databases)"
        let admin = try Connection(options: options())
        try admin.execute("CREATE DATABASE \(name)")
        admin.close()
        return options(database: name)
    }

    /// `mode` is fast, smart or immediate (a crash: no shutdown checkpoint, clients cut off).
    func stop(mode: String = "fast") throws { _ = try Self.run(["stop", dir, mode]) }
    func start() throws { _ = try Self.run(["start", dir]) }
    var isRunning: Bool { (try? Self.run(["status", dir])) != nil }
    func destroy() { _ = try? Self.run(["destroy", dir]) }

    /// Runs the script and returns its standard output; throws with its standard error on failure.
    ///
    /// Uses system(3) with output in files, not Foundation's Process: the server the script starts outlives it
    /// and would inherit the descriptor Process watches to learn that its child exited, so Process would wait forever.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let capture = "/tmp/pg-cluster-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: capture + ".out")
            try? FileManager.default.removeItem(atPath: capture + ".err")
        }
        let quoted = ([script] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let status = system(quoted.joined(separator: " ") + " </dev/null >\(capture).out 2>\(capture).err")
        let output = (try? String(contentsOfFile: capture + ".out", encoding: .utf8)) ?? ""
        guard status == 0 else {
            let errors = (try? String(contentsOfFile: capture + ".err", encoding: .utf8)) ?? ""
            throw ScriptError(description: "pg-cluster.sh \(arguments.joined(separator: " ")) failed (\(status)): \(errors)")
        }
        return output
    }
}

/// One test class's cluster: started by the class's `setUp`, destroyed by its `tearDown`, handed to each
/// test by `live()` (which skips the test where PostgreSQL is not installed, and fails it where it is but
/// would not start).
final class ClassCluster: @unchecked Sendable {
    // @unchecked: XCTest calls the class setUp, the tests and the class tearDown one after another.
    private var cluster: PostgresTestCluster?
    private var startError: String?

    func start() {
        if let missing = PostgresTestCluster.missingBinaries { startError = missing; return }
        do { cluster = try PostgresTestCluster.start() } catch { startError = "could not start a cluster: \(error)" }
    }

    func destroy() {
        cluster?.destroy()
        cluster = nil
    }

    /// The running cluster; one a test has stopped is started again first.
    func live() throws -> PostgresTestCluster {
        if let c = cluster {
            if !c.isRunning { try c.start() }
            return c
        }
        let reason = startError ?? "no cluster"
        if PostgresTestCluster.missingBinaries != nil { throw XCTSkip(reason) }
        XCTFail(reason)
        throw PostgresTestCluster.ScriptError(description: reason)
    }
}
