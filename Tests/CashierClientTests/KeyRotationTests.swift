import CashierClient
import CashierCore
import CashierCrypto
import Foundation
import HTTPClient
import HTTPServer
import SQLite
import TestSupport
import XCTest

/// The real `cashier` and its keys: a key pair at activation, `cashier rotate-key` from a key pair and
/// from a shared secret, and rotations whose answer (or request) is lost on the way.
final class KeyRotationTests: XCTestCase {
    var service: Cashierd!

    override func setUpWithError() throws {
        service = try Cashierd(groups: 1)
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    func testActivationMakesAKeyPairWhosePrivateKeyStaysInTheKeystore() throws {
        let harness = try ClientHarness(domains: service.urls, caFile: service.caFile)
        try harness.activate(service)
        let keystore = try keystoreJSON(harness)
        XCTAssertNil(keystore["device_secret"], "no shared secret: \(keystore.keys.sorted())")
        let credentials = try XCTUnwrap(try Keystore(path: keystorePath(harness)).load())
        XCTAssertEqual(credentials.scheme, .ed25519)
        guard case .ed25519(let key)? = credentials.signingKey else { return XCTFail("no private key") }
        let row = try baseRow(credentials.deviceId)
        XCTAssertEqual(row.type, "ed25519")
        XCTAssertNil(row.secret)
        XCTAssertEqual(row.publicKey, key.publicKey, "the service holds the terminal's public key and nothing else")
        XCTAssertEqual(try harness.run(["pay", "--amount", "1.00", "--code", paymentCode(.paid)]).status, 0)
    }

    func testRotateKeyReplacesAKeyPairAndTheOldKeyIsRefused() throws {
        let harness = try ClientHarness(domains: service.urls, caFile: service.caFile)
        try harness.activate(service)
        let before = try XCTUnwrap(try Keystore(path: keystorePath(harness)).load())
        let r = try harness.runJSON(["rotate-key"])
        XCTAssertEqual(r.status, 0, r.raw.stdout + r.raw.stderr)
        XCTAssertEqual(r.json["rotated"] as? Bool, true)
        XCTAssertEqual(r.json["answer_lost"] as? Bool, false)
        let after = try XCTUnwrap(try Keystore(path: keystorePath(harness)).load())
        XCTAssertNotEqual(after.privateKey, before.privateKey)
        XCTAssertNil(after.pendingPrivateKey)
        XCTAssertEqual(try modeOfKeystore(harness), 0o600)
        XCTAssertEqual(try pingCode(before), .signatureInvalid, "the old key still works")
        XCTAssertNil(try pingCode(after))
        XCTAssertEqual(try harness.run(["pay", "--amount", "2.00", "--code", paymentCode(.paid)]).status, 0)
    }

    /// A terminal activated before key pairs (its keystore holds a shared secret) keeps working, and
    /// `rotate-key` moves it to a key pair: the service then has no secret for it.
    func testATerminalWithASharedSecretRotatesIntoAKeyPair() throws {
        let harness = try ClientHarness(domains: service.urls, caFile: service.caFile)
        let old = try service.activateTerminal()
        try Keystore(path: keystorePath(harness)).save(old)
        XCTAssertEqual(try harness.run(["pay", "--amount", "3.00", "--code", paymentCode(.paid)]).status, 0, "an HMAC terminal sells as before")

        let r = try harness.runJSON(["rotate-key"])
        XCTAssertEqual(r.status, 0, r.raw.stdout + r.raw.stderr)
        XCTAssertEqual(r.json["scheme"] as? String, "CASHIER-ED25519")
        let keystore = try keystoreJSON(harness)
        XCTAssertNil(keystore["device_secret"], "the terminal forgot its secret")
        XCTAssertNotNil(keystore["private_key"])
        let row = try baseRow(old.deviceId)
        XCTAssertEqual(row.type, "ed25519")
        XCTAssertNil(row.secret, "the service forgot the secret")
        XCTAssertEqual(try pingCode(old), .signatureInvalid)
        XCTAssertEqual(try harness.run(["pay", "--amount", "4.00", "--code", paymentCode(.paid)]).status, 0)
    }

    /// The service takes the rotation but its answer never reaches the terminal. The terminal keeps both
    /// keys, pings with the new one, finds it in force, and keeps it.
    func testALostRotationAnswerIsRecovered() throws {
        let proxy = try LossyProxy(to: service)
        defer { proxy.stop() }
        let harness = try ClientHarness(domains: [proxy.url, proxy.url], caFile: service.caFile)
        try harness.activate(service)
        let before = try XCTUnwrap(try Keystore(path: keystorePath(harness)).load())
        proxy.mode = .loseRotationAnswer
        let r = try harness.runJSON(["rotate-key"])
        XCTAssertEqual(r.status, 0, r.raw.stdout + r.raw.stderr)
        XCTAssertEqual(r.json["answer_lost"] as? Bool, true)
        XCTAssertEqual(proxy.rotationsForwarded, 1)
        let after = try XCTUnwrap(try Keystore(path: keystorePath(harness)).load())
        XCTAssertNotEqual(after.privateKey, before.privateKey)
        XCTAssertNil(after.pendingPrivateKey)
        XCTAssertEqual(try pingCode(before), .signatureInvalid)
        XCTAssertNil(try pingCode(after))
        let log = try String(contentsOfFile: logPath(harness), encoding: .utf8)
        XCTAssertTrue(log.contains("the service answers the new key"), log)
    }

    /// The answer is lost and then the service cannot be reached at all: the outcome is unknown, so both
    /// keys stay in the keystore (the terminal is never left without the one the service holds), and the
    /// next command settles it.
    func testAnUnsettledRotationKeepsBothKeysAndTheNextCommandSettlesIt() throws {
        let proxy = try LossyProxy(to: service)
        defer { proxy.stop() }
        let harness = try ClientHarness(domains: [proxy.url, proxy.url], caFile: service.caFile)
        try harness.activate(service)
        let before = try XCTUnwrap(try Keystore(path: keystorePath(harness)).load())
        proxy.mode = .loseRotationAnswerThenGoDown
        let r = try harness.runJSON(["rotate-key"])
        XCTAssertEqual(r.status, 5, r.raw.stdout + r.raw.stderr)
        let pending = try XCTUnwrap(try Keystore(path: keystorePath(harness)).load())
        XCTAssertEqual(pending.privateKey, before.privateKey, "the current key is kept")
        let next = try XCTUnwrap(pending.withPendingKeyInForce(), "the new key is kept beside it")
        XCTAssertEqual(try pingCode(before), .signatureInvalid, "the service took the rotation")
        XCTAssertNil(try pingCode(next))

        proxy.mode = .forward
        let status = try harness.runJSON(["status"])
        XCTAssertEqual(status.status, 0, status.raw.stdout + status.raw.stderr)
        let settled = try XCTUnwrap(try Keystore(path: keystorePath(harness)).load())
        XCTAssertEqual(settled.privateKey, next.privateKey)
        XCTAssertNil(settled.pendingPrivateKey)
        XCTAssertEqual(try harness.run(["pay", "--amount", "5.00", "--code", paymentCode(.paid)]).status, 0)
    }

    /// The rotation never reaches the service and the terminal cannot ask: both keys are kept; once the
    /// service answers again, it is found holding the old key and the rotation is sent again, to the same
    /// new key, before the next sale.
    func testARotationThatNeverArrivedIsSentAgainBeforeTheNextSale() throws {
        let proxy = try LossyProxy(to: service)
        defer { proxy.stop() }
        let harness = try ClientHarness(domains: [proxy.url, proxy.url], caFile: service.caFile)
        try harness.activate(service)
        let before = try XCTUnwrap(try Keystore(path: keystorePath(harness)).load())
        proxy.mode = .loseRotationRequestThenGoDown
        XCTAssertEqual(try harness.run(["rotate-key"]).status, 5)
        XCTAssertEqual(proxy.rotationsForwarded, 0)
        let pending = try XCTUnwrap(try Keystore(path: keystorePath(harness)).load())
        let next = try XCTUnwrap(pending.withPendingKeyInForce())
        XCTAssertNil(try pingCode(before), "the service still holds the old key")

        proxy.mode = .forward
        XCTAssertEqual(try harness.run(["pay", "--amount", "6.00", "--code", paymentCode(.paid)]).status, 0)
        XCTAssertEqual(proxy.rotationsForwarded, 1)
        let settled = try XCTUnwrap(try Keystore(path: keystorePath(harness)).load())
        XCTAssertEqual(settled.privateKey, next.privateKey, "the same new key, not another")
        XCTAssertNil(settled.pendingPrivateKey)
        XCTAssertEqual(try pingCode(before), .signatureInvalid)
    }

    // MARK: - Helpers

    private func keystorePath(_ harness: ClientHarness) -> String {
        harness.configuration.resolvingPaths(against: (harness.configPath as NSString).deletingLastPathComponent).keystorePath
    }

    private func logPath(_ harness: ClientHarness) -> String {
        harness.configuration.resolvingPaths(against: (harness.configPath as NSString).deletingLastPathComponent).logPath
    }

    private func keystoreJSON(_ harness: ClientHarness) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: keystorePath(harness)))) as? [String: Any])
    }

    private func modeOfKeystore(_ harness: ClientHarness) throws -> Int? {
        (try FileManager.default.attributesOfItem(atPath: keystorePath(harness))[.posixPermissions] as? NSNumber)?.intValue
    }

    /// The refusal of a ping signed with `credentials`' current key, straight to the service; nil if it answers.
    private func pingCode(_ credentials: DeviceCredentials) throws -> ErrorCode? {
        switch try service.transport().call("GET", API.Path.ping, credentials: credentials) {
        case .success: return nil
        case .failure(.service(let e)): return e.code
        case .failure(let f): throw ProxyError(description: "ping: \(f)")
        }
    }

    private func baseRow(_ id: String) throws -> (type: String, secret: [UInt8]?, publicKey: [UInt8]?) {
        let db = try Database(.path((service.dataPath as NSString).appendingPathComponent("base.sqlite")), options: .init(readOnly: true))
        defer { db.close() }
        return try XCTUnwrap(try db.query("SELECT key_type, secret, public_key FROM devices WHERE id = ?", [.text(id)]) {
            ($0.string(0), $0.isNull(1) ? nil : $0.blob(1), $0.isNull(2) ? nil : $0.blob(2))
        }.first)
    }
}

