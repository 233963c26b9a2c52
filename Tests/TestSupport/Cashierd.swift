import CashierChannels
import CashierClient
import CashierCore
import CashierService
import Foundation
import HTTPClient

/// A real `cashierd` process with its own data directory, listening on ephemeral loopback ports.
public final class Cashierd: @unchecked Sendable {
    // @unchecked: fields are set in init; `child` is replaced only by restart(), called from the test thread.
    public let directory: TemporaryDirectory
    public var dataPath: String { directory.file("data") }
    public var caFile: String { (dataPath as NSString).appendingPathComponent("ca.pem") }
    public private(set) var child: ChildProcess?
    /// Base URLs as the service reported them, e.g. `https://127.0.0.1:40123`.
    public private(set) var urls: [String] = []
    /// The demo store and its first activation code (from `init --demo`).
    public private(set) var activationCode = ""
    public private(set) var storeID = ""
    public static let supervisorPIN = "2468"
    public static let cashierPIN = "1357"

    /// Initializes a data directory (`cashierd init --demo`), applies `tweak` to its configuration,
    /// runs `beforeStart` with the data directory's path (e.g. to move a database), and starts `cashierd serve`.
    public init(groups: Int = 3, listen: [String] = ["127.0.0.1:0", "127.0.0.2:0"], plain: [String] = [],
                tweak: (inout ServiceConfiguration) -> Void = { _ in },
                beforeStart: (String) throws -> Void = { _ in }) throws {
        directory = try TemporaryDirectory(prefix: "cashierd")
        var args = ["init", "--data", directory.file("data"), "--groups", String(groups), "--demo"]
        for l in listen { args += ["--listen", l] }
        for p in plain { args += ["--plain", p] }
        let result = try runCommand(Self.binary, args)
        guard result.status == 0 else { throw RuntimeError("cashierd init failed: \(result.stderr)") }
        for line in result.stdout.split(separator: "\n") {
            if line.hasPrefix("activation code: ") { activationCode = String(line.dropFirst("activation code: ".count)) }
            if line.hasPrefix("demo store ") { storeID = String(line.split(separator: " ")[2]) }
        }
        let configPath = (dataPath as NSString).appendingPathComponent(ServiceRuntime.configurationFile)
        var config = try API.makeDecoder().decode(ServiceConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: configPath)))
        config.channel.confirmDelayMs = 1_500
        config.channel.slowDelayMs = 1_000
        tweak(&config)
        try Administration.prettyEncoder().encode(config).write(to: URL(fileURLWithPath: configPath))
        try beforeStart(dataPath)
        try start()
    }

    public static var binary: String { productsDirectory() + "/cashierd" }

    /// Starts (or restarts) `cashierd serve` and waits until it listens. `onTheSameAddresses`: on the ports
    /// it had before (terminals configured with them reach it again), not new ephemeral ones.
    public func start(onTheSameAddresses: Bool = false) throws {
        var listen: [String] = []
        if onTheSameAddresses {
            for url in urls {
                listen += url.hasPrefix("https://") ? ["--listen", String(url.dropFirst("https://".count))]
                    : ["--plain", String(url.dropFirst("http://".count))]
            }
        }
        let child = try ChildProcess(Self.binary, ["serve", "--data", dataPath] + listen)
        guard let line = child.waitForLine(containing: "listening on", timeoutSeconds: 30) else {
            child.stop(signal: SIGKILL)
            throw RuntimeError("cashierd did not start: \(child.output.joined(separator: "\n"))")
        }
        urls = line.components(separatedBy: "listening on ").last!.components(separatedBy: ", ")
        self.child = child
    }

    /// Another `cashierd serve` process on the same data directory (so one domain can die alone, or two
    /// instances can be compared), listening on `listen`; returns it with its base URL once it listens.
    public func startAnotherInstance(listen: String, extraArguments: [String] = []) throws -> (process: ChildProcess, url: String) {
        let child = try ChildProcess(Self.binary, ["serve", "--data", dataPath, "--listen", listen] + extraArguments)
        guard let line = child.waitForLine(containing: "listening on", timeoutSeconds: 30),
              let url = line.components(separatedBy: "listening on ").last?.components(separatedBy: ", ").first else {
            child.stop(signal: SIGKILL)
            throw RuntimeError("the second cashierd did not start: \(child.output.joined(separator: "\n"))")
        }
        return (child, url)
    }

    /// Runs an admin command against the same data directory, e.g. `["device", "revoke", id]`.
    @discardableResult
    public func admin(_ arguments: [String]) throws -> CommandResult {
        var args = arguments
        args.insert(contentsOf: ["--data", dataPath], at: 1)
        return try runCommand(Self.binary, args)
    }

    /// The request log's lines, decoded, in the order written (every instance on this data directory
    /// appends to the one file).
    public func requestLog() throws -> [[String: Any]] {
        let text = try String(contentsOfFile: (dataPath as NSString).appendingPathComponent("requests.log"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Adds a store of `merchant` that takes sandbox codes; returns its id.
    public func addSandboxStore(merchant: String, name: String) throws -> String {
        let r = try admin(["store", "add", "--merchant", merchant, "--name", name])
        guard r.status == 0 else { throw RuntimeError("store add failed: \(r.stderr)") }
        let store = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let c = try admin(["store", "channel", "set", "--store", store, "--channel", "sandbox"])
        guard c.status == 0 else { throw RuntimeError("store channel set failed: \(c.stderr)") }
        return store
    }

    /// A fresh activation code for the demo store.
    public func newActivationCode() throws -> String {
        let r = try admin(["activation-code", "--store", storeID])
        guard r.status == 0 else { throw RuntimeError("activation-code failed: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func httpConfiguration(timeoutMs: Int = 10_000) -> HTTPClientConfiguration {
        HTTPClientConfiguration(caFile: caFile, connectTimeoutMs: 2_000, totalTimeoutMs: timeoutMs)
    }

    /// A signed transport to domain `index`.
    public func transport(_ index: Int = 0, timeoutMs: Int = 10_000) throws -> SignedTransport {
        try SignedTransport(baseURL: urls[index], http: httpConfiguration(timeoutMs: timeoutMs))
    }

    /// Activates a new terminal with a fresh code and returns its credentials.
    public func activateTerminal(code: String? = nil) throws -> DeviceCredentials {
        let code = try code ?? newActivationCode()
        switch try transport().activate(code: code, deviceName: "test terminal") {
        case .success(let r): return DeviceCredentials(deviceId: r.deviceId, deviceSecret: r.deviceSecret, store: r.store)
        case .failure(let f): throw RuntimeError("activation failed: \(f)")
        }
    }

    public func stop(signal: Int32 = SIGTERM) { child?.stop(signal: signal) }

    deinit { child?.stop(signal: SIGKILL, timeoutSeconds: 5) }
}

/// A signed terminal for tests: typed calls over a real `SignedTransport`.
public struct TestTerminal: Sendable {
    public let transport: SignedTransport
    public let credentials: DeviceCredentials

    public init(transport: SignedTransport, credentials: DeviceCredentials) {
        self.transport = transport
        self.credentials = credentials
    }

    public func createOrder(amount: Int64, items: [OrderItem]? = nil) -> Result<OrderView, CallFailure> {
        transport.call("POST", API.Path.orders, body: API.encode(CreateOrderRequest(amount: amount, items: items)),
                       credentials: credentials).decoded(OrderView.self)
    }

    public func pay(_ order: OrderNumber, code: String) -> Result<OrderView, CallFailure> {
        transport.call("POST", API.Path.pay(order), body: API.encode(PayRequest(paymentCode: code)), credentials: credentials)
            .decoded(OrderView.self)
    }

    public func query(_ order: OrderNumber) -> Result<OrderView, CallFailure> {
        transport.call("GET", API.Path.order(order), credentials: credentials).decoded(OrderView.self)
    }

    public func reverse(_ order: OrderNumber) -> Result<OrderView, CallFailure> {
        transport.call("POST", API.Path.reverse(order), credentials: credentials).decoded(OrderView.self)
    }

    public func refund(_ order: OrderNumber, amount: Int64, ref: String, pin: String) -> Result<RefundResponse, CallFailure> {
        transport.call("POST", API.Path.refunds(order), body: API.encode(RefundRequest(amount: amount, refundRef: ref, pin: pin)),
                       credentials: credentials).decoded(RefundResponse.self)
    }

    public func list(limit: Int = 20, cursor: String? = nil) -> Result<OrderListResponse, CallFailure> {
        var query = [("limit", String(limit))]
        if let cursor { query.append(("cursor", cursor)) }
        return transport.call("GET", API.Path.orders, query: query, credentials: credentials).decoded(OrderListResponse.self)
    }
}

/// Payment codes for each sandbox scenario: 18 digits, "99" + 15 random digits + the scenario digit.
public func paymentCode(_ scenario: SandboxScenario) -> String {
    var digits = "99"
    for _ in 0..<15 { digits += String(Int.random(in: 0...9)) }
    return digits + String(scenario.rawValue)
}

extension Result {
    /// The success value, or a thrown error describing the failure.
    public func unwrap() throws -> Success {
        switch self {
        case .success(let v): return v
        case .failure(let e): throw RuntimeError("\(e)")
        }
    }
}
