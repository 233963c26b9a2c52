import CashierService
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL server (scripts/pg-cluster.sh, run as the `postgres` user) on a loopback port that a
/// test can stop and start again under a running cashierd.
public final class PostgresServer: @unchecked Sendable {
    // @unchecked: used from one test's thread.
    public let directory: String
    public let port: Int
    public var conninfo: String { "host=127.0.0.1 port=\(port) user=postgres dbname=postgres" }

    static let script: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("scripts/pg-cluster.sh").path
    }()

    /// Why a server cannot be started here (the PostgreSQL server binaries are missing), or nil.
    public static var missingBinaries: String? {
        run(["bindir"]).status == 0 ? nil : "PostgreSQL server binaries are not installed (scripts/install-deps.sh installs postgresql)"
    }

    /// Starts a server on the first port in `ports` that nothing listens on (at most five tried).
    public static func start(ports: Range<Int>) throws -> PostgresServer {
        let listening = (try? runCommand("/bin/ss", ["-Htln"], timeoutSeconds: 10))?.stdout ?? ""
        var errors: [String] = []
        for port in ports.filter({ !listening.contains(":\($0) ") }).prefix(5) {
            let server = PostgresServer(directory: "/tmp/cashier-pg-\(UUID().uuidString.prefix(8))-\(port)", port: port)
            let r = run(["start", server.directory, String(port)])
            if r.status == 0 { return server }
            errors.append(r.errors)
            server.destroy()
        }
        throw RuntimeError("no PostgreSQL server would start on \(ports): \(errors.joined(separator: "; "))")
    }

    private init(directory: String, port: Int) {
        self.directory = directory
        self.port = port
    }

    /// `mode`: fast (clients cut off, a clean shutdown) or immediate (a crash).
    public func stop(mode: String = "fast") throws {
        let r = Self.run(["stop", directory, mode])
        guard r.status == 0 else { throw RuntimeError("pg-cluster.sh stop: \(r.errors)") }
    }

    /// Starts it again on its port, with its data.
    public func start() throws {
        let r = Self.run(["start", directory])
        guard r.status == 0 else { throw RuntimeError("pg-cluster.sh start: \(r.errors)") }
    }

    public func destroy() { _ = Self.run(["destroy", directory]) }

    /// system(3) with output in files: the server outlives the script and must not hold a pipe of ours.
    private static func run(_ arguments: [String]) -> (status: Int32, errors: String) {
        let capture = "/tmp/pg-server-\(UUID().uuidString).err"
        defer { try? FileManager.default.removeItem(atPath: capture) }
        let quoted = ([script] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let status = system("timeout 120 " + quoted.joined(separator: " ") + " </dev/null >/dev/null 2>\(capture)")
        return (status, (try? String(contentsOfFile: capture, encoding: .utf8)) ?? "")
    }
}
