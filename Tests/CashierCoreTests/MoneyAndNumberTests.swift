import CashierCore
import XCTest

final class MoneyTests: XCTestCase {
    func testParsesExactly() throws {
        XCTAssertEqual(try Money.parse("12.34").minorUnits, 1234)
        XCTAssertEqual(try Money.parse("12.3").minorUnits, 1230)
        XCTAssertEqual(try Money.parse("12").minorUnits, 1200)
        XCTAssertEqual(try Money.parse("0.05").minorUnits, 5)
        XCTAssertEqual(try Money.parse(".5").minorUnits, 50)
        XCTAssertEqual(try Money.parse("99999999.99").minorUnits, Money.maximumMinorUnits)
        XCTAssertEqual(try Money.parse("0.1").minorUnits + (try Money.parse("0.2").minorUnits), 30, "no floating point")
    }

    func testRejectsWithClearReasons() {
        func error(_ s: String) -> MoneyError? {
            do { _ = try Money.parse(s); return nil } catch { return error }
        }
        XCTAssertEqual(error(""), .empty)
        XCTAssertEqual(error("12.345"), .tooManyFractionDigits)
        XCTAssertEqual(error("-1"), .negative)
        XCTAssertEqual(error("100000000"), .tooLarge)
        XCTAssertEqual(error("99999999999999999999999"), .tooLarge)
        for garbage in ["abc", "1,00", "1.2.3", "1e5", " 1", "1 ", "+1", ".", "12.", "１２"] {
            XCTAssertEqual(error(garbage), .malformed, garbage)
        }
        XCTAssertTrue(MoneyError.tooManyFractionDigits.description.contains("two digits"))
    }

    func testFormatsBack() throws {
        for s in ["0.00", "0.05", "12.34", "12.30", "99999999.99"] {
            XCTAssertEqual(try Money.parse(s).decimalString, s)
        }
        XCTAssertEqual(Money(minorUnits: 1234, currency: "CNY").description, "12.34 CNY")
        XCTAssertEqual(Money(minorUnits: -5).decimalString, "-0.05")
        XCTAssertTrue(Money.isValidCurrency("CNY"))
        XCTAssertFalse(Money.isValidCurrency("cny"))
    }
}

final class OrderNumberTests: XCTestCase {
    func testVectorFromTheProtocolDocument() {
        let n = OrderNumber(epochSeconds: 1_795_600_000, instance: 7, sequence: 42, group: GroupTag(13)!)
        XCTAssertEqual(n.digits, "26112509464000700042137")
        XCTAssertEqual(n.group.value, 13)
        XCTAssertEqual(n.instance, 7)
        XCTAssertEqual(OrderNumber("2611 2509 4640 0070 0042 137"), n, "spaces are ignored")
        XCTAssertEqual(OrderNumber("26112509464000700042137")?.group, GroupTag(13))
    }

    func testEveryGroupRoundTrips() {
        for g in 0...99 {
            let n = OrderNumber(epochSeconds: 1_700_000_000, instance: 999, sequence: 99_999, group: GroupTag(g)!)
            XCTAssertEqual(OrderNumber(n.digits)?.group.value, g)
            XCTAssertEqual(n.digits.count, 23)
        }
        XCTAssertNil(GroupTag(100))
        XCTAssertNil(GroupTag(-1))
    }

    func testCheckDigitCatchesTyposAndGarbage() {
        let n = OrderNumber(epochSeconds: 1_795_600_000, instance: 1, sequence: 1, group: GroupTag(2)!).digits
        var typo = Array(n)
        typo[5] = typo[5] == "9" ? "8" : "9"
        XCTAssertNil(OrderNumber(String(typo)))
        var swapped = Array(n)
        swapped.swapAt(10, 11)
        if swapped != Array(n) { XCTAssertNil(OrderNumber(String(swapped))) }
        for bad in ["", "123", String(repeating: "1", count: 23), n + "0", "R" + n, "2611250946400070004213a"] {
            XCTAssertNil(OrderNumber(bad), bad)
        }
    }

