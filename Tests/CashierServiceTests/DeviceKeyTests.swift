import CashierClient
import CashierCore
import CashierCrypto
import CashierService
import Foundation
import HTTPClient
import Postgres
import SQLite
import TestSupport
import XCTest

/// Terminals with Ed25519 key pairs against a real cashierd: the base data holds no secret for them, the
/// scheme is the stored key's, terminals with a shared secret keep working, and a rotation (from a secret
/// or from a key pair) refuses the old key at once.
final class DeviceKeyTests: XCTestCase {
    var service: Cashierd!

    override func setUpWithError() throws {
        service = try Cashierd(groups: 2)
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    func testATerminalWithAKeyPairPaysAndRefundsAndTheBaseHoldsNoSecretForIt() throws {
        let key = Ed25519.PrivateKey.generate()
        let transport = try service.transport()
        let answer = try transport.activate(code: try service.newActivationCode(), deviceName: "till", publicKey: key.publicKey).get()
        guard case .publicKey(let activation) = answer else { return XCTFail("answered with a secret: \(answer)") }
        let credentials = DeviceCredentials(deviceId: activation.deviceId, privateKey: key,
                                            servicePublicKey: activation.servicePublicKey, store: activation.store)
        let terminal = TestTerminal(transport: transport, credentials: credentials)

        // Every answer below is checked against the service's public key by the transport.
        let paid = try terminal.createOrder(amount: 1_250).unwrap()
        XCTAssertEqual(try terminal.pay(paid.orderNo, code: paymentCode(.paid)).unwrap().status, .paid)
        let refund = try terminal.refund(paid.orderNo, amount: 250, ref: "r1", pin: Cashierd.supervisorPIN).unwrap()
        XCTAssertEqual(refund.order.refundedAmount, 250)
        let ping = try transport.call("GET", API.Path.ping, credentials: credentials).decoded(PingResponse.self).unwrap()
        XCTAssertEqual(ping.servicePublicKey, activation.servicePublicKey)

        // An answer to this terminal verifies under the service's key and the Ed25519 scheme only.
        let raw = try send("GET", API.Path.ping, credentials: credentials)
        let nonce = raw.nonce
        let stamp = try XCTUnwrap(raw.response.headers["x-cashier-timestamp"].flatMap(Int64.init))
        let signature = try XCTUnwrap(raw.response.headers["x-cashier-signature"])
        XCTAssertEqual(signature.count, 128)
        let toVerify = ResponseToSign(status: 200, requestMethod: "GET", requestPath: API.Path.ping, requestNonce: nonce,
                                      timestamp: stamp, deviceID: credentials.deviceId, body: raw.response.body)
        let servicePublicKey = try XCTUnwrap(Signing.publicKey(hex: activation.servicePublicKey))
        XCTAssertTrue(Signing.verify(toVerify, signature: signature, with: .ed25519(publicKey: servicePublicKey)))

        // The base file: the device's public key and no secret; the service's own key is the one it announced.
        let row = try baseRow(credentials.deviceId)
        XCTAssertEqual(row.type, "ed25519")
        XCTAssertNil(row.secret, "the base data holds no secret for this device")
        XCTAssertEqual(row.publicKey, key.publicKey)
        XCTAssertEqual(try baseQuery("SELECT public_key FROM service_keys") { $0.blob(0) }, [servicePublicKey])
        XCTAssertFalse(try baseQuery("SELECT secret FROM devices WHERE secret IS NOT NULL") { $0.blob(0) }.contains(key.seed))
    }

    /// A reader of the base data has the device's public key: neither it as an HMAC secret, nor another
    /// key pair, nor the right signature written in upper case gets a request through.
    func testARequestSignedWithTheWrongKeyOrSchemeIsRefused() throws {
        let (credentials, key) = try activateWithKeyPair()
        let body = API.encode(CreateOrderRequest(amount: 100))
        func attempt(_ sign: (RequestToSign) -> String) throws -> (Int, ErrorCode?) {
            let timestamp = Int64(Date().timeIntervalSince1970)
            let nonce = Signing.makeNonce()
            let toSign = RequestToSign(method: "POST", path: API.Path.orders, timestamp: timestamp, nonce: nonce,
                                       deviceID: credentials.deviceId, body: body)
            let headers = [SignatureHeader.device: credentials.deviceId, SignatureHeader.timestamp: String(timestamp),
                           SignatureHeader.nonce: nonce, SignatureHeader.signature: sign(toSign)]
            let r = try CurlConnection(configuration: service.httpConfiguration())
                .perform(method: "POST", url: service.urls[0] + API.Path.orders, headers: headers, body: body).get()
            return (r.status, (try? API.decode(ErrorEnvelope.self, from: r.body))?.error.code)
        }
        let stranger = Ed25519.PrivateKey.generate()
        XCTAssertEqual(try attempt { Signing.sign($0, with: .ed25519(stranger)) }.1, .signatureInvalid, "another key pair")
        XCTAssertEqual(try attempt { Signing.sign($0, with: .hmacSHA256(secret: key.publicKey)) }.1, .signatureInvalid,
                       "the public key as an HMAC secret")
        XCTAssertEqual(try attempt { Signing.sign($0, with: .hmacSHA256(secret: key.seed)) }.1, .signatureInvalid,
                       "the HMAC scheme, even under the private key")
        XCTAssertEqual(try attempt { Signing.sign($0, with: .ed25519(key)).uppercased() }.1, .signatureInvalid, "upper-case hex")
        XCTAssertEqual(try attempt { Signing.signature(of: $0.canonicalForm(.hmacSHA256), with: .ed25519(key)) }.1, .signatureInvalid,
                       "the device's key over the other scheme's canonical form")
        XCTAssertEqual(try attempt { Signing.sign($0, with: .ed25519(key)) }.0, 201, "the device's own signature")
        let orders = try TestTerminal(transport: service.transport(), credentials: credentials).list().unwrap().orders
        XCTAssertEqual(orders.count, 1, "only the genuine request made an order")
    }

    /// Terminals activated before public keys (no `public_key`): a shared secret, used as before.
    func testATerminalWithASharedSecretKeepsWorking() throws {
        let credentials = try service.activateTerminal()
        XCTAssertEqual(credentials.scheme, .hmacSHA256)
        let terminal = TestTerminal(transport: try service.transport(), credentials: credentials)
        let order = try terminal.createOrder(amount: 900).unwrap()
        XCTAssertEqual(try terminal.pay(order.orderNo, code: paymentCode(.paid)).unwrap().status, .paid)
        XCTAssertEqual(try terminal.refund(order.orderNo, amount: 900, ref: "all", pin: Cashierd.supervisorPIN).unwrap().order.refundedAmount, 900)
        let raw = try send("GET", API.Path.ping, credentials: credentials)
        XCTAssertEqual(raw.response.headers["x-cashier-signature"]?.count, 64, "answers to it are HMAC-signed as before")
        let row = try baseRow(credentials.deviceId)
        XCTAssertEqual(row.type, "hmac-sha256")
        XCTAssertEqual(row.secret, credentials.key)
        XCTAssertNil(row.publicKey)
    }

    func testRotationFromASharedSecretToAKeyPairDeletesTheSecretAndRefusesItAtOnce() throws {
        let old = try service.activateTerminal()
        try assertRotation(from: old, secretToDelete: old.key)
        // The secret is nowhere in the base file any more, not even in freed space: stop the service and
        // let a last connection fold the log back into the file.
        service.stop()
        let path = (service.dataPath as NSString).appendingPathComponent("base.sqlite")
        try Database(.path(path)).close()
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertFalse(bytes.contains(old.key), "the rotated-away secret's bytes are still in base.sqlite")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-wal") && ((try? Data(contentsOf: URL(fileURLWithPath: path + "-wal"))).map {
            [UInt8]($0).contains(old.key)
        } ?? false), "the secret is still in the write-ahead log")
    }

    func testRotationFromOneKeyPairToAnotherRefusesTheOldKeyAtOnce() throws {
        let (old, _) = try activateWithKeyPair()
        let rotated = try assertRotation(from: old, secretToDelete: nil)
        // And once more from the rotated key: rotation is repeatable.
        try assertRotation(from: rotated, secretToDelete: nil)
    }

    /// Two rotations signed with the same key (a terminal's request duplicated, or a thief racing the
    /// owner): one takes effect; the other is refused and its key never works.
    func testOfTwoRotationsSignedWithOneKeyOnlyOneTakesEffect() throws {
        let (old, _) = try activateWithKeyPair()
        let transport = try service.transport()
        let (a, b) = (Ed25519.PrivateKey.generate(), Ed25519.PrivateKey.generate())
        XCTAssertNoThrow(try rotate(transport, old, to: a).get())
        XCTAssertEqual(refusal(rotate(transport, old, to: b)), .signatureInvalid)
        XCTAssertNil(refusal(ping(transport, old.deviceId, key: a, servicePublicKey: old.servicePublicKey!)))
        XCTAssertEqual(refusal(ping(transport, old.deviceId, key: b, servicePublicKey: old.servicePublicKey!)), .signatureInvalid)
        // A rotation to the key already in force, or to something that is no key, is refused and changes nothing.
        let current = DeviceCredentials(deviceId: old.deviceId, privateKey: a, servicePublicKey: old.servicePublicKey!, store: old.store)
        XCTAssertEqual(refusal(rotate(transport, current, to: a)), .invalidField)
        let garbage = transport.call("POST", API.Path.rotateKey, body: Array(#"{"public_key":"ABCD"}"#.utf8), credentials: current)
        XCTAssertEqual(refusal(garbage), .invalidField)
        XCTAssertNil(refusal(ping(transport, old.deviceId, key: a, servicePublicKey: old.servicePublicKey!)))
    }

    // MARK: - Helpers

    /// Rotates `old` to a new key pair as a terminal does, and checks: the answer is signed with the old key,
    /// the old key is refused from the next request on, the new one sells, the base row holds only it.
    @discardableResult
    private func assertRotation(from old: DeviceCredentials, secretToDelete: [UInt8]?,
                                file: StaticString = #filePath, line: UInt = #line) throws -> DeviceCredentials {
        try assertRotation(service, from: old, secretToDelete: secretToDelete, row: baseRow, file: file, line: line)
    }

    private func activateWithKeyPair() throws -> (DeviceCredentials, Ed25519.PrivateKey) {
        let key = Ed25519.PrivateKey.generate()
        let answer = try service.transport().activate(code: try service.newActivationCode(), deviceName: "till", publicKey: key.publicKey).get()
        guard case .publicKey(let a) = answer else { throw RuntimeError("answered with a secret") }
        return (DeviceCredentials(deviceId: a.deviceId, privateKey: key, servicePublicKey: a.servicePublicKey, store: a.store), key)
    }

    private func baseQuery<T>(_ sql: String, _ bindings: [SQLiteValue] = [], row: (Statement) throws -> T) throws -> [T] {
        let db = try Database(.path((service.dataPath as NSString).appendingPathComponent("base.sqlite")), options: .init(readOnly: true))
        defer { db.close() }
        return try db.query(sql, bindings, row: row)
    }

    private func baseRow(_ id: String) throws -> DeviceRow {
        try XCTUnwrap(try baseQuery("SELECT key_type, secret, public_key FROM devices WHERE id = ?", [.text(id)]) {
            DeviceRow(type: $0.string(0), secret: $0.isNull(1) ? nil : $0.blob(1), publicKey: $0.isNull(2) ? nil : $0.blob(2))
        }.first)
    }

    /// A signed request sent by hand, for the answer's raw headers.
    private func send(_ method: String, _ path: String,
                      credentials: DeviceCredentials) throws -> (nonce: String, response: HTTPClientResponse) {
        let timestamp = Int64(Date().timeIntervalSince1970)
        let nonce = Signing.makeNonce()
        let toSign = RequestToSign(method: method, path: path, timestamp: timestamp, nonce: nonce, deviceID: credentials.deviceId, body: [])
        let headers = [SignatureHeader.device: credentials.deviceId, SignatureHeader.timestamp: String(timestamp),
                       SignatureHeader.nonce: nonce, SignatureHeader.signature: Signing.sign(toSign, with: try XCTUnwrap(credentials.signingKey))]
        let r = try CurlConnection(configuration: service.httpConfiguration()).perform(method: method, url: service.urls[0] + path,
                                                                                      headers: headers, body: nil).get()
        return (nonce, r)
    }
}

/// The key columns of a device's row in the base data.
struct DeviceRow {
    var type: String
    var secret: [UInt8]?
    var publicKey: [UInt8]?
}

/// A rotation as a terminal sends it: signed with `credentials`' current key, carrying `key`'s public key.
func rotate(_ transport: SignedTransport, _ credentials: DeviceCredentials, to key: Ed25519.PrivateKey) -> Result<RotateKeyResponse, CallFailure> {
    transport.call("POST", API.Path.rotateKey, body: API.encode(RotateKeyRequest(publicKey: Hex.encode(key.publicKey))),
                   credentials: credentials).decoded(RotateKeyResponse.self)
}

/// A ping signed with `key`, its answer checked against the service's public key.
func ping(_ transport: SignedTransport, _ deviceID: String, key: Ed25519.PrivateKey, servicePublicKey: String) -> Result<PingResponse, CallFailure> {
    let credentials = DeviceCredentials(deviceId: deviceID, privateKey: key, servicePublicKey: servicePublicKey,
                                        store: StoreInfo(storeId: "", storeName: "", merchantId: "", merchantName: "", currency: "CNY"))
    return transport.call("GET", API.Path.ping, credentials: credentials).decoded(PingResponse.self)
}

/// The error code of a refused call; nil when it succeeded (a failure of another kind fails the test).
func refusal<T>(_ result: Result<T, CallFailure>, file: StaticString = #filePath, line: UInt = #line) -> ErrorCode? {
    switch result {
    case .success: return nil
    case .failure(.service(let e)): return e.code
    case .failure(let f):
        XCTFail("not an answer from the service: \(f)", file: file, line: line)
        return .internalError
    }
}

extension XCTestCase {
    /// Rotates `old` to a new key pair on `service` and checks what a rotation promises; returns the new
    /// credentials. `row` reads the device's key columns from the base data (SQLite or PostgreSQL).
    @discardableResult
    func assertRotation(_ service: Cashierd, from old: DeviceCredentials, secretToDelete: [UInt8]?, row: (String) throws -> DeviceRow,
                        file: StaticString = #filePath, line: UInt = #line) throws -> DeviceCredentials {
        let transport = try service.transport()
        let next = Ed25519.PrivateKey.generate()
        // A terminal with a secret learns the service's key first, in an answer signed with the secret.
        let servicePublicKey = try old.servicePublicKey
            ?? XCTUnwrap(try transport.call("GET", API.Path.ping, credentials: old).decoded(PingResponse.self).unwrap().servicePublicKey,
                         file: file, line: line)
        // The answer verifies under the old key (the transport checks it with `old`).
        let answer = try rotate(transport, old, to: next).unwrap()
        XCTAssertEqual(answer.deviceId, old.deviceId, file: file, line: line)
        XCTAssertEqual(answer.servicePublicKey, servicePublicKey, file: file, line: line)

        // The old key is refused from the very next request, on every domain.
        for domain in service.urls.indices {
            let t = try service.transport(domain)
            XCTAssertEqual(refusal(t.call("GET", API.Path.ping, credentials: old), file: file, line: line), .signatureInvalid,
                           "the old key still works on domain \(domain)", file: file, line: line)
        }
        let new = DeviceCredentials(deviceId: old.deviceId, privateKey: next, servicePublicKey: answer.servicePublicKey, store: old.store)
        let terminal = TestTerminal(transport: transport, credentials: new)
        let order = try terminal.createOrder(amount: 700).unwrap()
        XCTAssertEqual(try terminal.pay(order.orderNo, code: paymentCode(.paid)).unwrap().status, .paid, file: file, line: line)
        XCTAssertEqual(refusal(TestTerminal(transport: transport, credentials: old).query(order.orderNo), file: file, line: line),
                       .signatureInvalid, file: file, line: line)

        let stored = try row(old.deviceId)
        XCTAssertEqual(stored.type, "ed25519", file: file, line: line)
        XCTAssertEqual(stored.publicKey, next.publicKey, file: file, line: line)
        XCTAssertNil(stored.secret, "the base data still holds a secret for the device", file: file, line: line)
        if secretToDelete != nil { XCTAssertEqual(old.scheme, .hmacSHA256, file: file, line: line) }
        return new
    }
}

/// The same on a PostgreSQL base: activation with a key pair, and rotations from a secret and from a key pair.
final class DeviceKeyPostgresTests: XCTestCase {
    func testKeyPairsAndRotationsOnAPostgreSQLBase() throws {
        let cluster = try ThrowawayPostgres.start()
        defer { cluster.destroy() }
        let service = try Cashierd(groups: 1, tweak: { $0.base = .postgres(url: cluster.conninfo) })
        defer { service.stop() }
        // The PostgreSQL base starts empty: a merchant, a store with a supervisor, and codes made there.
        func admin(_ arguments: [String]) throws -> String {
            let r = try service.admin(arguments)
            guard r.status == 0 else { throw RuntimeError("cashierd \(arguments.joined(separator: " ")): \(r.stderr)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let merchant = try admin(["merchant", "add", "Tea on PostgreSQL"])
        let store = try service.addSandboxStore(merchant: merchant, name: "Main")
        _ = try admin(["staff", "add", "--store", store, "--name", "Sam", "--role", "supervisor", "--pin", Cashierd.supervisorPIN])
        let base = try Connection(options: ConnectionOptions(conninfo: cluster.conninfo))
        defer { base.close() }
        func row(_ id: String) throws -> DeviceRow {
            let r = try XCTUnwrap(try base.execute("SELECT key_type, secret_hex, public_key_hex FROM devices WHERE id = $1", [id]).rows.first)
            return DeviceRow(type: r[0] ?? "", secret: r[1].flatMap(Hex.decode), publicKey: r[2].flatMap(Hex.decode))
        }

        let transport = try service.transport()
        let withSecret = try transport.activate(code: try admin(["activation-code", "--store", store]), deviceName: "old").get()
        let old = DeviceCredentials(deviceId: withSecret.deviceId, deviceSecret: withSecret.deviceSecret, store: withSecret.store)
        XCTAssertEqual(try row(old.deviceId).secret, old.key)
        let rotated = try assertRotation(service, from: old, secretToDelete: old.key, row: row)
        try assertRotation(service, from: rotated, secretToDelete: nil, row: row)

        let key = Ed25519.PrivateKey.generate()
        guard case .publicKey(let a) = try transport.activate(code: try admin(["activation-code", "--store", store]), deviceName: "new",
                                                              publicKey: key.publicKey).get() else { return XCTFail("answered with a secret") }
        let stored = try row(a.deviceId)
        XCTAssertEqual(stored.type, "ed25519")
        XCTAssertNil(stored.secret, "the base data holds no secret for this device")
        XCTAssertEqual(stored.publicKey, key.publicKey)
        let fresh = DeviceCredentials(deviceId: a.deviceId, privateKey: key, servicePublicKey: a.servicePublicKey, store: a.store)
        let order = try TestTerminal(transport: transport, credentials: fresh).createOrder(amount: 300).unwrap()
        XCTAssertEqual(try TestTerminal(transport: transport, credentials: fresh).pay(order.orderNo, code: paymentCode(.paid)).unwrap().status, .paid)
    }
}

/// A PostgreSQL cluster of its own for one test, started with scripts/pg-cluster.sh; the test is skipped
/// where the server binaries are not installed.
struct ThrowawayPostgres {
    let directory: String
    let port: Int
    var conninfo: String { "host=127.0.0.1 port=\(port) user=postgres dbname=postgres" }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/pg-cluster.sh").path
    }

    static func start() throws -> ThrowawayPostgres {
        guard run(["bindir"]) == 0 else { throw XCTSkip("PostgreSQL server binaries are not installed (scripts/install-deps.sh installs postgresql)") }
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...32_767)
            let cluster = ThrowawayPostgres(directory: "/tmp/cashier-pg-keys-\(UUID().uuidString.prefix(8))", port: port)
            if run(["start", cluster.directory, String(port)]) == 0 { return cluster }
            cluster.destroy()
        }
        throw RuntimeError("no PostgreSQL cluster would start")
    }

    func destroy() { _ = Self.run(["destroy", directory]) }

    /// With system(3) and no pipes: the server outlives the script and must not hold a descriptor of ours.
    @discardableResult
    private static func run(_ arguments: [String]) -> Int32 {
        let quoted = ([script] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        return system(quoted.joined(separator: " ") + " </dev/null >/dev/null 2>&1")
    }
}
