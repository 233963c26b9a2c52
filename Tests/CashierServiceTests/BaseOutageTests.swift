import CashierClient
import CashierCore
import CashierService
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// A real cashierd whose base data is a real PostgreSQL server that the test stops (a crash) and starts again:
/// what the device cache (`base.device_cache_seconds`) keeps going, what waits for the base data, and for how long.
final class BaseOutageTests: XCTestCase {
    /// A single server, not a cluster, on a port of 55590-55599 (the HA tests' range; 55400-55499 are CI's).
    static let ports = 55590..<55600
    static let cacheSeconds = 8

    private func numbers(_ t: TestTerminal, _ count: Int) throws -> [OrderNumber] {
        try t.transport.call("POST", API.Path.orderNumbers, body: API.encode(OrderNumbersRequest(count: count)),
                             credentials: t.credentials).decoded(OrderNumbersResponse.self).get().orderNumbers
    }

    private func sell(_ t: TestTerminal, _ number: OrderNumber) -> Result<SaleResponse, CallFailure> {
        t.transport.call("POST", API.Path.sales, body: API.encode(SaleRequest(orderNo: number, amount: 500, paymentCode: paymentCode(.paid))),
                         credentials: t.credentials).decoded(SaleResponse.self)
    }

    /// The refusal's code, from a verified (signed) answer only; fails the test for anything else.
    private func signedRefusal<T>(_ result: Result<T, CallFailure>, _ what: String, file: StaticString = #filePath, line: UInt = #line) -> ErrorCode? {
        switch result {
        case .success: XCTFail("\(what) succeeded", file: file, line: line); return nil
        case .failure(.service(let e)): return e.code
        case .failure(let other): XCTFail("\(what): not a verified refusal: \(other)", file: file, line: line); return nil
        }
    }

    private func health(_ service: Cashierd) throws -> (status: Int, body: HealthResponse) {
        let r = try CurlConnection(configuration: service.httpConfiguration()).perform(method: "GET", url: service.urls[0] + "/healthz").get()
        return (r.status, try API.decode(HealthResponse.self, from: r.body))
    }