    func testRefundNumbersCarryTheGroup() {
        let r = RefundNumber(epochSeconds: 1_795_600_000, instance: 1, sequence: 5, group: GroupTag(42)!)
        XCTAssertTrue(r.text.hasPrefix("R"))
        XCTAssertEqual(r.group.value, 42)
        XCTAssertEqual(RefundNumber(r.text), r)
        XCTAssertNil(RefundNumber(String(r.text.dropFirst())))
    }

    func testGeneratorNeverRepeatsWithinASecond() {
        var g = OrderNumberGenerator(instance: 3)
        var seen = Set<String>()
        for _ in 0..<100_000 { seen.insert(g.next(epochSeconds: 1_795_600_000, group: GroupTag(1)!).digits) }
        XCTAssertEqual(seen.count, 100_000)
    }

    /// What people read is in the store's zone, with the zone's offset at that instant.
    func testStoreTimeShowsTheStoresZoneAcrossSummerTime() throws {
        let shanghai = try XCTUnwrap(StoreTime(identifier: "Asia/Shanghai"))
        XCTAssertEqual(shanghai.display(ms: 1_795_600_000_000), "2026-11-25 17:46:40", "09:46:40 UTC is 17:46:40 in Shanghai")
        let berlin = try XCTUnwrap(StoreTime(identifier: "Europe/Berlin"))
        XCTAssertEqual(berlin.display(ms: 1_774_746_000_000 - 1_000), "2026-03-29 01:59:59", "winter time: UTC+1")
        XCTAssertEqual(berlin.display(ms: 1_774_746_000_000), "2026-03-29 03:00:00", "summer time from 01:00 UTC: UTC+2")
        XCTAssertNil(StoreTime(identifier: "Mars/Olympus_Mons"))
        XCTAssertNil(StoreTime(identifier: ""))
        XCTAssertEqual(StoreTime(store: nil).identifier, "UTC")
        let store = StoreInfo(storeId: "S", storeName: "n", merchantId: "M", merchantName: "m", currency: "CNY", timeZone: "Asia/Shanghai")
        XCTAssertEqual(StoreTime(store: store), shanghai)
        var unknown = store
        unknown.timeZone = "Nowhere/Else"
        XCTAssertEqual(StoreTime(store: unknown).display(ms: 1_795_600_000_000), "2026-11-25 09:46:40", "an unknown zone shows UTC")
    }

    func testScanDetectorTellsABurstFromTyping() {
        func detector(_ times: [Double]) -> ScanDetector {
            var d = ScanDetector()
            for t in times { d.typed(at: t) }
            return d
        }
        let burst = (0..<18).map { 10 + Double($0) * 0.01 }
        XCTAssertTrue(detector(burst).isScan(endedAt: 10.2), "18 keys 10 ms apart, then Enter")
        XCTAssertFalse(detector(burst).isScan(endedAt: 10.5), "Enter long after the last key: typed")
        XCTAssertFalse(detector([1, 1.01, 1.02]).isScan(endedAt: 1.03), "three keys are too few for a scan")
        XCTAssertFalse(detector([1, 1.3, 1.6, 1.9]).isScan(endedAt: 2.1), "a person's pace")
        XCTAssertFalse(detector([1, 1.01, 1.5, 1.51]).isScan(endedAt: 1.52), "one slow gap is typing")
        XCTAssertFalse(detector((0..<40).map { Double($0) * 0.05 }).isScan(endedAt: 2.0), "longer than 1.5 s in all")
        var reset = detector([1, 1.3, 1.6, 1.9])
        reset.reset()
        for t in [5.0, 5.01, 5.02, 5.03] { reset.typed(at: t) }
        XCTAssertTrue(reset.isScan(endedAt: 5.04))
    }

