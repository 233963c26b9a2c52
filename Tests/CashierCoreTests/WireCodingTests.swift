import CashierCore
import Foundation
import XCTest

/// The hand-written JSON coding of the API's bodies against Foundation's coder, which it replaced on the
/// request path: the same bytes out, the same values (or the same kind of error) in.
final class WireCodingTests: XCTestCase {
    /// Every body on the request path is read and written by hand, never by Foundation's coder.
    func testTheBodiesOnTheRequestPathAreWireTypes() {
        let bodies: [Any.Type] = [ActivateRequest.self, ActivateResponse.self, PingResponse.self, CreateOrderRequest.self,
                                  PayRequest.self, OrderView.self, RefundRequest.self, RefundResponse.self,
                                  OrderListResponse.self, ErrorEnvelope.self, [OrderItem].self]
        for body in bodies {
            XCTAssertTrue(body is any WireDecodable.Type, "\(body) is read by Foundation")
            XCTAssertTrue(body is any WireEncodable.Type, "\(body) is written by Foundation")
        }
    }

    // MARK: Writing

    func testEveryWireTypeWritesTheBytesFoundationWrites() {
        var random = SeededRandom(seed: 7)
        for _ in 0..<300 {
            let view = random.orderView()
            assertSameBytes(view)
            assertSameBytes(random.createRequest())
            assertSameBytes(PayRequest(paymentCode: random.text()))
            assertSameBytes(RefundRequest(amount: random.amount(), refundRef: random.text(), pin: random.text(),
                                          reason: random.maybe { $0.text() }))
            assertSameBytes(RefundResponse(refund: random.refundView(), order: view))
            assertSameBytes(OrderListResponse(orders: (0..<random.below(4)).map { _ in random.summary() },
                                              nextCursor: random.maybe { $0.text() },
                                              unavailableGroups: (0..<random.below(3)).map { _ in random.below(100) }))
            assertSameBytes(ErrorEnvelope(error: APIError(ErrorCode.allCases[random.below(ErrorCode.allCases.count)],
                                                          detail: random.maybe { $0.text() })))
            let store = StoreInfo(storeId: random.text(), storeName: random.text(), merchantId: random.text(),
                                  merchantName: random.text(), currency: random.text(), timeZone: random.maybe { $0.text() })
            assertSameBytes(PingResponse(instance: random.text(), time: random.amount(), deviceId: random.text(), store: store))
            assertSameBytes(ActivateRequest(code: random.text(), deviceName: random.maybe { $0.text() }))
            assertSameBytes(ActivateResponse(deviceId: random.text(), deviceSecret: random.text(), store: store))
            assertSameBytes(view.items)
        }
    }

