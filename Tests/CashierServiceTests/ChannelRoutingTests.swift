import CashierChannels
import CashierClient
import CashierCore
import CashierService
import Foundation
import TestSupport
import XCTest

/// Which channel takes a payment code is decided by the code; a store takes only the channels it has.
final class ChannelRoutingTests: XCTestCase {
    func testCodesAreRoutedByTheirFormAndUnconfiguredChannelsAreRefusedBeforeAnythingIsSent() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        let cases: [(code: String, expected: ErrorCode)] = [
            ("134567890123456780", .channelNotConfigured),     // WeChat Pay's form; the demo store has only the sandbox
            ("28012345678901234567", .channelNotConfigured),   // Alipay's form
            ("164567890123456780", .paymentCodeInvalid),       // no channel's form
            ("99456789012345678", .paymentCodeInvalid),        // 17 digits
        ]
        for c in cases {
            let order = try terminal.createOrder(amount: 100).unwrap()
            guard case .failure(.service(let e)) = terminal.pay(order.orderNo, code: c.code) else {
                return XCTFail("\(c.code) must be refused")
            }
            XCTAssertEqual(e.code, c.expected, c.code)
            XCTAssertEqual(try terminal.query(order.orderNo).unwrap().status, .created, "nothing was started for \(c.code)")
        }
        // A store without the sandbox channel refuses sandbox codes too.
        let merchant = try service.admin(["merchant", "add", "Plain Merchant"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let plain = try service.admin(["store", "add", "--merchant", merchant, "--name", "No Channels"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let other = TestTerminal(transport: try service.transport(),
                                 credentials: try service.activateTerminal(code: try service.admin(["activation-code", "--store", plain]).stdout
                                    .trimmingCharacters(in: .whitespacesAndNewlines)))
        let order = try other.createOrder(amount: 100).unwrap()
        guard case .failure(.service(let e)) = other.pay(order.orderNo, code: paymentCode(.paid)) else {
            return XCTFail("a store without the sandbox channel must refuse sandbox codes")
        }
        XCTAssertEqual(e.code, .channelNotConfigured)
        // Nothing reached the channel for any of these.
        let reconcile = try service.admin(["reconcile"])
        XCTAssertTrue(reconcile.stdout.contains("paid at channel: 0"), reconcile.stdout)

        // Given the channel, the store's terminals sell with it (every instance sees it within its refresh).
        XCTAssertEqual(try service.admin(["store", "channel", "set", "--store", plain, "--channel", "sandbox"]).status, 0)
        XCTAssertTrue(try service.admin(["store", "channel", "list", "--store", plain]).stdout.hasPrefix("sandbox"))
        let bogus = try service.admin(["store", "channel", "set", "--store", plain, "--channel", "bitcoin"])
        XCTAssertEqual(bogus.status, 2, bogus.stderr)
    }
}
