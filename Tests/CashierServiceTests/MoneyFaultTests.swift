import CashierClient
import CashierCore
import CashierService
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// What the fault-injection runs found (issue: "What outside testing found"): a group that can be read
/// but not written, and base data on a full disk. Each test fails on the service as it was before.
final class GroupReadOnlyMoneyTests: XCTestCase {
    var service: Cashierd!
    var terminal: TestTerminal!

    override func setUpWithError() throws {
        guard DatabaseLock.isAvailable else { throw XCTSkip("the sqlite3 tool (Debian package sqlite3) is needed to lock a group") }
        service = try Cashierd(groups: 2, tweak: { $0.hopping.halfLifeSeconds = 3 })
        terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    private func lockGroup(of order: OrderNumber) throws -> DatabaseLock {
        try DatabaseLock(databasePath: (service.dataPath as NSString)
            .appendingPathComponent(String(format: "group-%02d.sqlite", order.group.value)))
    }

    /// The customer confirms while the order's group cannot be written: every query must say paid (what
    /// the channel says), a reverse at the terminal's deadline must not give the money back, and a pay sent
    /// again must not answer GROUP_UNAVAILABLE (which promises nothing was charged).
    func testAPaymentConfirmedWhileItsGroupCannotWriteIsReportedPaidAndNeverReversed() throws {
        let order = try terminal.createOrder(amount: 1_234).unwrap()
        let code = paymentCode(.userConfirms)
        XCTAssertEqual(try terminal.pay(order.orderNo, code: code).unwrap().pending, .userConfirming)
        let lock = try lockGroup(of: order.orderNo)
        defer { lock.release() }

        // The sandbox confirms after 1.5 s; queries go on meanwhile.
        var last: Result<OrderView, CallFailure>?
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            last = terminal.query(order.orderNo)
            if case .success(let v) = last, v.status == .paid { break }
            Thread.sleep(forTimeInterval: 0.3)
        }
        guard case .success(let queried) = last else { return XCTFail("the query failed while the channel had an answer: \(String(describing: last))") }
        XCTAssertEqual(queried.status, .paid, "a query must report the channel's answer when the group cannot record it")
        XCTAssertNotNil(queried.channelTxn)

        let reversed = try terminal.reverse(order.orderNo).unwrap()
        XCTAssertEqual(reversed.status, .paid, "a reverse must not give back a payment the channel has made final unseen")

        let again = terminal.pay(order.orderNo, code: code)
        if case .failure(.service(let e)) = again { XCTAssertNotEqual(e.code, .groupUnavailable, "\(e)") }
        XCTAssertEqual(try again.unwrap().status, .paid)

        // Once the group can write again, the order's own record catches up and the books agree.
        lock.release()
        XCTAssertEqual(try terminal.query(order.orderNo).unwrap().status, .paid)
        let reconcile = try service.admin(["reconcile"])
        XCTAssertEqual(reconcile.status, 0, reconcile.stdout)
        XCTAssertTrue(reconcile.stdout.contains("reconciliation: EXACT"), reconcile.stdout)
    }

    /// A pay for an order already paid, while its group cannot be written: the old service tried to
    /// record the pay's nonce first and answered GROUP_UNAVAILABLE, so the terminal sold the sale again on
    /// a new order while the first was paid.
    func testAPayForAPaidOrderInAGroupThatCannotWriteAnswersPaid() throws {
        let order = try terminal.createOrder(amount: 500).unwrap()
        let code = paymentCode(.paid)
        XCTAssertEqual(try terminal.pay(order.orderNo, code: code).unwrap().status, .paid)
        let lock = try lockGroup(of: order.orderNo)
        defer { lock.release() }
        let again = terminal.pay(order.orderNo, code: code)
        if case .failure(.service(let e)) = again { XCTAssertNotEqual(e.code, .groupUnavailable, "\(e)") }
        XCTAssertEqual(try again.unwrap().status, .paid)
    }

    /// A second payment code while the first payment is under way is its own retryable refusal, not
    /// ORDER_NOT_PAYABLE ("start a new sale", which would charge the customer twice).
    func testASecondCodeWhileAPaymentIsUnderWayIsPaymentUnderWay() throws {
        let order = try terminal.createOrder(amount: 700).unwrap()
        XCTAssertEqual(try terminal.pay(order.orderNo, code: paymentCode(.userNeverConfirms)).unwrap().status, .paying)
        guard case .failure(.service(let e)) = terminal.pay(order.orderNo, code: paymentCode(.paid)) else {
            return XCTFail("a second code while a payment is under way must be refused")
        }
        XCTAssertEqual(e.code, .paymentUnderWay)
        XCTAssertTrue(e.retryable)
        XCTAssertEqual(try terminal.query(order.orderNo).unwrap().status, .paying, "the first payment goes on")
    }

