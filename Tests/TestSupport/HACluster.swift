import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// One test class's replicated PostgreSQL cluster (Patroni + etcd), run through scripts/ha-cluster.sh in a fresh
/// directory under /tmp (the postgres user must reach it). Started by the class's setUp, destroyed by its tearDown.
public final class HACluster: @unchecked Sendable {
    // @unchecked: XCTest calls the class setUp, the tests and the class tearDown one after another.
    public struct ScriptError: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    static let script: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("scripts/ha-cluster.sh").path
    }()

    public private(set) var dir = ""
    /// The multi-host conninfo, once started.
    public private(set) var conninfo: String?
    /// Why it did not start, when the packages are installed but it failed.
    public private(set) var startError: String?
    /// Why it cannot run here: patroni or etcd is not installed.
    public private(set) var missing: String?

    public init() {}

    /// The cluster's conninfo for a test; skips where Patroni is not installed, fails where it did not start.
    public func liveConninfo(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        if let conninfo { return conninfo }
        if let missing { throw XCTSkip(missing) }
        XCTFail(startError ?? "no cluster", file: file, line: line)
        throw ScriptError(description: startError ?? "no cluster")
    }

    /// The first block of ten ports in `range` of which the `span` lowest nothing listens on (`ss -Htln`), so another
    /// cluster on this machine (a drill, a second run, another engineer's tests) does not make a test fail; the
    /// range's first port when every block is taken (the start then fails and says why).
    public static func freeBasePort(in range: Range<Int>, span: Int = 6) -> Int {
        let listening = (try? runCommand("/bin/ss", ["-Htln"], timeoutSeconds: 10))?.stdout ?? ""
        let taken = Set(listening.split(separator: "\n").compactMap { line -> Int? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 4, let colon = fields[3].lastIndex(of: ":") else { return nil }
            return Int(fields[3][fields[3].index(after: colon)...])
        })
        return stride(from: range.lowerBound, to: range.upperBound, by: 10)
            .first { base in (base..<(base + span)).allSatisfy { !taken.contains($0) } } ?? range.lowerBound
    }

    public static var missingPackages: String? {
        system("command -v patroni >/dev/null 2>&1 && command -v etcd >/dev/null 2>&1") == 0
            ? nil : "patroni or etcd not installed (scripts/install-deps.sh installs the patroni and etcd-server packages)"
    }

    /// Starts a cluster of `members` on ports `basePort`…`basePort + 2 × members + 1`.
    public func start(name: String, basePort: Int, members: Int = 2) {
        if let m = Self.missingPackages { missing = m; return }
        dir = "/tmp/cashier-ha-\(UUID().uuidString.prefix(8))"
        do {
            conninfo = try run(["start", dir, "--name", name, "--base-port", String(basePort), "--members", String(members)])
                .trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            startError = "could not start the Patroni cluster: \(error)"
            destroy()
        }
    }

    public func destroy() {
        if !dir.isEmpty { _ = try? run(["destroy", dir], inDir: false) }
    }

    /// The current primary's member name.
    public func primary() throws -> String { try run(["primary"]).trimmingCharacters(in: .whitespacesAndNewlines) }

    /// The PostgreSQL port of member `name` (from `ha-cluster.sh members`).
    public func port(of name: String) throws -> Int {
        for line in try run(["members"]).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, fields[0] == Substring(name), let port = Int(fields[1]) { return port }
        }
        throw ScriptError(description: "no member \(name)")
    }

    /// Runs `ha-cluster.sh COMMAND DIR ARGS…` and returns its standard output; throws with its standard error.
    ///
    /// system(3) with output in files, not Foundation's Process: the daemons the script starts outlive it.
    @discardableResult
    public func run(_ arguments: [String], inDir: Bool = true) throws -> String {
        var args = arguments
        if inDir, arguments.first != "start" { args.insert(dir, at: 1) }
        let capture = "/tmp/ha-cluster-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: capture + ".out")
            try? FileManager.default.removeItem(atPath: capture + ".err")
        }
        let quoted = ([Self.script] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let status = system("timeout 180 " + quoted.joined(separator: " ") + " </dev/null >\(capture).out 2>\(capture).err")
        let output = (try? String(contentsOfFile: capture + ".out", encoding: .utf8)) ?? ""
        guard status == 0 else {
            let errors = (try? String(contentsOfFile: capture + ".err", encoding: .utf8)) ?? ""
            throw ScriptError(description: "ha-cluster.sh \(args.joined(separator: " ")) failed (\(status)): \(errors)")
        }
        return output
    }
}
