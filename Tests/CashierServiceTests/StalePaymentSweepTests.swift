import CashierChannels
import CashierClient
import CashierCore
import CashierService
import CashierStorage
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// The sweep of `paying` orders nobody asks about: it records what the channel decided, reverses what it
/// never will, and leaves the rest alone; and of refunds left pending, which it makes once. Real `cashierd` processes, real SQLite groups, the real sandbox
/// channel; the in-process cases open the same data directory as the stopped service.
final class StalePaymentSweepTests: XCTestCase {
    var service: Cashierd!

    override func tearDown() {
        service?.stop()
        service = nil
    }

    /// A created order over HTTPS, then the service stopped and its data opened in this process.
    private func orderAndStoppedService() throws -> (OrderView, ServiceRuntime) {
        service = try Cashierd()
        let terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        let order = try terminal.createOrder(amount: 4_321).unwrap()
        service.stop()
        return (order, try ServiceRuntime(dataDirectory: service.dataPath, logRequests: false))
    }

    /// Leaves `order` as a crash would between the claim and the recording of the channel's answer.
    private func claim(_ order: OrderView, code: String, in runtime: ServiceRuntime, at now: Int64) throws {
        let claimed = try runtime.hopping.withGroup(order.orderNo.group) {
            try $0.transition(order.orderNo, from: [.created], change: OrderChange(status: .paying, paymentCode: code), now: now)
        }
        XCTAssertEqual(claimed?.changed, true)
    }

    private func stored(_ order: OrderView, in runtime: ServiceRuntime) throws -> OrderRecord? {
        try runtime.hopping.withGroup(order.orderNo.group) { try $0.order(order.orderNo) }
    }

    func testAPaymentWhoseAnswerWasNeverRecordedIsRecordedAsPaid() throws {
        let (order, runtime) = try orderAndStoppedService()
        let start = CashierService.systemClock()
        let code = paymentCode(.paid)
        try claim(order, code: code, in: runtime, at: start)
        // The channel charged the customer; the record of its answer never reached the group (a power cut).
        guard case .paid(let txn) = try runtime.sandbox.pay(sandboxPay(order, code: code, now: start)) else {
            return XCTFail("the sandbox should pay this code at once")
        }

        let early = runtime.service.sweepStalePayments(now: start + 30_000)
        XCTAssertEqual(early.examined, 0, "a payment younger than sweep.after_seconds (60 s) is its terminal's business")
        XCTAssertEqual(try stored(order, in: runtime)?.status, .paying)

        let report = runtime.service.sweepStalePayments(now: start + 61_000)
        XCTAssertEqual([report.examined, report.settled, report.reversed, report.leftPaying], [1, 1, 0, 0])
        XCTAssertEqual(report.unreadableGroups, [])
        let settled = try XCTUnwrap(try stored(order, in: runtime))
        XCTAssertEqual(settled.status, .paid)
        XCTAssertEqual(settled.channelTxn, txn)
        let books = try Reconciliation.run(runtime: runtime, now: start + 62_000)
        XCTAssertTrue(books.isExact, books.summary)
        XCTAssertEqual(books.paidOrders, 1)
        XCTAssertEqual(runtime.service.sweepStalePayments(now: start + 120_000).examined, 0, "nothing is left to sweep")
    }

    func testAPaymentThatNeverReachedTheChannelIsReversedAtTheDeadlineAndCannotBeChargedLater() throws {
        let (order, runtime) = try orderAndStoppedService()
        let start = CashierService.systemClock()
        let code = paymentCode(.paid)
        // Claimed, then the process died before the channel was called: only a reversal can end this.
        try claim(order, code: code, in: runtime, at: start)

        let waiting = runtime.service.sweepStalePayments(now: start + 61_000)
        XCTAssertEqual(waiting.examined, 1)
        XCTAssertEqual(waiting.leftPaying, 1, "before sweep.reverse_after_seconds an undecided payment is left as it is")
        XCTAssertEqual(try stored(order, in: runtime)?.status, .paying)

        let report = runtime.service.sweepStalePayments(now: start + 301_000)
        XCTAssertEqual(report.reversed, 1)
        XCTAssertEqual(try stored(order, in: runtime)?.status, .reversed)
        XCTAssertEqual(try runtime.sandbox.query(outTradeNo: order.orderNo.digits, now: start + 302_000), ChannelPaymentState.reversed)
        // A pay call for this order that reaches the channel only now (a delayed retry) charges nothing.
        let late = try runtime.sandbox.pay(sandboxPay(order, code: code, now: start + 303_000))
        if case .paid = late { XCTFail("a reversed order was charged") }
        let books = try Reconciliation.run(runtime: runtime, now: start + 304_000)
        XCTAssertTrue(books.isExact, books.summary)
        XCTAssertEqual(books.paidAtChannel, 0)
    }

