import CashierClient
import CashierCore
import Foundation
import TestSupport
import XCTest

/// The signature headers are taken only in the one form docs/PROTOCOL.md gives them: a signature in
/// lower-case hex, a timestamp in plain decimal digits. Another spelling of the same value is another
/// text, so it is refused, even when a lenient reading would give a value whose signature is right.
final class HeaderFormTests: XCTestCase {
    var service: Cashierd!
    var attacker: Attacker!
    var credentials: DeviceCredentials!

    override func setUpWithError() throws {
        service = try Cashierd(groups: 1)
        attacker = Attacker(service: service)
        credentials = try service.activateTerminal()
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    func testASignatureInUpperCaseHexIsRefused() throws {
        let body = API.encode(CreateOrderRequest(amount: 500))
        var h = Attacker.headers(credentials, method: "POST", path: API.Path.orders, body: body)
        h[SignatureHeader.signature] = h[SignatureHeader.signature]!.uppercased()
        let r = try attacker.send("POST", API.Path.orders, body: body, headers: h)
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(r.code, .signatureInvalid)
        // Mixed case is no better, and the same request in lower case still goes through.
        h = Attacker.headers(credentials, method: "POST", path: API.Path.orders, body: body)
        let lower = h[SignatureHeader.signature]!
        h[SignatureHeader.signature] = String(lower.prefix(32)) + lower.dropFirst(32).uppercased()
        XCTAssertEqual(try attacker.send("POST", API.Path.orders, body: body, headers: h).code, .signatureInvalid)
        h = Attacker.headers(credentials, method: "POST", path: API.Path.orders, body: body)
        XCTAssertEqual(try attacker.send("POST", API.Path.orders, body: body, headers: h).status, 201)
        XCTAssertEqual(try orders(), 1, "only the lower-case request made an order")
    }

    /// `+T`, `0T`, `00T` and a space inside all read as the number T to a lenient parser. Each is sent
    /// twice: signed over T (what a lenient service would have checked, and accepted) and signed over the
    /// header's own bytes. Neither gets in, and nothing is recorded or made.
    func testATimestampIsTakenOnlyInItsOneDecimalForm() throws {
        let body = API.encode(CreateOrderRequest(amount: 600))
        let now = Int64(Date().timeIntervalSince1970)
        for text in ["+\(now)", "0\(now)", "00\(now)", "\(now / 1000) \(now % 1000)", "\(now)\t1", "0x\(String(now, radix: 16))"] {
            let nonce = Signing.makeNonce()
            var h = Attacker.headers(credentials, method: "POST", path: API.Path.orders, body: body, timestamp: now, nonce: nonce)
            h[SignatureHeader.timestamp] = text
            let overNumber = try attacker.send("POST", API.Path.orders, body: body, headers: h)
            XCTAssertEqual(overNumber.status, 401, "'\(text)' signed over \(now)")
            XCTAssertEqual(overNumber.code, .timestampSkewed, "'\(text)' signed over \(now)")

            let literal = RequestToSign(method: "POST", path: API.Path.orders, timestamp: now, nonce: nonce, deviceID: credentials.deviceId,
                                        body: body).canonicalForm.replacingOccurrences(of: "\n\(now)\n", with: "\n\(text)\n")
            h[SignatureHeader.signature] = Signing.signature(of: literal, key: credentials.key)
            let overBytes = try attacker.send("POST", API.Path.orders, body: body, headers: h)
            XCTAssertEqual(overBytes.code, .timestampSkewed, "'\(text)' signed over its own bytes")

            // The refusal recorded nothing: the nonce is still unused.
            let good = Attacker.headers(credentials, method: "POST", path: API.Path.orders, body: body, timestamp: now, nonce: nonce)
            XCTAssertEqual(try attacker.send("POST", API.Path.orders, body: body, headers: good).status, 201, "'\(text)' used up the nonce")
        }
        XCTAssertEqual(try orders(), 6, "one order per genuine request, none for the others")
        assertServiceIntact(service, credentials)
    }

    private func orders() throws -> Int {
        try TestTerminal(transport: service.transport(), credentials: credentials).list(limit: 50).unwrap().orders.count
    }
}
