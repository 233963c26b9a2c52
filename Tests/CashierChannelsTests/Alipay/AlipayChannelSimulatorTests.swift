import CashierChannels
import CashierCore
import CashierCrypto
import Foundation
import XCTest

/// The adapter against the Alipay simulator, a separate process, over real HTTPS on loopback.
final class AlipayChannelSimulatorTests: XCTestCase {
    var sim: AlipaySimulator!

    override func setUpWithError() throws {
        sim = try AlipaySimulator()
    }

    override func tearDown() {
        sim?.stop()
        sim = nil
    }

    func channel(backup: Bool = false, timeoutMs: Int = 4_000) throws -> AlipayChannel {
        try AlipayChannel(configuration: sim.configuration(backup: backup, timeoutMs: timeoutMs))
    }

    func payment(_ code: String, amount: Int64 = 1234, order: String = SimOrder.next()) -> ChannelPayRequest {
        ChannelPayRequest(outTradeNo: order, amount: amount, currency: "CNY", paymentCode: code, description: "Coffee 咖啡",
                          storeID: "STORE-7", deviceID: "DEV-1", now: nowMs())
    }

    func channelError(_ body: () throws -> Any) -> ChannelError? {
        do { _ = try body(); return nil } catch { return error as? ChannelError }
    }

    // MARK: - Paying

    func testPaidAtOnce() throws {
        let alipay = try channel()
        let request = payment(SimCode.paysAtOnce, amount: 1234)
        let state = try alipay.pay(request)
        let books = try sim.books()
        let tradeNo = try XCTUnwrap(books.tradeNo(request.outTradeNo))
        XCTAssertEqual(state, .paid(txn: tradeNo))
        let recorded = try XCTUnwrap(books.payment(request.outTradeNo))
        XCTAssertEqual(recorded["amount_fen"] as? Int, 1234, "12.34 yuan sent for 1234 fen")
        XCTAssertEqual(recorded["store_id"] as? String, "STORE-7")
        XCTAssertEqual(recorded["terminal_id"] as? String, "DEV-1")
        XCTAssertEqual(recorded["subject"] as? String, "Coffee 咖啡")
        // A repeated pay for the same order is answered, not charged again.
        XCTAssertEqual(try alipay.pay(request), .paid(txn: tradeNo))
        XCTAssertEqual(try sim.books().payment(request.outTradeNo)?["attempts"] as? Int, 2)
        XCTAssertEqual(try alipay.query(outTradeNo: request.outTradeNo, now: nowMs()), .paid(txn: tradeNo))
    }

