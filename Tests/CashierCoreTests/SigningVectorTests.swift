import CashierCore
import CashierCrypto
import XCTest

/// The test vectors of docs/PROTOCOL.md, computed independently (Python's hmac and hashlib); if these
/// fail, either the code or the document is wrong.
final class SigningVectorTests: XCTestCase {
    let key = Array(UInt8(0)...UInt8(31))
    let nonce = "0123456789abcdef0123456789abcdef"
    let device = "D0011223344AA"

    func testVector1SignedPost() {
        let r = RequestToSign(method: "POST", path: "/v1/orders", timestamp: 1_795_600_000, nonce: nonce, deviceID: device,
                              body: Array(#"{"amount":1234,"client_ref":"sale-1"}"#.utf8))
        XCTAssertEqual(r.canonicalForm, "CASHIER-HMAC-SHA256\nPOST\n/v1/orders\n\n1795600000\n0123456789abcdef0123456789abcdef\nD0011223344AA\n032e9b468c290c950e9edc9635400ab1233787b008b94b87444d73af6ff1aba0")
        XCTAssertEqual(Signing.sign(r, key: key), "27b78166d8c26d6a9def49f33e67dcc8423c4665eec15d53752e3b38f69e9dea")
    }

    func testVector2QueryIsSortedAndPercentEncoded() {
        let r = RequestToSign(method: "get", path: "/v1/orders",
                              query: [("limit", "10"), ("cursor", "1795600000000.26112510000000700042131"), ("note", "名 x/y")],
                              timestamp: 1_795_600_000, nonce: "nonce-with_dash-0001", deviceID: device, body: [])
        XCTAssertEqual(r.canonicalForm.split(separator: "\n", omittingEmptySubsequences: false)[3],
                       "cursor=1795600000000.26112510000000700042131&limit=10&note=%E5%90%8D%20x%2Fy")
        XCTAssertEqual(Signing.sign(r, key: key), "d846f25920cd4ebbd04a05eaa61fa2db2eda48369ba32b36ad795125f719f016")
    }

    func testVector3Response() {
        let r = ResponseToSign(status: 201, requestMethod: "POST", requestPath: "/v1/orders", requestNonce: nonce,
                               timestamp: 1_795_600_001, deviceID: device, body: Array(#"{"ok":true}"#.utf8))
        XCTAssertEqual(Signing.sign(r, key: key), "3818fc5a1852b7cd436f9ef199f024cd7d7780a2ce446ad22e12773b6ad3ddac")
        XCTAssertTrue(Signing.verify(r, signature: "3818fc5a1852b7cd436f9ef199f024cd7d7780a2ce446ad22e12773b6ad3ddac", key: key))
        XCTAssertTrue(Signing.verify(r, signature: "3818FC5A1852B7CD436F9EF199F024CD7D7780A2CE446AD22E12773B6AD3DDAC", key: key))
        var other = r
        other.status = 200
        XCTAssertFalse(Signing.verify(other, signature: "3818fc5a1852b7cd436f9ef199f024cd7d7780a2ce446ad22e12773b6ad3ddac", key: key))
    }

    func testVector4ActivationResponse() {
        XCTAssertEqual(Hex.encode(Signing.activationKey(code: "wdjb-mjht")), "d20f300ea21d66cadfc1fa353e6706107e4ba4056a266f5da916c1dbbebe2651")
        let r = ResponseToSign(status: 200, requestMethod: "POST", requestPath: "/v1/activate", requestNonce: nonce,
                               timestamp: 1_795_600_002, deviceID: "", body: Array(#"{"device_id":"D1"}"#.utf8))
        XCTAssertEqual(Signing.sign(r, key: Signing.activationKey(code: "WDJB MJHT")), "b463394927ad3f0fcc4cb268a16411dff180c86be36d517c39fe4edbfddfbc09")
    }

    func testVerifyRejectsMalformedSignatures() {
        let r = ResponseToSign(status: 200, requestMethod: "GET", requestPath: "/", requestNonce: nonce, timestamp: 1, deviceID: device, body: [])
        for bad in ["", "zz", String(repeating: "0", count: 63), String(repeating: "0", count: 64), String(repeating: "0", count: 66)] {
            XCTAssertFalse(Signing.verify(r, signature: bad, key: key), bad)
        }
    }

    func testFreshnessAndTokens() {
        XCTAssertTrue(Signing.isFresh(timestamp: 1000, now: 1300))
        XCTAssertFalse(Signing.isFresh(timestamp: 1000, now: 1301))
        XCTAssertFalse(Signing.isFresh(timestamp: 1301, now: 1000))
        XCTAssertTrue(Signing.isValidNonce(Signing.makeNonce()))
        XCTAssertNotEqual(Signing.makeNonce(), Signing.makeNonce())
        XCTAssertFalse(Signing.isValidNonce("short"))
        XCTAssertFalse(Signing.isValidNonce(String(repeating: "a", count: 65)))
        XCTAssertFalse(Signing.isValidNonce("0123456789abcdef 123"))
        XCTAssertFalse(Signing.isValidDeviceID(""))
        XCTAssertFalse(Signing.isValidDeviceID("D1\n"))
    }

    func testPINHashVectorAndFormat() {
        let h = PINHash(iterations: 1000, salt: Array(UInt8(0)...UInt8(15)), hash: Crypto.pbkdf2SHA256(password: "2468", salt: Array(UInt8(0)...UInt8(15)), iterations: 1000))
        XCTAssertEqual(Hex.encode(h.hash), "da0af9c4241f45ec5701b0f2e490f9c794db8f2aacca766c6081a721d04be295")
        XCTAssertTrue(h.matches("2468"))
        XCTAssertFalse(h.matches("2469"))
        XCTAssertEqual(PINHash(encoded: h.encoded), h)
        XCTAssertFalse(h.description.contains(Hex.encode(h.hash)), "descriptions never show the hash")
        XCTAssertNil(PINHash(encoded: "md5$1$00$00"))
        XCTAssertTrue(PINHash.isValidPIN("1234"))
        XCTAssertFalse(PINHash.isValidPIN("123"))
        XCTAssertFalse(PINHash.isValidPIN("12a4"))
    }
}

/// Regressions found by the fuzzers (scripts/fuzz.sh).
final class FuzzRegressionTests: XCTestCase {
    func testExtremeTimestampsAreNotFreshAndDoNotTrap() {
        XCTAssertFalse(Signing.isFresh(timestamp: .min, now: 1_795_600_000))
        XCTAssertFalse(Signing.isFresh(timestamp: .max, now: 1_795_600_000))
        XCTAssertFalse(Signing.isFresh(timestamp: .max, now: .min))
        XCTAssertTrue(Signing.isFresh(timestamp: 1_795_600_300, now: 1_795_600_000))
        XCTAssertFalse(Signing.isFresh(timestamp: 1_795_600_301, now: 1_795_600_000))
    }

    func testLuhnOnNonDigitsDoesNotTrap() {
        XCTAssertFalse(Luhn.isValid("\n"))
        XCTAssertFalse(Luhn.isValid("12a4"))
        XCTAssertFalse(Luhn.isValid(""))
        _ = Luhn.checkDigit(for: "\u{0}\u{ff}")
    }
}
