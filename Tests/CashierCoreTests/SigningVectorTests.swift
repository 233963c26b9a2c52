import CashierCore
import CashierCrypto
import XCTest

/// The test vectors of docs/PROTOCOL.md, computed independently (Python's hmac and hashlib; the Ed25519
/// ones also with Python's cryptography, `openssl pkeyutl -sign -rawin` and a plain-integer RFC 8032
/// signer); if these fail, either the code or the document is wrong.
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

    /// Vector 10: a one-call sale, its body exactly as the shipped client writes it (keys sorted).
    func testVector10OneCallSale() throws {
        let number = try XCTUnwrap(OrderNumber("26112509464000700042137"))
        let body = API.encode(SaleRequest(orderNo: number, amount: 1_250, paymentCode: "994567890123456780", reserve: 2))
        XCTAssertEqual(String(decoding: body, as: UTF8.self),
                       #"{"amount":1250,"order_no":"26112509464000700042137","payment_code":"994567890123456780","reserve":2}"#)
        let r = RequestToSign(method: "POST", path: API.Path.sales, timestamp: 1_795_600_000, nonce: nonce, deviceID: device, body: body)
        XCTAssertTrue(r.canonicalForm.hasSuffix("\naf0bfb6443eeecf58399d787a02e62c5d954a50a1614a63a4ab77653e3db91fa"))
        XCTAssertEqual(Signing.sign(r, key: key), "a1b81d18989f6d177ba0378549c4b785341d0c583b7e2eaba7cfee0647ed5b01")
    }

    /// Vector 11: a cash sale, its body as the shipped client writes it.
    func testVector11CashSale() throws {
        let number = try XCTUnwrap(OrderNumber("26112509464000700042137"))
        let body = API.encode(SaleRequest(orderNo: number, amount: 2_500, paymentCode: nil, tender: .cash, cashGiven: 5_000,
                                          staffId: "P0011", shiftId: "SH0123456789ABCDEF"))
        XCTAssertEqual(String(decoding: body, as: UTF8.self),
                       #"{"amount":2500,"cash_given":5000,"order_no":"26112509464000700042137","shift_id":"SH0123456789ABCDEF","staff_id":"P0011","tender":"cash"}"#)
        let r = RequestToSign(method: "POST", path: API.Path.sales, timestamp: 1_795_600_000, nonce: nonce, deviceID: device, body: body)
        XCTAssertTrue(r.canonicalForm.hasSuffix("\n4edcf3b7ce819b46aacada1131603f51246540d1c00f4133319273ca9cc7b5e5"))
        XCTAssertEqual(Signing.sign(r, key: key), "d8d7d70cb3f3b2415c981946869600e06ad12be0c1d4722b80e35cff211fb914")
    }

    /// Vector 12: a shift's Z report from its orders and refunds.
    func testVector12ShiftReport() throws {
        let n = { (i: Int) in OrderNumber(epochSeconds: 1_795_600_000, instance: 1, sequence: i, group: GroupTag(0)!) }
        let staff = StaffView(staffId: "P0011", name: "Ann", role: "cashier")
        let shift = ShiftView(shiftId: "SH0123456789ABCDEF", storeId: "S1", deviceId: "D0011223344AA", status: .closed, currency: "CNY",
                              openingFloat: 10_000, openedAt: 1, openedBy: staff, closedAt: 2, closedBy: staff, countedCash: 12_000, zNumber: 1)
        let z = ShiftTally.report(shift, sales: [
            .init(orderNo: n(1), tender: "cash", status: .paid, amount: 2_500),
            .init(orderNo: n(2), tender: "sandbox", status: .paid, amount: 1_250),
            .init(orderNo: n(3), tender: "sandbox", status: .declined, amount: 700),
            .init(orderNo: n(4), tender: "cash", status: .closed, amount: 300),
        ], refunds: [.init(tender: "cash", amount: 500)], now: 3)
        XCTAssertEqual(z.kind, "Z")
        XCTAssertEqual(z.sales, [TenderTotal(tender: "cash", count: 1, amount: 2_500), TenderTotal(tender: "sandbox", count: 1, amount: 1_250)])
        XCTAssertEqual(z.refunds, [TenderTotal(tender: "cash", count: 1, amount: 500)])
        XCTAssertEqual([z.voids, z.reversals, z.declined], [1, 0, 1])
        XCTAssertEqual(z.unsettled, [])
        XCTAssertEqual([z.cashExpected, z.cashCounted, z.cashDifference], [12_000, 12_000, 0])
        var open = shift
        open.status = .open
        let x = ShiftTally.report(open, sales: [.init(orderNo: n(5), tender: "alipay", status: .paying, amount: 1)], refunds: [], now: 3)
        XCTAssertEqual(x.kind, "X")
        XCTAssertEqual(x.unsettled, [n(5)])
        XCTAssertNil(x.cashDifference, "an X report has no count")
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
        // The document says lower-case hex: the same digits in upper case are another text, refused.
        XCTAssertFalse(Signing.verify(r, signature: "3818FC5A1852B7CD436F9EF199F024CD7D7780A2CE446AD22E12773B6AD3DDAC", key: key))
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

    // MARK: Ed25519

    /// The device's private key of vectors 7 and 8: the seed 00 01 … 1f.
    let deviceSeed = Array(UInt8(0)...UInt8(31))
    /// The service's private key of vector 9: the seed 20 21 … 3f.
    let serviceSeed = Array(UInt8(32)...UInt8(63))

    func testVector7Ed25519PublicKey() throws {
        let key = try XCTUnwrap(Ed25519.PrivateKey(seed: deviceSeed))
        XCTAssertEqual(Hex.encode(key.publicKey), "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
        let service = try XCTUnwrap(Ed25519.PrivateKey(seed: serviceSeed))
        XCTAssertEqual(Hex.encode(service.publicKey), "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7")
    }

    func testVector8Ed25519SignedPost() throws {
        let key = try XCTUnwrap(Ed25519.PrivateKey(seed: deviceSeed))
        let r = RequestToSign(method: "POST", path: "/v1/orders", timestamp: 1_795_600_000, nonce: nonce, deviceID: device,
                              body: Array(#"{"amount":1234,"client_ref":"sale-1"}"#.utf8))
        XCTAssertEqual(r.canonicalForm(.ed25519), "CASHIER-ED25519\nPOST\n/v1/orders\n\n1795600000\n0123456789abcdef0123456789abcdef\nD0011223344AA\n032e9b468c290c950e9edc9635400ab1233787b008b94b87444d73af6ff1aba0")
        let signature = "eb1f8b12606f1ab451942974fd2f13a0cef086d84033766fd7171a99b32976ce07eed863d5f0df2fb6c9574776e17eef3e4273b2a2c30f6c464a82865ce37b07"
        XCTAssertEqual(Signing.sign(r, with: .ed25519(key)), signature, "Ed25519 is deterministic")
        let stored = VerifyingKey.ed25519(publicKey: key.publicKey)
        XCTAssertTrue(Signing.verify(r, signature: signature, with: stored))
        XCTAssertFalse(Signing.verify(r, signature: signature.uppercased(), with: stored), "upper-case hex")
        var other = r
        other.body = Array(#"{"amount":1235,"client_ref":"sale-1"}"#.utf8)
        XCTAssertFalse(Signing.verify(other, signature: signature, with: stored), "another body")
        // The same request signed with the HMAC scheme (vector 1) never passes for an Ed25519 device, nor the
        // Ed25519 signature for an HMAC device: the stored key decides the scheme.
        XCTAssertFalse(Signing.verify(r, signature: "27b78166d8c26d6a9def49f33e67dcc8423c4665eec15d53752e3b38f69e9dea", with: stored))
        XCTAssertFalse(Signing.verify(r, signature: signature, with: .hmacSHA256(secret: key.seed)))
        let stranger = try XCTUnwrap(Ed25519.PrivateKey(seed: serviceSeed))
        XCTAssertFalse(Signing.verify(r, signature: Signing.sign(r, with: .ed25519(stranger)), with: stored), "another device's key")
    }

    func testVector9Ed25519SignedResponse() throws {
        let service = try XCTUnwrap(Ed25519.PrivateKey(seed: serviceSeed))
        let r = ResponseToSign(status: 201, requestMethod: "POST", requestPath: "/v1/orders", requestNonce: nonce,
                               timestamp: 1_795_600_001, deviceID: device, body: Array(#"{"ok":true}"#.utf8))
        XCTAssertTrue(r.canonicalForm(.ed25519).hasPrefix("CASHIER-ED25519-RESPONSE\n201\nPOST\n"))
        let signature = "7ad6ee5bdf5feb72082401e83ec35b48bb1c56ba912ef6627a5c6221d69b5b56d21c8229c35d860695d44028e5065a7e6ec02554fe3192ad5ad6abde1d12e704"
        XCTAssertEqual(Signing.sign(r, with: .ed25519(service)), signature)
        XCTAssertTrue(Signing.verify(r, signature: signature, with: .ed25519(publicKey: service.publicKey)))
        var other = r
        other.requestNonce = "another-nonce-000000"
        XCTAssertFalse(Signing.verify(other, signature: signature, with: .ed25519(publicKey: service.publicKey)), "bound to the nonce")
    }

    func testEd25519RefusesMalformedKeysAndSignatures() throws {
        let key = try XCTUnwrap(Ed25519.PrivateKey(seed: deviceSeed))
        XCTAssertNil(Ed25519.PrivateKey(seed: Array(deviceSeed.dropLast())))
        let message = Array("m".utf8)
        let signature = key.sign(message)
        XCTAssertTrue(Ed25519.verify(signature: signature, message: message, publicKey: key.publicKey))
        XCTAssertFalse(Ed25519.verify(signature: Array(signature.dropLast()), message: message, publicKey: key.publicKey))
        XCTAssertFalse(Ed25519.verify(signature: signature, message: message, publicKey: Array(key.publicKey.dropLast())))
        var flipped = signature
        flipped[40] ^= 1
        XCTAssertFalse(Ed25519.verify(signature: flipped, message: message, publicKey: key.publicKey))
        // S + L (the group order) is the same number modulo L but not canonical: RFC 8032 says refuse it.
        var s = Array(signature[32...])
        let order: [UInt8] = [0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                              0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]
        var carry = 0
        for i in 0..<32 {
            let sum = Int(s[i]) + Int(order[i]) + carry
            s[i] = UInt8(sum & 0xff)
            carry = sum >> 8
        }
        if carry == 0 {
            XCTAssertFalse(Ed25519.verify(signature: Array(signature[..<32]) + s, message: message, publicKey: key.publicKey))
        }
        XCTAssertTrue(Ed25519.verify(signature: key.sign([]), message: [], publicKey: key.publicKey), "an empty message")
        let generated = Ed25519.PrivateKey.generate()
        XCTAssertNotEqual(generated.seed, Ed25519.PrivateKey.generate().seed)
        XCTAssertEqual(Ed25519.PrivateKey(seed: generated.seed)?.publicKey, generated.publicKey)
        for bad in ["", String(repeating: "0", count: 127), String(repeating: "0", count: 129), String(repeating: "g", count: 128),
                    String(repeating: "0", count: 64)] {
            XCTAssertFalse(Signing.verify("x", signature: bad, with: .ed25519(publicKey: key.publicKey)), bad)
        }
        XCTAssertNil(Signing.publicKey(hex: Hex.encode(key.publicKey).uppercased()))
        XCTAssertNil(Signing.publicKey(hex: String(Hex.encode(key.publicKey).dropLast())))
        XCTAssertEqual(Signing.publicKey(hex: Hex.encode(key.publicKey)), key.publicKey)
    }

    /// The timestamp header is taken only in its one decimal form, so its line in the canonical request is
    /// the header exactly as sent.
    func testTimestampsAreTakenOnlyInTheirOneDecimalForm() {
        XCTAssertEqual(Signing.parseTimestamp("1795600000"), 1_795_600_000)
        XCTAssertEqual(Signing.parseTimestamp("0"), 0)
        XCTAssertEqual(Signing.parseTimestamp("9223372036854775807"), .max)
        for bad in ["+1795600000", "01795600000", "00", "-0", "-1", " 1795600000", "1795600000 ", "1795 600000", "1e9", "",
                    "9223372036854775808", "١٢٣", "0x10", "1795600000\n"] {
            XCTAssertNil(Signing.parseTimestamp(bad), bad)
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