    /// `cashierd reconcile` while a payment is under way: reported as such, with its count, not as a
    /// MISMATCH that reads as a double charge.
    func testReconcileReportsPaymentsUnderWayApartFromMismatches() throws {
        let order = try terminal.createOrder(amount: 300).unwrap()
        XCTAssertEqual(try terminal.pay(order.orderNo, code: paymentCode(.userConfirms)).unwrap().status, .paying)
        Thread.sleep(forTimeInterval: 2)  // the sandbox has confirmed; the group still says paying
        let r = try service.admin(["reconcile"])
        XCTAssertEqual(r.status, 0, r.stdout)
        XCTAssertTrue(r.stdout.contains("payments under way: 1"), r.stdout)
        XCTAssertFalse(r.stdout.contains("MISMATCH"), r.stdout)
        XCTAssertFalse(r.stdout.contains("which no group records as paid"), r.stdout)
    }

    /// A malformed order number is refused after authentication: an unsigned request learns only that it
    /// is unsigned, and a signed one gets a signed ORDER_NOT_FOUND (which the client verifies).
    func testAMalformedOrderNumberIsRefusedAfterAuthenticationAndSigned() throws {
        let raw = try CurlConnection(configuration: service.httpConfiguration())
        let unsigned = try raw.perform(method: "GET", url: service.urls[0] + "/v1/orders/123").get()
        XCTAssertEqual(unsigned.status, 401)
        XCTAssertEqual(try API.decode(ErrorEnvelope.self, from: unsigned.body).error.code, .signatureMissing)

        let stranger = DeviceCredentials(deviceId: "D0000000000NOBODY", deviceSecret: String(repeating: "ab", count: 32),
                                         store: terminal.credentials.store)
        guard case .failure(.service(let unknown)) = terminal.transport.call("GET", "/v1/orders/123", credentials: stranger) else {
            return XCTFail("an unknown device must be refused")
        }
        XCTAssertEqual(unknown.code, .deviceUnknown)

        for path in ["/v1/orders/123", "/v1/orders/123/pay", "/v1/orders/26112509464000700042130"] {
            let method = path.hasSuffix("/pay") ? "POST" : "GET"
            guard case .failure(.service(let e)) = terminal.transport.call(method, path, body: method == "POST" ? Array("{}".utf8) : [],
                                                                        credentials: terminal.credentials) else {
                return XCTFail("\(path) must be refused")
            }
            XCTAssertEqual(e.code, .orderNotFound, "\(path): a signed, verified refusal (not RESPONSE_UNVERIFIED)")
        }
    }
}

/// Base data on a disk that fills up: every signed call must get a signed, retryable BASE_UNAVAILABLE
/// (not an unsigned 500 the terminal reads as an attack), `/healthz` must say down with a 503, and both
/// recover when space is back.
final class BaseDiskFullTests: XCTestCase {
    var mount: String!
    var service: Cashierd?

    override func setUpWithError() throws {
        mount = NSTemporaryDirectory() + "cashier-basefull-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        let r = try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mount])
        guard r.status == 0 else {
            throw XCTSkip("a small tmpfs cannot be mounted here (needs root and mount rights): \(r.stderr)")
        }
    }

    override func tearDown() {
        service?.stop(signal: SIGKILL)
        service = nil
        _ = try? runCommand("/bin/umount", ["-l", mount])
        try? FileManager.default.removeItem(atPath: mount)
    }

    func testBaseDataOnAFullDiskIsASignedRetryableRefusalAndHealthzSaysDown() throws {
        let mount = self.mount!
        let service = try Cashierd(groups: 2, tweak: { config in
            // The base data moves to the small file system; the order groups stay where they are.
            config.base = .sqlite(path: mount + "/base.sqlite")
            // Without the device cache /healthz says down at once; with it, "degraded" for its time first
            // (BaseOutageTests).
            config.deviceCacheSeconds = 0
        }, beforeStart: { dataPath in
            for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: dataPath + "/base.sqlite" + suffix) {
                try FileManager.default.copyItem(atPath: dataPath + "/base.sqlite" + suffix, toPath: mount + "/base.sqlite" + suffix)
            }
        })
        self.service = service
        let terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        XCTAssertEqual(try terminal.createOrder(amount: 100).unwrap().status, .created)