    func testKnownTerminalsSellThroughABaseOutageForTheCacheTimeAndTheRestWaits() throws {
        if let missing = PostgresServer.missingBinaries { throw XCTSkip(missing) }
        let pg = try PostgresServer.start(ports: Self.ports)
        defer { pg.destroy() }
        let service = try Cashierd(groups: 2, tweak: {
            $0.base = .postgres(url: pg.conninfo)
            $0.deviceCacheSeconds = Self.cacheSeconds
        })
        defer { service.stop() }
        func admin(_ arguments: [String]) throws -> String {
            let r = try service.admin(arguments)
            guard r.status == 0 else { throw RuntimeError("cashierd \(arguments.joined(separator: " ")): \(r.stderr)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // The PostgreSQL base starts empty.
        let merchant = try admin(["merchant", "add", "Outage Tea"])
        let store = try service.addSandboxStore(merchant: merchant, name: "Main")
        _ = try admin(["staff", "add", "--store", store, "--name", "Sam", "--role", "supervisor", "--pin", Cashierd.supervisorPIN])
        let codes = try (0..<4).map { _ in try admin(["activation-code", "--store", store]) }
        func terminal(_ code: String) throws -> TestTerminal {
            TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal(code: code))
        }
        let seller = try terminal(codes[0]), revoked = try terminal(codes[1])
        // Activated, but it never made a signed request: this instance has never read its device.
        let unseen = try terminal(codes[2])

        // Before the outage: both sell; then one is revoked, which blocks it at its next request (read live).
        var given = try numbers(seller, 20)
        let paidBefore = try sell(seller, given.removeFirst()).get().order
        XCTAssertEqual(paidBefore.status, .paid)
        XCTAssertEqual(try sell(revoked, try numbers(revoked, 1)[0]).get().order.status, .paid)
        let revokedNumber = try numbers(revoked, 1)[0]
        _ = try admin(["device", "revoke", revoked.credentials.deviceId])
        XCTAssertEqual(signedRefusal(sell(revoked, revokedNumber), "a revoked terminal's sale"), .deviceRevoked)
        var m = try service.scrapeMetrics()
        XCTAssertEqual(m["cashierd_base_up"], 1)
        let reconnectsBefore = try XCTUnwrap(m["cashierd_database_reconnects_total{database=\"base\"}"], "a PostgreSQL base has a reconnect series")
        // The last successful read of the seller's device: the cache time runs from here.
        XCTAssertEqual(try sell(seller, given.removeFirst()).get().order.status, .paid)
        let lastRead = Date()

        try pg.stop(mode: "immediate")
        let stoppedAt = Date()

        // Within the cache time: the known terminal's sales go on, paid, with replay protection (the nonce is kept
        // in the order's group, in the sale's own commit).
        var soldDuring: [OrderView] = []
        // Numbers for the sales below: at most 10 sold here (bounded in count and time), 4 kept for later.
        while Date() < lastRead.addingTimeInterval(Double(Self.cacheSeconds) / 2), soldDuring.count < 10, given.count > 4 {
            switch sell(seller, given.removeFirst()) {
            case .success(let a): XCTAssertEqual(a.order.status, .paid); soldDuring.append(a.order)
            case .failure(let f): XCTFail("a known terminal's sale failed during the base outage: \(f)")
            }
        }
        XCTAssertGreaterThan(soldDuring.count, 0, "sales during the outage")
        try assertReplayRefused(service, seller, number: given.removeFirst())

        // What waits for the base data: every request whose nonce is kept there, answered signed and retryable.
        XCTAssertEqual(signedRefusal(seller.createOrder(amount: 100), "a new order (nonce in the base data)"), .baseUnavailable)
        XCTAssertEqual(signedRefusal(seller.query(paidBefore.orderNo), "a query (nonce in the base data)"), .baseUnavailable)
        XCTAssertEqual(signedRefusal(seller.refund(paidBefore.orderNo, amount: 100, ref: "outage-1", pin: Cashierd.supervisorPIN),
                                     "a refund (PIN and nonce in the base data)"), .baseUnavailable)
        XCTAssertEqual(signedRefusal(try XCTUnwrap(Optional(seller.transport.call("POST", API.Path.orderNumbers,
            body: API.encode(OrderNumbersRequest(count: 1)), credentials: seller.credentials))), "order numbers"), .baseUnavailable)
        // The revoked terminal stays refused: its cached entry says revoked.
        XCTAssertEqual(signedRefusal(sell(revoked, revokedNumber), "a revoked terminal's sale during the outage"), .deviceRevoked)
        // A terminal this instance never read, and a new activation, cannot be checked at all.
        if case .success = sell(unseen, given[0]) { XCTFail("a terminal never seen must not sell without the base data") }
        if case .success = unseen.transport.activate(code: codes[3], deviceName: "during the outage") {
            XCTFail("an activation must not succeed without the base data")
        }
        m = try service.scrapeMetrics()
        XCTAssertEqual(m["cashierd_base_up"], 0)
        XCTAssertGreaterThanOrEqual(m["cashierd_device_cache_hits_total"] ?? 0, Double(soldDuring.count))
        var h = try health(service)
        XCTAssertEqual(h.status, 200, "the cache stands in: front doors keep the instance")
        XCTAssertEqual(h.body.status, "degraded")
        XCTAssertEqual(h.body.base, "unavailable")

        // Past the cache time since the last successful read, the known terminal is refused too, and /healthz says down.
        let expiry = lastRead.addingTimeInterval(Double(Self.cacheSeconds) + 0.5)
        if expiry > Date() { Thread.sleep(until: expiry) }
        let late = given.removeFirst()
        // Unsigned now (the device's key is no longer known here), so the terminal cannot verify it: no answer to it.
        switch sell(seller, late) {
        case .success: XCTFail("a sale past the cache time must wait for the base data")
        case .failure(.service(let e)): XCTAssertEqual(e.code, .baseUnavailable)
        case .failure: break
        }
        h = try health(service)
        XCTAssertEqual(h.status, 503)
        XCTAssertEqual(h.body.status, "down")

        // The base comes back: sales resume through the same process, every order sold during the outage is there.
        try pg.start()
        let startedAt = Date()
        var resumedAt: Date?
        while resumedAt == nil, Date() < startedAt.addingTimeInterval(30) {
            if case .success(let a) = sell(seller, late), a.order.status == .paid { resumedAt = Date() } else { Thread.sleep(forTimeInterval: 0.1) }
        }
        let resumed = try XCTUnwrap(resumedAt, "sales resume within 30 s of the base data's return")
        print("base outage: stopped \(String(format: "%.1f", startedAt.timeIntervalSince(stoppedAt))) s, \(soldDuring.count) sales from the cache; "
              + "sales resumed \(String(format: "%.2f", resumed.timeIntervalSince(startedAt))) s after the server started")
        for order in soldDuring { XCTAssertEqual(try seller.query(order.orderNo).unwrap().status, .paid) }
        XCTAssertEqual(try XCTUnwrap(seller.createOrder(amount: 100).get()).status, .created)
        // /healthz and cashierd_base_up find out by their probe write, made at most every 2 s.
        let probeDeadline = Date().addingTimeInterval(10)
        while try health(service).body.status != "ok", Date() < probeDeadline { Thread.sleep(forTimeInterval: 0.25) }
        XCTAssertEqual(try health(service).body.status, "ok")
        m = try service.scrapeMetrics()
        XCTAssertEqual(m["cashierd_base_up"], 1)
        XCTAssertGreaterThan(m["cashierd_database_reconnects_total{database=\"base\"}"] ?? 0, reconnectsBefore)
        XCTAssertEqual(signedRefusal(sell(revoked, revokedNumber), "a revoked terminal's sale after the outage"), .deviceRevoked)
        XCTAssertEqual(try service.admin(["reconcile"]).status, 0)
    }

    /// The same signed sale sent twice, byte for byte: the second is refused as a replay although the base data is down.
    private func assertReplayRefused(_ service: Cashierd, _ t: TestTerminal, number: OrderNumber, file: StaticString = #filePath, line: UInt = #line) throws {
        let body = API.encode(SaleRequest(orderNo: number, amount: 500, paymentCode: paymentCode(.paid)))
        let nonce = Signing.makeNonce(), timestamp = Int64(Date().timeIntervalSince1970)
        let toSign = RequestToSign(method: "POST", path: API.Path.sales, query: [], timestamp: timestamp, nonce: nonce,
                                   deviceID: t.credentials.deviceId, body: body)
        let headers = [SignatureHeader.device: t.credentials.deviceId, SignatureHeader.timestamp: String(timestamp),
                       SignatureHeader.nonce: nonce, SignatureHeader.signature: Signing.sign(toSign, with: try XCTUnwrap(t.credentials.signingKey)),
                       "Content-Type": "application/json"]
        let http = try CurlConnection(configuration: service.httpConfiguration())
        let first = try http.perform(method: "POST", url: service.urls[0] + API.Path.sales, headers: headers, body: body).get()
        XCTAssertEqual(first.status, 201, String(decoding: first.body, as: UTF8.self), file: file, line: line)
        let again = try http.perform(method: "POST", url: service.urls[0] + API.Path.sales, headers: headers, body: body).get()
        XCTAssertEqual(again.status, 401, file: file, line: line)
        XCTAssertTrue(String(decoding: again.body, as: UTF8.self).contains(ErrorCode.nonceReplayed.rawValue),
                      String(decoding: again.body, as: UTF8.self), file: file, line: line)
    }
}

/// `base.device_cache_seconds` in cashierd.json: beside the base data's location, optional, never negative.
final class DeviceCacheSettingTests: XCTestCase {
    private func decode(_ json: String) throws -> ServiceConfiguration {
        try API.makeDecoder().decode(ServiceConfiguration.self, from: Data(json.utf8))
    }

    func testTheSettingSitsBesideTheBaseLocationAndRoundTrips() throws {
        XCTAssertEqual(try decode("{}").deviceCacheSeconds, 30)
        XCTAssertEqual(try decode(#"{"base": {"sqlite": {"path": "b.sqlite"}}}"#).base, .sqlite(path: "b.sqlite"))
        XCTAssertEqual(try decode(#"{"base": {"sqlite": {"path": "b.sqlite"}}}"#).deviceCacheSeconds, 30)
        let pg = try decode(#"{"base": {"postgres": {"url": "host=a,b port=1,2"}, "device_cache_seconds": 0}}"#)
        XCTAssertEqual(pg.base, .postgres(url: "host=a,b port=1,2"))
        XCTAssertEqual(pg.deviceCacheSeconds, 0)
        for bad in [#"{"base": {"postgres": {"url": "x"}, "device_cache_seconds": -1}}"#,
                    #"{"base": {"sqlite": {"path": "a"}, "postgres": {"url": "x"}}}"#,
                    #"{"base": {"device_cache_seconds": 5}}"#] {
            XCTAssertThrowsError(try decode(bad), bad)
        }
        var config = ServiceConfiguration()
        config.base = .postgres(url: "host=h dbname=base")
        config.deviceCacheSeconds = 12
        config.requestLog = nil
        let written = try Administration.prettyEncoder().encode(config)
        XCTAssertTrue(String(decoding: written, as: UTF8.self).contains("\"device_cache_seconds\" : 12"))
        XCTAssertEqual(try API.makeDecoder().decode(ServiceConfiguration.self, from: written), config)
    }
}
