import CashierChannels
import CashierCore
import CashierService
import Foundation

/// A real `cashierd sandbox serve` process: the sandbox channel as a service of its own, shared by
/// `cashierd` instances as instances on other hosts would share it.
///
/// It has a data directory of its own (`cashierd init`, for its certificate; the ledger is its
/// `channel.sqlite`). `kill()` and `start()` crash and restart it on the same port with the same ledger.
public final class SandboxServer: @unchecked Sendable {
    // @unchecked: `child`, `url` and `port` change only in start(), called from the test's thread.
    public let directory: TemporaryDirectory
    public var dataPath: String { directory.file("sandbox") }
    /// The CA that signed the service's certificate.
    public var caFile: String { (dataPath as NSString).appendingPathComponent("ca.pem") }
    public var ledgerPath: String { (dataPath as NSString).appendingPathComponent("channel.sqlite") }
    /// The shared secret's file (owner-only), when the service signs.
    public let secretFile: String?
    public let tls: Bool
    public private(set) var url = ""
    public private(set) var child: ChildProcess?
    private var port: UInt16 = 0
    private let delays: [String]

    /// Sets up the data directory and starts the service on an ephemeral loopback port.
    public init(tls: Bool = true, signed: Bool = true, confirmDelayMs: Int = 1_500, slowDelayMs: Int = 1_000,
                autoCloseMs: Int = 180_000) throws {
        directory = try TemporaryDirectory(prefix: "sandboxd")
        self.tls = tls
        let made = try runCommand(Cashierd.binary, ["init", "--data", directory.file("sandbox"), "--groups", "1", "--listen", "127.0.0.1:0"])
        guard made.status == 0 else { throw RuntimeError("cashierd init for the sandbox failed: \(made.stderr)") }
        if signed {
            let file = directory.file("sandbox.secret")
            try (UUID().uuidString + UUID().uuidString + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
            secretFile = file
        } else {
            secretFile = nil
        }
        delays = ["--confirm-delay-ms", String(confirmDelayMs), "--slow-delay-ms", String(slowDelayMs), "--auto-close-ms", String(autoCloseMs)]
        try start()
    }

    /// Starts (or restarts, on the port it had) `cashierd sandbox serve` and waits until it listens.
    public func start() throws {
        var args = ["sandbox", "serve", "--data", dataPath, tls ? "--listen" : "--plain", "127.0.0.1:\(port)"] + delays
        if let secretFile { args += ["--secret-file", secretFile] }
        let child = try ChildProcess(Cashierd.binary, args)
        guard let line = child.waitForLine(containing: "sandbox listening on", timeoutSeconds: 30),
              let url = line.components(separatedBy: "listening on ").last, let colon = url.lastIndex(of: ":"),
              let port = UInt16(url[url.index(after: colon)...]) else {
            child.stop(signal: SIGKILL)
            throw RuntimeError("cashierd sandbox serve did not start: \(child.output.joined(separator: "\n"))")
        }
        self.url = url
        self.port = port
        self.child = child
    }

    /// Ends the service as a crash would (SIGKILL): answers in flight are lost, the ledger stays.
    public func kill() { child?.stop(signal: SIGKILL) }

    /// SIGTERM: requests in flight finish, then it exits.
    public func stop() { child?.stop(signal: SIGTERM) }

    public var secret: SandboxSecret? {
        get throws { try secretFile.map { try SandboxSecret(contentsOfFile: $0) } }
    }

    /// An adapter to this service, as `cashierd` builds it from `channel.sandbox_url`.
    public func channel(timeoutMs: Int = 10_000) throws -> SandboxHTTPChannel {
        try SandboxHTTPChannel(configuration: .init(url: url, caFile: tls ? caFile : nil, secret: try secret, timeoutMs: timeoutMs))
    }

    /// Points a `cashierd` configuration at this service.
    public func configure(_ configuration: inout ServiceConfiguration) {
        configuration.channel.sandboxUrl = url
        configuration.channel.sandboxCaFile = tls ? caFile : nil
        configuration.channel.sandboxSecretFile = secretFile
    }

    deinit { child?.stop(signal: SIGKILL, timeoutSeconds: 5) }
}

extension Cashierd {
    /// Another `cashierd` as on another host: a data directory of its own (its own configuration, instance
    /// number, certificate and CA, request log, channel settings), whose base data and order groups are
    /// `first`'s files, as two hosts share one database deployment. Its own `init --demo` store is not used
    /// (its `storeID` and `activationCode` belong to a base nobody reads); activate terminals through `first`.
    public static func anotherHost(sharingDataOf first: Cashierd, instance: Int = 2, listen: [String] = ["127.0.0.2:0"],
                                   tweak: (inout ServiceConfiguration) -> Void = { _ in }) throws -> Cashierd {
        let path = (first.dataPath as NSString).appendingPathComponent(ServiceRuntime.configurationFile)
        let shared = try API.makeDecoder().decode(ServiceConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        func absolute(_ location: ServiceConfiguration.DatabaseLocation) -> ServiceConfiguration.DatabaseLocation {
            guard case .sqlite(let file) = location, !file.hasPrefix("/") else { return location }
            return .sqlite(path: (first.dataPath as NSString).appendingPathComponent(file))
        }
        return try Cashierd(groups: 1, listen: listen) { c in
            c.instance = instance
            c.base = absolute(shared.base)
            c.groups = shared.groups.map { .init(tag: $0.tag, location: absolute($0.location), accepting: $0.accepting, frozen: $0.frozen) }
            c.routes = shared.routes
            tweak(&c)
        }
    }
}
