import CashierClient
import CashierCore
import Foundation
import TestSupport
import XCTest

/// SQL-looking text in every string a terminal can send is stored and returned byte for byte, or
/// refused with INVALID_FIELD; it is never interpreted.
final class InjectionTests: XCTestCase {
    var service: Cashierd!
    var terminal: TestTerminal!
    var attacker: Attacker { Attacker(service: service) }

    static let payloads = [
        "'; DROP TABLE orders; --", "\" OR \"1\"=\"1", "1' OR '1'='1' --", "x'); DELETE FROM refunds; --",
        "Robert'); UPDATE orders SET amount=1; --", "%' UNION SELECT secret FROM devices --", "\\'; SELECT 1; --",
        "$1; COPY orders TO '/tmp/x'", "乌龙茶'; --", "tab\there", "\u{7f}\u{1}ctl",
    ]

    override func setUpWithError() throws {
        service = try Cashierd(groups: 2)
        terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    func testClientRefItemNamesAndSKUsAreStoredVerbatim() throws {
        var made: [(OrderNumber, CreateOrderRequest)] = []
        var refused = 0
        for (i, text) in Self.payloads.enumerated() {
            let items = [OrderItem(sku: String(text.prefix(60)), name: text, quantity: 1, unitPrice: 100 + Int64(i)),
                         OrderItem(name: "plain", quantity: 2, unitPrice: 50)]
            let request = CreateOrderRequest(amount: 200 + Int64(i), items: items, clientRef: text)
            let answer = terminal.transport.call("POST", API.Path.orders, body: API.encode(request), credentials: terminal.credentials)
                .decoded(OrderView.self)
            if text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
                // Control characters have no place in these fields: refused, never stored cut or changed.
                guard case .failure(.service(let e)) = answer else { return XCTFail("\(text.debugDescription) must be refused") }
                XCTAssertEqual(e.code, .invalidField)
                refused += 1
                continue
            }
            made.append((try answer.get().orderNo, request))
        }
        XCTAssertEqual(refused, 2)
        for (number, request) in made {
            let stored = try terminal.query(number).unwrap()
            XCTAssertEqual(stored.clientRef, request.clientRef)
            XCTAssertEqual(stored.items, request.items)
            XCTAssertEqual(stored.amount, request.amount, "the amount was not rewritten")
            XCTAssertEqual(stored.status, .created)
        }
        XCTAssertEqual(try terminal.list(limit: 100).unwrap().orders.count, made.count, "no order vanished or appeared")
        assertServiceIntact(service, terminal.credentials)
    }

    func testQueryParametersAndPathsWithSQLAreRefused() throws {
        let order = try terminal.createOrder(amount: 500).unwrap()
        for cursor in Self.payloads + ["1.1' OR '1'='1", "9999999999999.\(order.orderNo.digits)' --", "-1.\(order.orderNo.digits)"] {
            let r = try attacker.signed(terminal.credentials, "GET", API.Path.orders, query: [("cursor", cursor)])
            XCTAssertEqual(r.code, .invalidField, "cursor \(cursor.debugDescription)")
        }
        for limit in ["1; DROP TABLE orders", "1 OR 1=1", "-1", "0", "101", "1e2"] {
            XCTAssertEqual(try attacker.signed(terminal.credentials, "GET", API.Path.orders, query: [("limit", limit)]).code, .invalidField, limit)
        }
        XCTAssertEqual(try attacker.signed(terminal.credentials, "GET", API.Path.orders, query: [("1=1;--", "x")]).code, .invalidField)
        for path in ["/v1/orders/1'%20OR%20'1'='1", "/v1/orders/\(order.orderNo.digits)'--", "/v1/orders/\(order.orderNo.digits)%27/pay"] {
            let r = try attacker.signed(terminal.credentials, "GET", path)
            XCTAssertTrue([.orderNotFound, .notFound, .signatureInvalid, .methodNotAllowed].contains(r.code), "\(path) → \(String(describing: r.code))")
        }
        XCTAssertEqual(try terminal.query(order.orderNo).unwrap().status, .created)
        XCTAssertEqual(try terminal.list().unwrap().orders.count, 1)
        assertServiceIntact(service, terminal.credentials)
    }

    func testHeadersAndActivationFieldsWithSQL() throws {
        let body = API.encode(CreateOrderRequest(amount: 100))
        for device in ["x' OR '1'='1", "D1; DROP TABLE devices", "' UNION SELECT secret FROM devices --"] {
            var h = Attacker.headers(terminal.credentials, method: "POST", path: API.Path.orders, body: body)
            h[SignatureHeader.device] = device
            XCTAssertEqual(try attacker.send("POST", API.Path.orders, body: body, headers: h).code, .deviceUnknown, device)
        }
        var h = Attacker.headers(terminal.credentials, method: "POST", path: API.Path.orders, body: body)
        h[SignatureHeader.nonce] = "aaaaaaaaaaaaaaaa' OR '1'='1"
        XCTAssertEqual(try attacker.send("POST", API.Path.orders, body: body, headers: h).code, .signatureInvalid)

        // An activation code full of SQL is just an unknown code; a device name full of SQL is kept verbatim.
        let transport = try service.transport()
        XCTAssertEqual(refusalCode(transport.activate(code: "' OR '1'='1' --", deviceName: nil)), .activationCodeInvalid)
        let name = "till'); DROP TABLE devices; --"
        let activation = try transport.activate(code: try service.newActivationCode(), deviceName: name).get()
        let listed = try service.admin(["device", "list"]).stdout
        XCTAssertTrue(listed.contains(activation.deviceId), listed)
        XCTAssertTrue(listed.contains(terminal.credentials.deviceId), "the first device is still there")
        XCTAssertTrue(listed.contains("DROP TABLE devices"), "the name was stored as given: \(listed)")
        XCTAssertEqual(try terminal.list().unwrap().orders.count, 0)
        assertServiceIntact(service, terminal.credentials)
    }
}
