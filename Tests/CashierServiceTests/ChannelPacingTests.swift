import CashierChannels
import CashierClient
import CashierCore
import CashierService
import Foundation
import TestSupport
import XCTest

/// The service paces a payment under way by its channel's rules (`ChannelTiming`): asked no more often
/// than the poll interval, and reversed once undecided past the channel's deadline after its claim
/// (WeChat Pay: every 5 s, 30 s). Here the sandbox is given a 1 s interval and a 3 s deadline.
final class ChannelPacingTests: XCTestCase {
    func testAPaymentUndecidedPastTheChannelsDeadlineIsReversedWhenItIsAsked() throws {
        let service = try Cashierd(groups: 1, tweak: {
            $0.channel.pollIntervalMs = 1_000
            $0.channel.payDeadlineMs = 3_000
            $0.channel.confirmDelayMs = 60_000
        })
        defer { service.stop() }
        let terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        let order = try terminal.createOrder(amount: 800).unwrap()
        XCTAssertEqual(try terminal.pay(order.orderNo, code: paymentCode(.userNeverConfirms)).unwrap().pending, .userConfirming)
        // Before the deadline: still confirming, however often asked.
        for _ in 0..<5 {
            let q = try terminal.query(order.orderNo).unwrap()
            XCTAssertEqual(q.status, .paying)
            XCTAssertEqual(q.pending, .userConfirming)
            Thread.sleep(forTimeInterval: 0.1)
        }
        // Past it: the next query reverses the payment at the channel, without the terminal asking to.
        Thread.sleep(forTimeInterval: 3.2)
        XCTAssertEqual(try terminal.query(order.orderNo).unwrap().status, .reversed)
        let metrics = try service.admin(["reconcile"])
        XCTAssertTrue(metrics.stdout.contains("paid at channel: 0"), metrics.stdout)
        // A customer who confirms within the deadline is paid as ever.
        let paid = try terminal.createOrder(amount: 900).unwrap()
        XCTAssertEqual(try terminal.pay(paid.orderNo, code: paymentCode(.paid)).unwrap().status, .paid)
    }

    func testThePollIntervalHoldsBackAsksAndTheDeadlineIsFromTheClaim() {
        let timing = ChannelTiming(pollIntervalMs: 5_000, payDeadlineMs: 30_000, earliestReverseMs: 15_000)
        XCTAssertTrue(timing.mayAskAgain(lastAskedAtMs: nil, nowMs: 1_000))
        XCTAssertFalse(timing.mayAskAgain(lastAskedAtMs: 1_000, nowMs: 5_999))
        XCTAssertTrue(timing.mayAskAgain(lastAskedAtMs: 1_000, nowMs: 6_000))
        XCTAssertTrue(timing.mayAskAgain(lastAskedAtMs: 9_000, nowMs: 1_000), "a clock that went back does not hold asks forever")
        XCTAssertFalse(timing.isPastDeadline(claimedAtMs: 10_000, nowMs: 39_999))
        XCTAssertTrue(timing.isPastDeadline(claimedAtMs: 10_000, nowMs: 40_000))
    }
}