    func testCivilTime() {
        XCTAssertEqual(CivilTime(epochSeconds: 0).display, "1970-01-01 00:00:00")
        XCTAssertEqual(CivilTime(epochSeconds: 951_782_400).display, "2000-02-29 00:00:00")
        XCTAssertEqual(CivilTime(epochSeconds: 1_795_600_000).display, "2026-11-25 09:46:40")
    }

    func testActivationCodes() {
        let code = ActivationCode.generate()
        XCTAssertEqual(code.count, 9)
        XCTAssertTrue(ActivationCode.isWellFormed(code))
        XCTAssertTrue(ActivationCode.isWellFormed("wdjb mjht"))
        XCTAssertEqual(ActivationCode.normalize("wdjb-mjht"), "WDJBMJHT")
        XCTAssertFalse(ActivationCode.isWellFormed("AEIO-UAEI"), "vowels are not in the alphabet")
        XCTAssertFalse(ActivationCode.isWellFormed("WDJB-MJH"))
    }

    func testAPIRoundTripUsesSnakeCase() throws {
        let view = OrderView(orderNo: OrderNumber("26112509464000700042137")!, storeId: "S1", deviceId: "D1", amount: 5, currency: "CNY",
                             status: .paying, createdAt: 1, updatedAt: 2, pending: .userConfirming)
        let json = String(decoding: API.encode(view), as: UTF8.self)
        XCTAssertTrue(json.contains(#""order_no":"26112509464000700042137""#))
        XCTAssertTrue(json.contains(#""pending":"USER_CONFIRMING""#))
        XCTAssertEqual(try API.decode(OrderView.self, from: Array(json.utf8)), view)
        XCTAssertThrowsError(try API.decode(OrderView.self, from: Array(json.replacingOccurrences(of: "26112509464000700042137", with: "26112509464000700042138").utf8)),
                             "a number with a wrong check digit does not decode")
    }

    func testErrorCatalogueIsComplete() {
        for code in ErrorCode.allCases {
            XCTAssertFalse(code.message.isEmpty)
            XCTAssertTrue(code.message.hasSuffix("."), "\(code) message is a sentence")
            XCTAssertTrue((400...599).contains(code.httpStatus))
        }
        XCTAssertEqual(Set(ErrorCode.allCases.map(\.rawValue)).count, ErrorCode.allCases.count)
    }
}

final class DocumentationTests: XCTestCase {
    /// The OpenAPI document's error codes are exactly the codes the service sends (the catalogue less the
    /// ones only the client raises).
    func testTheOpenAPIDocumentListsEveryCodeTheServiceSends() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("Resources/openapi.json"))) as? [String: Any]
        let envelope = (document?["components"] as? [String: Any])?["schemas"] as? [String: Any]
        let error = ((envelope?["ErrorEnvelope"] as? [String: Any])?["properties"] as? [String: Any])?["error"] as? [String: Any]
        let code = (error?["properties"] as? [String: Any])?["code"] as? [String: Any]
        let listed = Set(code?["enum"] as? [String] ?? [])
        let clientOnly: Set<ErrorCode> = [.serviceUnreachable, .responseUnverified, .tlsUntrusted, .keystoreInsecure,
                                           .notActivated, .configInvalid, .badInput]
        XCTAssertEqual(listed, Set(ErrorCode.allCases.filter { !clientOnly.contains($0) }.map(\.rawValue)))
    }

    /// docs/ERRORS.md lists every code of the catalogue with its HTTP status.
    func testErrorsPageListsEveryCode() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let page = try String(contentsOf: root.appendingPathComponent("docs/ERRORS.md"), encoding: .utf8)
        for code in ErrorCode.allCases {
            XCTAssertTrue(page.contains("`\(code.rawValue)`"), "docs/ERRORS.md lacks \(code.rawValue)")
            XCTAssertTrue(page.contains(code.message), "docs/ERRORS.md has another message for \(code.rawValue)")
        }
    }
}