/// A plain-HTTP front door to the service that can lose a key rotation on the way: its answer (the
/// service took it), or the request itself (the service never saw it), and then everything after.
final class LossyProxy: @unchecked Sendable {
    // @unchecked: `modeValue` and `forwarded` are guarded by `lock`; the server and target are set in init.
    enum Mode {
        case forward
        case loseRotationAnswer
        case loseRotationAnswerThenGoDown
        case loseRotationRequestThenGoDown
        case down
    }

    private let lock = NSLock()
    private var modeValue = Mode.forward
    private var forwarded = 0
    private var server: HTTPServer!
    let url: String

    var mode: Mode {
        get { lock.lock(); defer { lock.unlock() }; return modeValue }
        set { lock.lock(); modeValue = newValue; lock.unlock() }
    }

    var rotationsForwarded: Int { lock.lock(); defer { lock.unlock() }; return forwarded }

    init(to service: Cashierd) throws {
        let target = service.urls[0]
        let http = service.httpConfiguration()
        let box = Box()
        let server = try HTTPServer(configuration: HTTPServerConfiguration(listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: false)])) { request in
            box.proxy?.handle(request, target: target, http: http) ?? HTTPResponse(status: 503)
        }
        url = "http://127.0.0.1:\(server.boundAddresses[0].port)"
        self.server = server
        box.proxy = self
    }

    /// Lets the server's handler reach the proxy without keeping it alive. Set once, before any request.
    private final class Box: @unchecked Sendable {
        weak var proxy: LossyProxy?
    }

    func stop() { server.stop() }

    private static let lost = HTTPResponse(status: 502, headers: [("Content-Type", "text/plain")], body: Array("bad gateway".utf8))

    private func handle(_ request: HTTPRequest, target: String, http: HTTPClientConfiguration) -> HTTPResponse {
        let isRotation = request.path == API.Path.rotateKey
        lock.lock()
        let mode = modeValue
        switch mode {
        case .loseRotationAnswerThenGoDown where isRotation: modeValue = .down
        case .loseRotationRequestThenGoDown where isRotation: modeValue = .down
        default: break
        }
        lock.unlock()
        switch mode {
        case .down: return Self.lost
        case .loseRotationRequestThenGoDown where isRotation: return Self.lost
        default: break
        }
        let answer = forward(request, target: target, http: http)
        if isRotation {
            lock.lock(); forwarded += 1; lock.unlock()
            if mode == .loseRotationAnswer || mode == .loseRotationAnswerThenGoDown { return Self.lost }
        }
        return answer
    }

    private func forward(_ request: HTTPRequest, target: String, http: HTTPClientConfiguration) -> HTTPResponse {
        var url = target + request.path
        if !request.query.isEmpty {
            url += "?" + request.query.map { "\(Signing.percentEncode($0.0))=\(Signing.percentEncode($0.1))" }.joined(separator: "&")
        }
        let headers = request.headers.filter { $0.key.hasPrefix("x-cashier-") || $0.key == "content-type" }
        guard let connection = try? CurlConnection(configuration: http),
              case .success(let r) = connection.perform(method: request.method, url: url, headers: headers,
                                                        body: request.method == "GET" ? nil : request.body) else { return Self.lost }
        let kept = r.headers.filter { $0.key.hasPrefix("x-cashier-") || $0.key == "content-type" || $0.key == "retry-after" }
        return HTTPResponse(status: r.status, headers: kept.map { ($0.key, $0.value) }, body: r.body)
    }
}

struct ProxyError: Error, CustomStringConvertible {
    let description: String
}
