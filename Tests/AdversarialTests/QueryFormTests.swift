import CashierClient
import CashierCore
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// How the service reads a query, as docs/PROTOCOL.md says: `+` is a space, `%2B` a plus sign, and a
/// parameter the call does not take is refused, after the signature is checked.
final class QueryFormTests: XCTestCase {
    func testPlusInAQueryIsASpaceAndUnknownParametersAreRefused() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let credentials = try service.activateTerminal()
        let connection = try CurlConnection(configuration: service.httpConfiguration())
        func send(_ rawQuery: String, signedAs query: [(String, String)]) throws -> (status: Int, code: ErrorCode?) {
            let headers = Attacker.headers(credentials, method: "GET", path: API.Path.orders, query: query)
            let r = try connection.perform(method: "GET", url: service.urls[0] + API.Path.orders + "?" + rawQuery, headers: headers).get()
            return (r.status, (try? API.decode(ErrorEnvelope.self, from: r.body))?.error.code)
        }
        // Signed as a space, sent as `+`: the signature holds; the cursor itself is refused.
        XCTAssertEqual(try send("cursor=a+b", signedAs: [("cursor", "a b")]).code, .invalidField)
        // Signed as a plus sign, sent as `+`: not the same request.
        XCTAssertEqual(try send("cursor=a+b", signedAs: [("cursor", "a+b")]).code, .signatureInvalid)
        XCTAssertEqual(try send("cursor=a%2Bb", signedAs: [("cursor", "a+b")]).code, .invalidField)
        XCTAssertEqual(try send("limit=5", signedAs: [("limit", "5")]).status, 200)
        // A parameter the call does not take (test vector 2's `note`), signed correctly, is refused.
        let noted = try send("limit=10&note=%E5%90%8D%20x%2Fy", signedAs: [("limit", "10"), ("note", "名 x/y")])
        XCTAssertEqual(noted.code, .invalidField)
    }
}
