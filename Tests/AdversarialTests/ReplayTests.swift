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
}