        // Fill the file system.
        let filler = mount + "/filler"
        FileManager.default.createFile(atPath: filler, contents: nil)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: filler))
        let block = Data(count: 64 * 1024)
        for _ in 0..<64 { do { try handle.write(contentsOf: block) } catch { break } }
        try? handle.close()

        // Signed calls now fail (bounded: SQLite's log can absorb a few writes before it must grow).
        var refusal: APIError?
        for _ in 0..<400 {
            switch terminal.createOrder(amount: 100) {
            case .success: continue
            case .failure(.service(let e)): refusal = e
            case .failure(let other): return XCTFail("the refusal must be a verified service answer, got \(other)")
            }
            break
        }
        let e = try XCTUnwrap(refusal, "the base data never failed to write")
        XCTAssertEqual(e.code, .baseUnavailable)
        XCTAssertTrue(e.retryable)

        let raw = try CurlConnection(configuration: service.httpConfiguration())
        let health = try raw.perform(method: "GET", url: service.urls[0] + "/healthz").get()
        XCTAssertEqual(health.status, 503)
        let body = try API.decode(HealthResponse.self, from: health.body)
        XCTAssertEqual(body.status, "down")
        XCTAssertEqual(body.base, "unavailable")

        // Space comes back: the next health check finds out, and sales go on.
        try FileManager.default.removeItem(atPath: filler)
        var healed = false
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && !healed {
            Thread.sleep(forTimeInterval: 0.5)
            let h = try raw.perform(method: "GET", url: service.urls[0] + "/healthz").get()
            let base = try API.decode(HealthResponse.self, from: h.body).base
            healed = h.status == 200 && base == "ok"
        }
        XCTAssertTrue(healed, "healthz must report the base data back once it can be written")
        XCTAssertEqual(try terminal.createOrder(amount: 100).unwrap().status, .created)
    }
}

/// Free-text fields: control characters refused, lengths in code points, accepted text stored verbatim.
final class TextFieldServiceTests: XCTestCase {
    var service: Cashierd!
    var terminal: TestTerminal!

    override func setUpWithError() throws {
        service = try Cashierd(groups: 1)
        terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    private func create(_ body: String) -> Result<OrderView, CallFailure> {
        terminal.transport.call("POST", API.Path.orders, body: Array(body.utf8), credentials: terminal.credentials).decoded(OrderView.self)
    }

    func testControlCharactersAreRefusedAndLengthsCountCodePoints() throws {
        for body in [#"{"amount":100,"client_ref":"a\u0000b"}"#,
                     #"{"amount":100,"client_ref":"tab\there"}"#,
                     #"{"amount":100,"items":[{"name":"x\u0000y","quantity":1,"unit_price":100}]}"#] {
            guard case .failure(.service(let e)) = create(body) else { return XCTFail("\(body) must be refused") }
            XCTAssertEqual(e.code, .invalidField, body)
            XCTAssertTrue(e.detail?.contains("control characters") == true, "\(e)")
        }
        // One user-perceived character of 30,000 code points is 30,000 long, not 1.
        let huge = "e" + String(repeating: "\u{301}", count: 29_999)
        let body = try String(decoding: JSONSerialization.data(withJSONObject: ["amount": 100, "client_ref": huge]), as: UTF8.self)
        guard case .failure(.service(let e)) = create(body) else { return XCTFail("a 30,000 code point client_ref must be refused") }
        XCTAssertEqual(e.code, .invalidField)

        let wide = "名前🍣e\u{301}"
        let created = try create(#"{"amount":100,"client_ref":"\#(wide)"}"#).unwrap()
        XCTAssertEqual(created.clientRef, wide)
        XCTAssertEqual(try terminal.query(created.orderNo).unwrap().clientRef, wide, "read back verbatim")
    }

    func testADeviceNameWithANulIsRefused() throws {
        let code = try service.newActivationCode()
        let r = try CurlConnection(configuration: service.httpConfiguration()).perform(
            method: "POST", url: service.urls[0] + API.Path.activate,
            headers: ["Content-Type": "application/json", "X-Cashier-Nonce": "0123456789abcdef0123456789abcdef"],
            body: Array(#"{"code":"\#(code)","device_name":"till\u00001"}"#.utf8)).get()
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(try API.decode(ErrorEnvelope.self, from: r.body).error.code, .invalidField)
    }
}