    /// One channel serves many service threads at once (each call borrows its own libcurl connection).
    func testConcurrentPaysEachGetTheirOwnTrade() throws {
        let alipay = try channel()
        let requests = (0..<6).map { _ in payment(SimCode.paysAtOnce) }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: requests.count) { i in
            results.set(i, Result { try alipay.pay(requests[i]) })
        }
        let books = try sim.books()
        for (i, request) in requests.enumerated() {
            XCTAssertEqual(try results.get(i)?.get(), .paid(txn: try XCTUnwrap(books.tradeNo(request.outTradeNo))))
        }
        XCTAssertEqual(Set(requests.compactMap { books.tradeNo($0.outTradeNo) }).count, requests.count)
    }

    final class Results: @unchecked Sendable {
        // @unchecked: `values` is guarded by `lock`.
        private let lock = NSLock()
        private var values: [Int: Result<ChannelPaymentState, Error>] = [:]
        func set(_ i: Int, _ r: Result<ChannelPaymentState, Error>) { lock.withLock { values[i] = r } }
        func get(_ i: Int) -> Result<ChannelPaymentState, Error>? { lock.withLock { values[i] } }
    }

    func testWaitingForTheBuyerThenPaidByQuery() throws {
        try sim.command(["confirm_after_ms": 1_200])
        let alipay = try channel()
        let request = payment(SimCode.confirmsLater)
        XCTAssertEqual(try alipay.pay(request), .userConfirming)
        XCTAssertEqual(try alipay.query(outTradeNo: request.outTradeNo, now: nowMs()), .userConfirming)
        var state = ChannelPaymentState.userConfirming
        for _ in 0..<40 where state == .userConfirming {
            Thread.sleep(forTimeInterval: 0.2)
            state = try alipay.query(outTradeNo: request.outTradeNo, now: nowMs())
        }
        XCTAssertEqual(state, .paid(txn: try XCTUnwrap(try sim.books().tradeNo(request.outTradeNo))))
    }

    func testBuyerNeverConfirmsSoTheOrderIsCancelledAndCanNeverBeCharged() throws {
        let alipay = try channel()
        let request = payment(SimCode.neverConfirms)
        XCTAssertEqual(try alipay.pay(request), .userConfirming)
        try alipay.reverse(outTradeNo: request.outTradeNo, payStartedAt: request.now, now: nowMs())
        XCTAssertEqual(try sim.books().status(request.outTradeNo), "TRADE_CLOSED")
        XCTAssertEqual(try alipay.query(outTradeNo: request.outTradeNo, now: nowMs()),
                       .declined(reason: "CLOSED", message: DeclineReason.orderClosed.message))
        guard case let .declined(reason, _) = try alipay.pay(request) else { return XCTFail("a cancelled order was not declined") }
        XCTAssertEqual(reason, "CLOSED")
        // Cancelling again is harmless.
        XCTAssertNoThrow(try alipay.reverse(outTradeNo: request.outTradeNo, payStartedAt: request.now, now: nowMs()))
    }

    func testCancelOfAPaidOrderReturnsTheMoney() throws {
        let alipay = try channel()
        let request = payment(SimCode.paysAtOnce, amount: 500)
        guard case .paid = try alipay.pay(request) else { return XCTFail("not paid") }
        try alipay.reverse(outTradeNo: request.outTradeNo, payStartedAt: request.now, now: nowMs())
        let books = try sim.books()
        XCTAssertEqual(books.status(request.outTradeNo), "TRADE_CLOSED")
        XCTAssertEqual(books.refunded(request.outTradeNo), 500)
    }

    func testCancelOfAnOrderAlipayNeverSawIsDone() throws {
        let alipay = try channel()
        let order = SimOrder.next()
        XCTAssertNoThrow(try alipay.reverse(outTradeNo: order, payStartedAt: nowMs(), now: nowMs()))
        XCTAssertEqual(try sim.books().requests("alipay.trade.cancel", outTradeNo: order).count, 1)
        XCTAssertEqual(try alipay.query(outTradeNo: order, now: nowMs()), .notFound)
    }

    func testUnknownAnswersAreUnknownAndTheQueryFindsThePayment() throws {
        let alipay = try channel()
        for kind in ["code20000", "system_error"] {
            try sim.fault(kind, method: "alipay.trade.pay")
            let request = payment(SimCode.paysAtOnce)
            XCTAssertEqual(try alipay.pay(request), .unknown, kind)
            XCTAssertEqual(try alipay.query(outTradeNo: request.outTradeNo, now: nowMs()),
                           .paid(txn: try XCTUnwrap(try sim.books().tradeNo(request.outTradeNo))), kind)
        }
    }

    func testDeclinesMapToOurReasons() throws {
        let alipay = try channel()
        let cases: [(String, String, String)] = [
            (SimCode.balanceNotEnough, "INSUFFICIENT_FUNDS", "ACQ.BUYER_BALANCE_NOT_ENOUGH"),
            (SimCode.codeInvalid, "CODE_INVALID", "ACQ.PAYMENT_AUTH_CODE_INVALID"),
            (SimCode.dayLimit, "LIMIT_EXCEEDED", "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR"),
            (SimCode.tradeClosed, "CLOSED", "ACQ.TRADE_HAS_CLOSE"),
            (SimCode.unmappedDecline, "CHANNEL_DECLINED", "ACQ.PAYMENT_FAIL"),
        ]
        for (code, reason, subCode) in cases {
            let request = payment(code)
            guard case let .declined(got, message) = try alipay.pay(request) else { XCTFail("\(subCode) not declined"); continue }
            XCTAssertEqual(got, reason, subCode)
            XCTAssertTrue(message.contains(subCode), message)
            XCTAssertEqual(try alipay.query(outTradeNo: request.outTradeNo, now: nowMs()), .notFound, "a declined pay made no trade")
        }
        // A code used once is refused for another order.
        let used = SimCode.paysAtOnce
        guard case .paid = try alipay.pay(payment(used)) else { return XCTFail("not paid") }
        guard case let .declined(reason, _) = try alipay.pay(payment(used)) else { return XCTFail("a used code was charged again") }
        XCTAssertEqual(reason, "CODE_INVALID")
        // Not an Alipay code at all: declined without a call.
        let wechatCode = payment("134567890123456789")
        guard case let .declined(local, _) = try alipay.pay(wechatCode) else { return XCTFail("a WeChat code was not declined") }
        XCTAssertEqual(local, "CODE_INVALID")
        XCTAssertTrue(try sim.books().requests("alipay.trade.pay", outTradeNo: wechatCode.outTradeNo).isEmpty)
    }

    // MARK: - Answers that are not believed

    func testTamperedBadlySignedOrUnsignedAnswersAreNeverPaidOrDeclined() throws {
        let alipay = try channel()
        for kind in ["tamper", "bad_sign", "unsigned"] {
            try sim.fault(kind, method: "alipay.trade.pay")
            // Tampering turns this decline into "paid"; believing it would charge nobody and hand over goods.
            let request = payment(SimCode.balanceNotEnough)
            let error = channelError { try alipay.pay(request) }
            XCTAssertEqual(error?.kind, .unverifiedAnswer, "\(kind): \(String(describing: error))")
        }
        let paid = payment(SimCode.paysAtOnce)
        guard case .paid = try alipay.pay(paid) else { return XCTFail("not paid") }
        for kind in ["tamper", "bad_sign", "unsigned"] {
            try sim.fault(kind, method: "alipay.trade.query")
            XCTAssertEqual(channelError { try alipay.query(outTradeNo: paid.outTradeNo, now: nowMs()) }?.kind, .unverifiedAnswer, kind)
        }
        XCTAssertEqual(try alipay.query(outTradeNo: paid.outTradeNo, now: nowMs()), .paid(txn: try XCTUnwrap(try sim.books().tradeNo(paid.outTradeNo))))
    }

    /// The simulator checks our signature: a wrong app key is refused by the gateway (unsigned, so only a
    /// refusal, never an outcome), and the refusal — whose message echoes the signed string — leaks nothing.
    func testAWronglySignedRequestIsRefusedAndNoSecretLeaks() throws {
        let dir = try temporaryDirectory()
        let wrongKey = dir + "/wrong.pem"
        try AlipaySigningTests.testKeyPKCS1.write(toFile: wrongKey, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: wrongKey)
        var config = sim.configuration()
        config.appPrivateKeyFile = wrongKey
        config.appAuthToken = "201510BBaabdb44d8fd04607abf8d5931ec75D84"
        let alipay = try AlipayChannel(configuration: config)
        let request = payment(SimCode.paysAtOnce)
        let error = try XCTUnwrap(channelError { try alipay.pay(request) })
        XCTAssertEqual(error.kind, .refused)
        XCTAssertTrue(error.detail.contains("isv.invalid-signature"), error.detail)
        for secret in ["201510BBaabdb44d8fd04607abf8d5931ec75D84", request.paymentCode, "MIIE"] {
            XCTAssertFalse(error.description.contains(secret), "\(error) shows \(secret)")
            XCTAssertFalse(alipay.configuration.description.contains(secret))
        }
        XCTAssertNil(try sim.books().payment(request.outTradeNo), "nothing was charged")
    }

    // MARK: - No answer

    /// The pay reached Alipay, the answer came too late: no answer, and the pay is not sent again,
    /// not even to the backup gateway.
    func testATimeoutIsNoAnswerAndThePayIsNeverSentAgain() throws {
        let alipay = try channel(backup: true, timeoutMs: 1_000)
        try sim.fault("delay", method: "alipay.trade.pay", delayMs: 2_500)
        let request = payment(SimCode.paysAtOnce)
        let started = Date()
        XCTAssertEqual(channelError { try alipay.pay(request) }?.kind, .noAnswer)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2.4, "the call gave up at its timeout")
        Thread.sleep(forTimeInterval: 2.0)
        let books = try sim.books()
        XCTAssertEqual(books.requests("alipay.trade.pay", outTradeNo: request.outTradeNo).count, 1)
        XCTAssertEqual(books.payment(request.outTradeNo)?["attempts"] as? Int, 1)
        XCTAssertFalse(alipay.gatewayHealth.isBad(.primary), "a timeout after connecting says nothing about reachability")
        // The service then asks: the query tells.
        XCTAssertEqual(try alipay.query(outTradeNo: request.outTradeNo, now: nowMs()), .paid(txn: try XCTUnwrap(books.tradeNo(request.outTradeNo))))
    }

    /// The connection dies after the pay arrived, with a kept-alive connection to the same gateway in the
    /// pool: libcurl would silently send a request again on a new connection if the pay had reused it.
    func testAConnectionDroppedAfterThePayArrivedIsNoAnswerAndNotResent() throws {
        let alipay = try channel()
        XCTAssertEqual(try alipay.query(outTradeNo: SimOrder.next(), now: nowMs()), .notFound)  // leaves a kept-alive connection
        try sim.fault("drop", method: "alipay.trade.pay")
        let request = payment(SimCode.paysAtOnce)
        XCTAssertEqual(channelError { try alipay.pay(request) }?.kind, .noAnswer)
        let books = try sim.books()
        XCTAssertEqual(books.requests("alipay.trade.pay", outTradeNo: request.outTradeNo).count, 1)
        XCTAssertEqual(books.status(request.outTradeNo), "TRADE_SUCCESS")
    }

    func testWithThePrimaryDownTheBackupAnswers() throws {
        let alipay = try channel(backup: true)
        try sim.command(["primary_up": false])
        var orders: [String] = []
        for i in 0..<4 {
            let request = payment(SimCode.paysAtOnce)
            orders.append(request.outTradeNo)
            guard case .paid = try alipay.pay(request) else { return XCTFail("pay \(i) not paid through the backup") }
            XCTAssertEqual(alipay.gatewayHealth.isBad(.primary), i >= 2, "marked bad after the third refused connection")
        }
        let books = try sim.books()
        for order in orders {
            let hits = books.requests("alipay.trade.pay", outTradeNo: order)
            XCTAssertEqual(hits.count, 1)
            XCTAssertEqual(hits.first?["gateway"] as? String, "backup")
        }
        XCTAssertEqual(alipay.gatewayHealth.primaryFailures, 3, "the fourth pay went to the backup first")
    }

    /// Without `ca_file` the system's CA store is trusted, and only it: the simulator's private CA is not,
    /// so the pay never leaves (TLS refused before sending) and nothing is charged.
    func testWithoutACAFileOnlyTheSystemStoreIsTrusted() throws {
        var config = sim.configuration()
        config.caFile = nil
        let alipay = try AlipayChannel(configuration: config)
        let request = payment(SimCode.paysAtOnce)
        let error = try XCTUnwrap(channelError { try alipay.pay(request) })
        XCTAssertEqual(error.kind, .noAnswer)
        XCTAssertTrue(error.detail.contains("untrusted"), error.detail)
        XCTAssertTrue(try sim.books().requests("alipay.trade.pay").isEmpty)
    }

    func testWithNoGatewayReachableThePayIsNoAnswer() throws {
        let alipay = try channel()
        try sim.command(["primary_up": false])
        XCTAssertEqual(channelError { try alipay.pay(payment(SimCode.paysAtOnce)) }?.kind, .noAnswer)
    }

    // MARK: - Cancel, refund, statement

    func testCancelIsCalledAgainWhileAlipayAnswersRetryFlagY() throws {
        let alipay = try channel()
        let first = payment(SimCode.neverConfirms)
        XCTAssertEqual(try alipay.pay(first), .userConfirming)
        try sim.command(["cancel_retry_flag": 2])
        try alipay.reverse(outTradeNo: first.outTradeNo, payStartedAt: first.now, now: nowMs())
        var books = try sim.books()
        XCTAssertEqual(books.requests("alipay.trade.cancel", outTradeNo: first.outTradeNo).count, 3)
        XCTAssertEqual(books.status(first.outTradeNo), "TRADE_CLOSED")
        // Bounded: after cancel_attempts_max calls it gives up for now, and says so.
        let second = payment(SimCode.neverConfirms)
        XCTAssertEqual(try alipay.pay(second), .userConfirming)
        try sim.command(["cancel_retry_flag": 10])
        XCTAssertEqual(channelError { try alipay.reverse(outTradeNo: second.outTradeNo, payStartedAt: second.now, now: nowMs()) }?.kind, .notYet)
        books = try sim.books()
        XCTAssertEqual(books.requests("alipay.trade.cancel", outTradeNo: second.outTradeNo).count, 5)
        XCTAssertEqual(books.status(second.outTradeNo), "WAIT_BUYER_PAY")
    }

    func testRefundsAreIdempotentByRefundNumberAndConfirmedByQuery() throws {
        let alipay = try channel()
        let request = payment(SimCode.paysAtOnce, amount: 10_000)
        guard case .paid = try alipay.pay(request) else { return XCTFail("not paid") }
        let r1 = SimOrder.refund()
        func refund(_ number: String, _ amount: Int64) throws -> ChannelRefundState {
            try alipay.refund(ChannelRefundRequest(refundNo: number, outTradeNo: request.outTradeNo, orderAmount: 10_000, amount: amount,
                                                   currency: "CNY", reason: "returned", now: nowMs()))
        }
        XCTAssertEqual(try refund(r1, 3_000), .succeeded)
        XCTAssertEqual(try sim.books().refunded(request.outTradeNo), 3_000)
        // The same refund number again: Alipay answers fund_change N; the refund query confirms it; nothing moves twice.
        XCTAssertEqual(try refund(r1, 3_000), .succeeded)
        var books = try sim.books()
        XCTAssertEqual(books.refunded(request.outTradeNo), 3_000)
        XCTAssertEqual(books.requests("alipay.trade.refund", outTradeNo: request.outTradeNo).count, 2)
        XCTAssertEqual(books.requests("alipay.trade.fastpay.refund.query", outTradeNo: request.outTradeNo).count, 1)
        XCTAssertEqual(try alipay.queryRefund(refundNo: r1, outTradeNo: request.outTradeNo, now: nowMs()), .succeeded)
        XCTAssertEqual(try alipay.queryRefund(refundNo: SimOrder.refund(), outTradeNo: request.outTradeNo, now: nowMs()), .notFound)
        // Never above what was paid; a refund number is bound to its amount.
        guard case let .refused(over, _) = try refund(SimOrder.refund(), 8_000) else { return XCTFail("over-refund accepted") }
        XCTAssertEqual(over, "REFUND_EXCEEDS_PAID")
        guard case let .refused(conflict, _) = try refund(r1, 2_000) else { return XCTFail("a refund number was reused for another amount") }
        XCTAssertEqual(conflict, "IDEMPOTENCY_CONFLICT")
        XCTAssertEqual(try refund(SimOrder.refund(), 7_000), .succeeded)
        books = try sim.books()
        XCTAssertEqual(books.refunded(request.outTradeNo), 10_000)
        XCTAssertEqual(books.status(request.outTradeNo), "TRADE_CLOSED", "fully refunded")
        // An order that was never paid.
        let unpaid = payment(SimCode.neverConfirms)
        XCTAssertEqual(try alipay.pay(unpaid), .userConfirming)
        guard case let .refused(notPaid, _) = try alipay.refund(ChannelRefundRequest(refundNo: SimOrder.refund(), outTradeNo: unpaid.outTradeNo,
                                                                                      orderAmount: 1234, amount: 100, currency: "CNY", now: nowMs()))
        else { return XCTFail("refund of an unpaid order accepted") }
        XCTAssertEqual(notPaid, "ORDER_NOT_PAID")
    }

    func testTheDayStatementMatchesTheSimulatorsBooks() throws {
        let alipay = try channel()
        var paid: [ChannelPayRequest] = []
        for amount: Int64 in [1, 2_500, 99_999] {
            let request = payment(SimCode.paysAtOnce, amount: amount)
            guard case .paid = try alipay.pay(request) else { return XCTFail("not paid") }
            paid.append(request)
        }
        _ = try alipay.pay(payment(SimCode.balanceNotEnough))
        _ = try alipay.pay(payment(SimCode.neverConfirms))
        let refundNo = SimOrder.refund()
        XCTAssertEqual(try alipay.refund(ChannelRefundRequest(refundNo: refundNo, outTradeNo: paid[1].outTradeNo, orderAmount: 2_500,
                                                              amount: 1_000, currency: "CNY", now: nowMs())), .succeeded)
        let day = AlipayTime.day(unixMs: nowMs())
        let statement = try alipay.statement(day: day)
        XCTAssertEqual(statement.day, day)
        let books = try sim.books()
        var expected: [StatementLine] = []
        for request in paid {
            let recorded = try XCTUnwrap(books.payment(request.outTradeNo))
            expected.append(StatementLine(kind: .payment, outTradeNo: request.outTradeNo, amount: request.amount,
                                          providerID: try XCTUnwrap(recorded["trade_no"] as? String),
                                          time: (recorded["paid_at"] as? Int).map { Int64($0) / 1000 * 1000 }))
        }
        expected.append(StatementLine(kind: .refund, outTradeNo: paid[1].outTradeNo, refundNo: refundNo, amount: 1_000,
                                      providerID: try XCTUnwrap(books.tradeNo(paid[1].outTradeNo)),
                                      time: (books.refunds.first?["at"] as? Int).map { Int64($0) / 1000 * 1000 }))
        let ours = Set(paid.map(\.outTradeNo))
        XCTAssertEqual(statement.lines.filter { ours.contains($0.outTradeNo) }.sorted { "\($0)" < "\($1)" }, expected.sorted { "\($0)" < "\($1)" })
        XCTAssertEqual(statement.lines.count, 4, "the declined and the unpaid orders are not in the statement")
        XCTAssertEqual(try sim.books().requests("alipay.data.dataservice.bill.downloadurl.query").count, 1)
        XCTAssertEqual(channelError { try alipay.statement(day: "2026/01/05") }?.kind, .refused)
    }
}
