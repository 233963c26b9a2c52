import CashierClient
import CashierCore
import Foundation
import TestSupport
import XCTest

/// Replays the existing suite does not cover: outside the window, after a restart, to a second
/// process on the same data, and timestamps at the edge of what a header can carry.
final class ReplayTests: XCTestCase {
    var service: Cashierd!
    var credentials: DeviceCredentials!
    var attacker: Attacker { Attacker(service: service) }

    override func setUpWithError() throws {
        service = try Cashierd(groups: 2)
        credentials = try service.activateTerminal()
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    private func orderCount() throws -> Int {
        try TestTerminal(transport: service.transport(), credentials: credentials).list(limit: 100).unwrap().orders.count
    }

    /// A captured request re-signed... cannot be; but an old one with a never-seen nonce is still refused for its age.
    func testRequestOlderThanTheWindowIsRefusedEvenWithAFreshNonce() throws {
        let body = API.encode(CreateOrderRequest(amount: 250))
        let now = Int64(Date().timeIntervalSince1970)
        let ages: [Int64] = [301, 600, 3_600, 31_536_000]
        for age in ages {
            let r = try attacker.signed(credentials, "POST", API.Path.orders, body: body, timestamp: now - age)
            XCTAssertEqual(r.status, 401, "age \(age)")
            XCTAssertEqual(r.code, .timestampSkewed, "age \(age)")
        }
        // Just inside the window is accepted: the refusal above is the age, not the signature.
        XCTAssertEqual(try attacker.signed(credentials, "POST", API.Path.orders, body: body, timestamp: now - 250).status, 201)
        XCTAssertEqual(try orderCount(), 1)
        assertServiceIntact(service, credentials)
    }

    /// Timestamps at the limits of Int64 (a header is any decimal text) are refused, not trapped on.
    ///
    /// Found by Fuzz/SigningFuzz.swift: `Signing.isFresh` subtracted without overflow checks, so
    /// `now - Int64.min` trapped and killed the whole service for any known device id.
    func testExtremeTimestampsAreRefusedAndDoNotCrashTheService() throws {
        let body = API.encode(CreateOrderRequest(amount: 250))
        for ts in [Int64.min, Int64.min + 1, Int64.max, -1, 0] {
            guard let r = try? attacker.signed(credentials, "POST", API.Path.orders, body: body, timestamp: ts) else {
                return XCTFail("no answer to timestamp \(ts): cashierd crashed (Signing.isFresh overflows; see docs/SECURITY.md)")
            }
            XCTAssertEqual(r.code, .timestampSkewed, "timestamp \(ts)")
        }
        for text in ["99999999999999999999", "-0", "+1", " 1", "1e3", ""] {
            var h = Attacker.headers(credentials, method: "POST", path: API.Path.orders, body: body)
            h[SignatureHeader.timestamp] = text
            let r = try attacker.send("POST", API.Path.orders, body: body, headers: h)
            XCTAssertTrue([.timestampSkewed, .signatureMissing, .signatureInvalid].contains(r.code), "timestamp '\(text)' → \(String(describing: r.code))")
        }
        XCTAssertEqual(try orderCount(), 0)
        assertServiceIntact(service, credentials)
    }

    /// Nonces live in the base database, so a restart does not forget them.
    func testNonceReplayedAfterARestartIsRefused() throws {
        let body = API.encode(CreateOrderRequest(amount: 300))
        let h = Attacker.headers(credentials, method: "POST", path: API.Path.orders, body: body)
        XCTAssertEqual(try attacker.send("POST", API.Path.orders, body: body, headers: h).status, 201)
        service.stop()
        try service.start()
        let r = try attacker.send("POST", API.Path.orders, body: body, headers: h)
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(r.code, .nonceReplayed)
        XCTAssertEqual(try orderCount(), 1, "the replay created nothing")
        assertServiceIntact(service, credentials)
    }

    /// A second `cashierd` process serving the same data directory shares the nonce store, both ways.
    func testReplayToASecondProcessOnTheSameDataIsRefused() throws {
        let (second, secondURL) = try service.startAnotherInstance(listen: "127.0.0.1:0")
        defer { second.stop() }
        // Another port on an address the service certificate names (127.0.0.3 is not in it).
        XCTAssertTrue(secondURL.hasPrefix("https://127.0.0.1:") && secondURL != service.urls[0], secondURL)

        let body = API.encode(CreateOrderRequest(amount: 400))
        let first = Attacker.headers(credentials, method: "POST", path: API.Path.orders, body: body)
        XCTAssertEqual(try attacker.send("POST", API.Path.orders, body: body, headers: first).status, 201)
        XCTAssertEqual(try attacker.send("POST", API.Path.orders, body: body, headers: first, baseURL: secondURL).code, .nonceReplayed)

        // And the other way round: first seen by the second process, replayed to the first.
        let other = Attacker.headers(credentials, method: "POST", path: API.Path.orders, body: body)
        XCTAssertEqual(try attacker.send("POST", API.Path.orders, body: body, headers: other, baseURL: secondURL).status, 201)
        XCTAssertEqual(try attacker.send("POST", API.Path.orders, body: body, headers: other).code, .nonceReplayed)

        XCTAssertEqual(try orderCount(), 2, "each signed request created exactly one order")
        XCTAssertTrue(second.process.isRunning)
        assertServiceIntact(service, credentials)
    }

    /// A pay keeps its nonce in its order's group (in the claim's transaction), not in the base database;
    /// the same signed bytes always name the same order, so every replay of it meets the nonce there: to
    /// the same process, after a restart, and to a second process on the same data. Nothing is charged twice.
    func testReplayedPayIsRefusedWhereverItArrives() throws {
        let terminal = try TestTerminal(transport: service.transport(), credentials: credentials)
        let order = try terminal.createOrder(amount: 1_250).unwrap()
        let path = API.Path.pay(order.orderNo)
        let body = API.encode(PayRequest(paymentCode: paymentCode(.paid)))
        let claiming = Attacker.headers(credentials, method: "POST", path: path, body: body)
        let paid = try attacker.send("POST", path, body: body, headers: claiming)
        XCTAssertEqual(paid.status, 200)
        let paidView = try API.decode(OrderView.self, from: paid.body)
        XCTAssertEqual(paidView.status, .paid)

        XCTAssertEqual(try attacker.send("POST", path, body: body, headers: claiming).code, .nonceReplayed)

        // A second pay of the paid order (a terminal's retry, fresh nonce) is answered with the order, and its
        // nonce is kept in the group too, by a write of its own.
        let retry = Attacker.headers(credentials, method: "POST", path: path, body: body)
        let answered = try attacker.send("POST", path, body: body, headers: retry)
        XCTAssertEqual(answered.status, 200)
        XCTAssertEqual(try API.decode(OrderView.self, from: answered.body).channelTxn, paidView.channelTxn)
        XCTAssertEqual(try attacker.send("POST", path, body: body, headers: retry).code, .nonceReplayed)

        service.stop()
        try service.start()
        XCTAssertEqual(try attacker.send("POST", path, body: body, headers: claiming).code, .nonceReplayed, "after a restart")
        XCTAssertEqual(try attacker.send("POST", path, body: body, headers: retry).code, .nonceReplayed, "after a restart")

        let (second, secondURL) = try service.startAnotherInstance(listen: "127.0.0.1:0")
        defer { second.stop() }
        XCTAssertEqual(try attacker.send("POST", path, body: body, headers: claiming, baseURL: secondURL).code, .nonceReplayed)

        let after = try TestTerminal(transport: service.transport(), credentials: credentials).query(order.orderNo).unwrap()
        XCTAssertEqual(after.status, .paid)
        XCTAssertEqual(after.channelTxn, paidView.channelTxn, "paid once, by the first pay")
        assertServiceIntact(service, credentials)
    }

    /// A pay refused before it had any effect (an unknown order) records no nonce: a replay is refused the
    /// same way, and still changes nothing.
    func testReplayOfAPayRefusedForAnUnknownOrderIsRefusedAgainTheSameWay() throws {
        let terminal = try TestTerminal(transport: service.transport(), credentials: credentials)
        let real = try terminal.createOrder(amount: 700).unwrap()
        // A well-formed number in the same (configured) group that no order has: another instance's.
        let unknown = OrderNumber(epochSeconds: Int64(Date().timeIntervalSince1970), instance: 999, sequence: 1, group: real.orderNo.group)
        let path = API.Path.pay(unknown)
        let body = API.encode(PayRequest(paymentCode: paymentCode(.paid)))
        let h = Attacker.headers(credentials, method: "POST", path: path, body: body)
        XCTAssertEqual(try attacker.send("POST", path, body: body, headers: h).code, .orderNotFound)
        XCTAssertEqual(try attacker.send("POST", path, body: body, headers: h).code, .orderNotFound)
        XCTAssertEqual(try terminal.query(real.orderNo).unwrap().status, .created)
        assertServiceIntact(service, credentials)
    }
}