    func testStringsAreEscapedAsFoundationEscapesThem() {
        let every = String((0..<0x80).map { Character(Unicode.Scalar(UInt8($0))) }) + "é\u{2028}\u{2029}😀\u{FEFF}"
        assertSameBytes(PayRequest(paymentCode: every))
        XCTAssertEqual(String(decoding: PayRequest(paymentCode: "a\"b\\c/d\n\u{1}").wireBytes(), as: UTF8.self),
                       #"{"payment_code":"a\"b\\c/d\n\u0001"}"#)
    }

    func testIntegersAtTheirLimits() {
        for amount in [Int64.min, Int64.min + 1, -1, 0, 9, 10, 1_234, Int64.max] {
            assertSameBytes(CreateOrderRequest(amount: amount))
            XCTAssertEqual(try API.decode(CreateOrderRequest.self, from: API.encode(CreateOrderRequest(amount: amount))).amount, amount)
        }
    }

    /// Durations in the request log: milliseconds with two decimals.
    func testDurationsAreWrittenAsFoundationWritesThem() {
        assertSameBytes((0..<5_000).map { Double($0) / 100 } + [123_456.78, 0.5, -2.25, 1e-3, 99_999_999.99])
    }

    // MARK: Reading

    func testWhatIsWrittenReadsBackEqual() throws {
        var random = SeededRandom(seed: 11)
        for _ in 0..<300 {
            let view = random.orderView()
            XCTAssertEqual(try API.decode(OrderView.self, from: view.wireBytes()), view)
            XCTAssertEqual(try foundationDecode(OrderView.self, view.wireBytes()), view)
            let create = random.createRequest()
            XCTAssertEqual(try API.decode(CreateOrderRequest.self, from: create.wireBytes()), create)
            let refund = RefundResponse(refund: random.refundView(), order: view)
            XCTAssertEqual(try API.decode(RefundResponse.self, from: refund.wireBytes()), refund)
            let error = APIError(ErrorCode.allCases[random.below(ErrorCode.allCases.count)], detail: random.maybe { $0.text() })
            XCTAssertEqual(try API.decode(ErrorEnvelope.self, from: ErrorEnvelope(error: error).wireBytes()).error, error)
        }
    }

    /// Texts a client might send, read by both coders: each either gives the same value or fails the
    /// same way (kind of error and where), with key names in the wire's snake_case.
    func testReadingAgreesWithFoundation() {
        let texts = [
            #"{"amount":1234}"#,
            #" { "amount" : 1234 , "currency" : "CNY" } "#,
            #"{"amount":1.0}"#, #"{"amount":1e3}"#, #"{"amount":1E2}"#, #"{"amount":-0}"#,
            #"{"amount":1,"amount":2}"#,
            #"{"amount":1,"currency":null}"#,
            #"{"amount":null}"#, #"{}"#, #"{"amount":"1"}"#, #"{"amount":true}"#,
            #"{"amount":1,"client_ref":"a\u00e9\ud83d\ude00\/\"\\\b\f\n\r\t"}"#,
            #"{"amount":1,"client_ref":7}"#,
            #"{"amount":1,"unknown":[[[{"y":true}]],null,-1.5e-3,"x"]}"#,
            #"{"amount":1,"items":[{"name":"a","quantity":1}]}"#,
            #"{"amount":1,"items":[{"name":"a","quantity":1,"unit_price":2,"sku":null}]}"#,
            #"{"amount":1,"items":[{"name":"a","quantity":1,"unit_price":2},{"name":5,"quantity":1,"unit_price":2}]}"#,
            #"{"amount":1,"items":{}}"#,
            #"[1]"#, #""text""#, #"null"#,
            #"{"amount":01}"#, #"{"amount":1} x"#, #"{"amount":1"#, #"{"amount":}"#, #"{amount:1}"#,
            #"{"amount":1,"client_ref":"\ud83d"}"#, #"{"amount":1,"client_ref":"\x"}"#,
            "{\"amount\":1,\"client_ref\":\"a\u{01}\"}",
            #"{"amount":1,"client_ref":"é"}"#,
        ]
        for text in texts {
            XCTAssertEqual(outcome(CreateOrderRequest.self, text, wire: true), outcome(CreateOrderRequest.self, text, wire: false), text)
        }
        let order = String(decoding: sampleOrder().wireBytes(), as: UTF8.self)
        let orderTexts = [
            order,
            order.replacingOccurrences(of: #""status":"paid""#, with: #""status":"weird""#),
            order.replacingOccurrences(of: #""order_no":"#, with: #""x":"#),
            order.replacingOccurrences(of: #""refunds":[]"#, with: #""refunds":null"#),
            order.replacingOccurrences(of: #""refunds":[]"#, with: #""refunds":[{"amount":1}]"#),
            order.replacingOccurrences(of: #""paid_at":1790000000123"#, with: #""paid_at":null"#),
            order.replacingOccurrences(of: "26092114132000301234021", with: "26092114132000301234022"),
        ]
        for text in orderTexts {
            XCTAssertEqual(outcome(OrderView.self, text, wire: true), outcome(OrderView.self, text, wire: false), text)
        }
    }

    /// Where the wire reader is stricter than Foundation, deliberately (docs/PROTOCOL.md): JSON's grammar
    /// with no trailing commas, and keys exactly as documented.
    func testReadingIsStricterThanFoundationOnlyWhereDocumented() throws {
        XCTAssertNotNil(try? foundationDecode(CreateOrderRequest.self, Array(#"{"amount":1,}"#.utf8)))
        XCTAssertEqual(outcome(CreateOrderRequest.self, #"{"amount":1,}"#, wire: true), "dataCorrupted at ")
        XCTAssertEqual(try foundationDecode(CreateOrderRequest.self, Array(#"{"amount":1,"clientRef":"x"}"#.utf8)).clientRef, "x")
        XCTAssertNil(try API.decode(CreateOrderRequest.self, from: Array(#"{"amount":1,"clientRef":"x"}"#.utf8)).clientRef)
    }

    /// A number that is not a whole Int64 is refused by both; Foundation calls the whole text invalid,
    /// the wire reader names the field.
    func testANumberThatIsNotAnAmountIsRefusedAtItsField() {
        for text in [#"{"amount":12.5}"#, #"{"amount":99999999999999999999}"#, #"{"amount":1e300}"#] {
            XCTAssertEqual(outcome(CreateOrderRequest.self, text, wire: false), "dataCorrupted at ", text)
            XCTAssertEqual(outcome(CreateOrderRequest.self, text, wire: true), "dataCorrupted at amount", text)
        }
    }

    func testTheParserRefusesWhatJSONForbids() {
        let bad = [
            "", " ", "{", "}", "[1,]", "[1 2]", "01", "-", "1.", ".5", "1e", "1e+", "+1", "tru", "nul", "\"abc",
            "\"\\u12\"", "\"\\ude00\"", "\"\\ud83dx\"", "\"\\ud83d\\u0041\"", "{\"a\" 1}", "{1:2}", "[1]]", "NaN", "1e999",
            "\"\u{7}\"",
        ]
        for text in bad {
            XCTAssertThrowsError(try JSONParser.parse(Array(text.utf8)), text)
        }
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]), "invalid UTF-8")
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xED, 0xA0, 0x80, 0x22]), "encoded surrogate")
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        XCTAssertThrowsError(try JSONParser.parse(Array(deep.utf8)))
        let allowed = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        XCTAssertNoThrow(try JSONParser.parse(Array(allowed.utf8)))
    }

    func testTheParserReadsWhatJSONAllows() throws {
        XCTAssertEqual(try JSONParser.parse(Array(#"[0,-0,12,-9223372036854775808,9223372036854775807,9223372036854775808,1.5,2e-1]"#.utf8)),
                       .array([.integer(0), .integer(0), .integer(12), .integer(.min), .integer(.max),
                               .number(9_223_372_036_854_775_808), .number(1.5), .number(0.2)]))
        XCTAssertEqual(try JSONParser.parse(Array("\"\\u0000\\u00e9\\uD83D\\uDE00\\/\"".utf8)), .string("\u{0}é😀/"))
        XCTAssertEqual(try JSONParser.parse(Array(" {\"a\":[],\"b\":{},\"a\":null}\n".utf8)),
                       .object([JSONMember(key: "a", value: .array([])), JSONMember(key: "b", value: .object([])),
                                JSONMember(key: "a", value: .null)]))
    }

    func testAnErrorNamesTheFieldWhereItIs() {
        let text = #"{"amount":1,"items":[{"name":"a","quantity":1,"unit_price":2},{"name":"b","quantity":"x","unit_price":2}]}"#
        XCTAssertEqual(outcome(CreateOrderRequest.self, text, wire: true), "typeMismatch at items.[1].quantity")
        XCTAssertEqual(outcome(CreateOrderRequest.self, #"{"items":[]}"#, wire: true), "keyNotFound amount at ")
    }

    // MARK: Helpers

    private func assertSameBytes<T: WireEncodable & Encodable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) {
        let foundation = Array(try! API.makeEncoder().encode(value))
        let wire = value.wireBytes()
        XCTAssertEqual(String(decoding: wire, as: UTF8.self), String(decoding: foundation, as: UTF8.self), file: file, line: line)
        XCTAssertEqual(API.encode(value), wire, "API.encode takes the wire path", file: file, line: line)
    }

    private func foundationDecode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        try API.makeDecoder().decode(type, from: Data(bytes))
    }

    /// The value read, or the kind of error and its path (keys in snake_case).
    private func outcome<T: Decodable & Equatable>(_ type: T.Type, _ text: String, wire: Bool) -> String {
        do {
            let value = wire ? try API.decode(type, from: Array(text.utf8)) : try foundationDecode(type, Array(text.utf8))
            return "value \(value)"
        } catch let error as DecodingError {
            switch error {
            case .typeMismatch(_, let c): return "typeMismatch at \(path(c.codingPath))"
            case .valueNotFound(_, let c): return "valueNotFound at \(path(c.codingPath))"
            case .keyNotFound(let key, let c): return "keyNotFound \(snake(key.stringValue)) at \(path(c.codingPath))"
            case .dataCorrupted(let c): return "dataCorrupted at \(path(c.codingPath))"
            @unknown default: return "unknown"
            }
        } catch {
            return "other \(error)"
        }
    }

    private func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? snake($0.stringValue) }.joined(separator: ".")
    }

    private func snake(_ key: String) -> String {
        key.reduce(into: "") { out, c in
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
    }

    private func sampleOrder() -> OrderView {
        OrderView(orderNo: OrderNumber(epochSeconds: 1_790_000_000, instance: 3, sequence: 1234, group: GroupTag(2)!),
                  storeId: "S0001", deviceId: "D1", amount: 1234, currency: "CNY", status: .paid,
                  items: [OrderItem(sku: "A1", name: "Coffee", quantity: 1, unitPrice: 1234)], clientRef: "ref-1",
                  createdAt: 1_790_000_000_000, updatedAt: 1_790_000_000_123, paidAt: 1_790_000_000_123, channelTxn: "T1")
    }
}

/// A small deterministic generator of API values, so failures reproduce.
private struct SeededRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    mutating func next() -> UInt64 {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return state
    }

    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func maybe<T>(_ make: (inout SeededRandom) -> T) -> T? { below(2) == 0 ? nil : make(&self) }
    mutating func amount() -> Int64 { below(8) == 0 ? Int64(bitPattern: next()) : Int64(below(1_000_000)) }

    /// Text drawn from ASCII (controls, quotes, slashes included), accented letters, CJK and emoji.
    mutating func text() -> String {
        let pool: [String] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "店",
                              "😀", "\u{2028}", "-", "_", "{", "}"]
        return (0..<below(12)).map { _ in pool[below(pool.count)] }.joined()
    }

    mutating func orderNumber() -> OrderNumber {
        OrderNumber(epochSeconds: 1_700_000_000 + Int64(below(100_000_000)), instance: below(1000),
                    sequence: below(100_000), group: GroupTag(below(100))!)
    }

    mutating func item() -> OrderItem {
        OrderItem(sku: maybe { $0.text() }, name: text(), quantity: below(100) - 5, unitPrice: amount())
    }

    mutating func createRequest() -> CreateOrderRequest {
        CreateOrderRequest(amount: amount(), currency: maybe { $0.text() }, items: maybe { r in (0..<r.below(3)).map { _ in r.item() } },
                           clientRef: maybe { $0.text() })
    }

    mutating func refundView() -> RefundView {
        let order = orderNumber()
        return RefundView(refundNo: RefundNumber(epochSeconds: 1_790_000_000, instance: below(1000), sequence: below(100_000),
                                                 group: order.group),
                          orderNo: order, amount: amount(), currency: text(), refundRef: text(),
                          status: below(2) == 0 ? .pending : .succeeded, createdAt: amount())
    }

    mutating func orderView() -> OrderView {
        OrderView(orderNo: orderNumber(), storeId: text(), deviceId: text(), amount: amount(), currency: text(),
                  status: OrderStatus.allCases[below(OrderStatus.allCases.count)], refundedAmount: amount(),
                  items: (0..<below(3)).map { _ in item() }, clientRef: maybe { $0.text() }, createdAt: amount(),
                  updatedAt: amount(), paidAt: maybe { $0.amount() }, channelTxn: maybe { $0.text() },
                  failure: maybe { PaymentFailure(reason: $0.text(), message: $0.text()) },
                  pending: maybe { $0.below(2) == 0 ? .userConfirming : .unknown },
                  refunds: (0..<below(3)).map { _ in refundView() })
    }

    mutating func summary() -> OrderSummary {
        OrderSummary(orderNo: orderNumber(), amount: amount(), currency: text(),
                     status: OrderStatus.allCases[below(OrderStatus.allCases.count)], refundedAmount: amount(),
                     createdAt: amount(), deviceId: text())
    }
}
