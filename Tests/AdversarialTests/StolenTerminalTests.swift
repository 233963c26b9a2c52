import CashierClient
import CashierCore
import Foundation
import TestSupport
import XCTest

/// A terminal reported stolen and revoked: its key and its old activation code are worthless, for every
/// call, and nothing it tries changes an order.
final class StolenTerminalTests: XCTestCase {
    var service: Cashierd!

    override func setUpWithError() throws {
        service = try Cashierd(groups: 2)
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    func testRevokedKeyCannotActivatePayRefundListOrQuery() throws {
        let code = try service.newActivationCode()
        let stolen = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal(code: code))
        let paid = try paidOrder(stolen, 1000)
        let unpaid = try stolen.createOrder(amount: 700).unwrap()
        XCTAssertEqual(try service.admin(["device", "revoke", stolen.credentials.deviceId]).status, 0)

        XCTAssertEqual(refusalCode(stolen.createOrder(amount: 100)), .deviceRevoked)
        XCTAssertEqual(refusalCode(stolen.pay(unpaid.orderNo, code: paymentCode(.paid))), .deviceRevoked)
        XCTAssertEqual(refusalCode(stolen.reverse(paid.orderNo)), .deviceRevoked)
        XCTAssertEqual(refusalCode(stolen.refund(paid.orderNo, amount: 1000, ref: "thief", pin: Cashierd.supervisorPIN)), .deviceRevoked)
        XCTAssertEqual(refusalCode(stolen.list()), .deviceRevoked)
        XCTAssertEqual(refusalCode(stolen.query(paid.orderNo)), .deviceRevoked)
        XCTAssertEqual(refusalCode(stolen.transport.call("GET", API.Path.ping, credentials: stolen.credentials)), .deviceRevoked)

        // Re-activating is no way back: the old code is spent, and the key is not an activation code.
        let transport = try service.transport()
        XCTAssertEqual(refusalCode(transport.activate(code: code, deviceName: "stolen")), .activationCodeUsed)
        XCTAssertEqual(refusalCode(transport.activate(code: stolen.credentials.deviceSecret, deviceName: "stolen")), .activationCodeInvalid)

        // The store's replacement terminal sees the orders untouched and can still act on them.
        let replacement = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        XCTAssertNotEqual(replacement.credentials.deviceId, stolen.credentials.deviceId)
        let paidAfter = try replacement.query(paid.orderNo).unwrap()
        XCTAssertEqual(paidAfter.status, .paid)
        XCTAssertEqual(paidAfter.refundedAmount, 0)
        XCTAssertEqual(try replacement.query(unpaid.orderNo).unwrap().status, .created)
        XCTAssertEqual(try replacement.list().unwrap().orders.count, 2, "the revoked terminal created nothing")
        // The stolen key is still refused after another device was activated.
        XCTAssertEqual(refusalCode(stolen.list()), .deviceRevoked)
        assertServiceIntact(service, replacement.credentials)
    }
}