    func testARefundLeftPendingIsMadeOnceAndCompleted() throws {
        service = try Cashierd()
        let terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        let order = try terminal.createOrder(amount: 5_000).unwrap()
        XCTAssertEqual(try terminal.pay(order.orderNo, code: paymentCode(.paid)).unwrap().status, .paid)
        service.stop()
        let runtime = try ServiceRuntime(dataDirectory: service.dataPath, logRequests: false)
        let start = CashierService.systemClock()
        // Reserved with a supervisor's PIN, then the channel call failed and the terminal never sent it again.
        let refund = RefundRecord(refundNo: RefundNumber(epochSeconds: start / 1_000, instance: 1, sequence: 7, group: order.orderNo.group),
                                  orderNo: order.orderNo, amount: 1_200, currency: order.currency, refundRef: "lost-terminal",
                                  status: .pending, staffID: "supervisor", reason: nil, createdAt: start)
        let reservation = try runtime.hopping.withGroup(order.orderNo.group) { try $0.reserveRefund(refund, maxRefunds: 50, now: start) }
        XCTAssertEqual(reservation, .reserved(refund))

        XCTAssertEqual(runtime.service.sweepStalePayments(now: start + 30_000).refundsCompleted, 0, "its terminal may still send it")
        let report = runtime.service.sweepStalePayments(now: start + 61_000)
        XCTAssertEqual([report.refundsCompleted, report.refundsLeftPending], [1, 0])
        let stored = try runtime.hopping.withGroup(order.orderNo.group) { try $0.refunds(of: order.orderNo) }
        XCTAssertEqual(stored.map(\.status), [.succeeded])
        XCTAssertEqual(runtime.service.sweepStalePayments(now: start + 120_000).refundsCompleted, 0, "nothing is left pending")
        // The terminal's late retry under the same number changes nothing at the channel.
        XCTAssertEqual(try runtime.sandbox.refund(ChannelRefundRequest(refundNo: refund.refundNo.text, outTradeNo: order.orderNo.digits,
                                                                       orderAmount: order.amount, amount: 1_200, currency: order.currency,
                                                                       now: start + 121_000)), .succeeded)
        let books = try Reconciliation.run(runtime: runtime, now: start + 122_000)
        XCTAssertTrue(books.isExact, books.summary)
        XCTAssertEqual([books.refunds, books.refundsAtChannel], [1, 1])
    }

    func testTheRunningServiceSweepsAPaymentTheCustomerNeverConfirmed() throws {
        service = try Cashierd { config in
            config.sweep.afterSeconds = 1
            config.sweep.reverseAfterSeconds = 2
            config.sweep.everySeconds = 1
        }
        let terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        let order = try terminal.createOrder(amount: 777).unwrap()
        let first = try terminal.pay(order.orderNo, code: paymentCode(.userNeverConfirms)).unwrap()
        XCTAssertEqual(first.pending, .userConfirming)
        // The terminal is gone: nobody queries. The service's own sweep reverses the payment at its deadline.
        let metricsURL = service.urls[0] + "/metrics"
        let http = try CurlConnection(configuration: service.httpConfiguration())
        let deadline = Date().addingTimeInterval(20)
        var metrics = ""
        while Date() < deadline {
            metrics = String(decoding: try http.perform(method: "GET", url: metricsURL).get().body, as: UTF8.self)
            if metrics.contains("cashierd_stale_payments_total{outcome=\"reversed\"} 1") { break }
            Thread.sleep(forTimeInterval: 0.25)
        }
        XCTAssertTrue(metrics.contains("cashierd_stale_payments_total{outcome=\"reversed\"} 1"), metrics)
        let now = try terminal.query(order.orderNo).unwrap()
        XCTAssertEqual(now.status, .reversed)
        guard case .failure(.service(let e)) = terminal.pay(order.orderNo, code: paymentCode(.paid)) else {
            return XCTFail("a reversed order must not be payable")
        }
        XCTAssertEqual(e.code, .orderNotPayable)
    }

    func testSweepSettingsAreChecked() throws {
        let directory = try TemporaryDirectory(prefix: "sweep-config")
        let data = directory.file("data")
        let result = try runCommand(Cashierd.binary, ["init", "--data", data, "--groups", "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let path = (data as NSString).appendingPathComponent(ServiceRuntime.configurationFile)
        var config = try API.makeDecoder().decode(ServiceConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual([config.sweep.afterSeconds, config.sweep.reverseAfterSeconds, Int64(config.sweep.everySeconds)], [60, 300, 15])
        config.sweep.afterSeconds = 600
        config.sweep.reverseAfterSeconds = 60
        try Administration.prettyEncoder().encode(config).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ServiceRuntime(dataDirectory: data, logRequests: false)) { error in
            XCTAssertTrue("\(error)".contains("reverse_after_seconds"), "\(error)")
        }
    }
}

/// A pay call for `order` as the service makes it.
private func sandboxPay(_ order: OrderView, code: String, now: Int64) -> ChannelPayRequest {
    ChannelPayRequest(outTradeNo: order.orderNo.digits, amount: order.amount, currency: order.currency, paymentCode: code,
                      description: "test", storeID: order.storeId, deviceID: order.deviceId, now: now)
}
