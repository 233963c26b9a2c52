import CashierChannels
import CashierClient
import CashierCore
import CashierService
import CashierStorage
import Foundation
import TestSupport
import XCTest

/// The money tests of the sandbox (PaymentTests, RefundTests, StalePaymentSweepTests, OneCallSaleTests, the
/// SIGKILL and reconciliation cases) through a real `cashierd` whose store takes WeChat Pay, against the
/// WeChat Pay simulator (`Tests/Simulators/wechatpay_sim.py`): the real adapter, its signatures, client
/// certificate and two domains over loopback HTTPS. Every case runs both ways a terminal sells: the two
/// calls (`POST /v1/orders`, then `…/pay`) and the one-call sale (`POST /v1/sales` with a number from
/// `POST /v1/order-numbers`). What the customer was charged is read from the simulator's books, never
/// inferred from the service's answers.
///
/// One simulator and one service serve the whole class (they take a few seconds to start); every test
/// leaves no payment under way, so the sweep test and the reconciliation see only settled orders of others.
final class WeChatPayMoneyTests: XCTestCase {
    static let shared = SharedWeChatPayService()

    override class func setUp() {
        super.setUp()
        shared.start()
    }

    override class func tearDown() {
        shared.stop()
        super.tearDown()
    }

    var simulator: WeChatPaySimulatorProcess!
    var service: Cashierd!
    var credentials: DeviceCredentials!

    override func setUpWithError() throws {
        (simulator, service, credentials) = try Self.shared.live()
        // Whatever an earlier test asked of the simulator, it behaves by the payment codes again.
        try simulator.control(SharedWeChatPayService.behaviour)
    }

    // MARK: - Sales, both ways

    enum Flow: String, CaseIterable, Sendable {
        /// `POST /v1/orders`, then `POST /v1/orders/{no}/pay`.
        case twoCalls
        /// `POST /v1/sales` with a number from `POST /v1/order-numbers`.
        case oneCall
    }

    /// A sale begun: the two-call flow's order is created; the one-call flow holds a number (nothing placed yet).
    struct Sale: Sendable {
        var flow: Flow
        var number: OrderNumber
        var amount: Int64
    }

    /// A terminal on the service as it listens now (a restart gives it new ports).
    func terminal() throws -> TestTerminal {
        TestTerminal(transport: try service.transport(), credentials: credentials)
    }

    func begin(_ flow: Flow, amount: Int64, via t: TestTerminal? = nil) throws -> Sale {
        let t = try t ?? terminal()
        switch flow {
        case .twoCalls:
            let order = try t.createOrder(amount: amount).unwrap()
            XCTAssertEqual(order.status, .created)
            return Sale(flow: flow, number: order.orderNo, amount: amount)
        case .oneCall:
            let numbers = try t.transport.call("POST", API.Path.orderNumbers, body: API.encode(OrderNumbersRequest(count: 1)),
                                               credentials: t.credentials).decoded(OrderNumbersResponse.self).get().orderNumbers
            return Sale(flow: flow, number: try XCTUnwrap(numbers.first), amount: amount)
        }
    }

    /// The pay of `sale` with `code`: the two-call flow's pay, or the one-call flow's `POST /v1/sales` (sent
    /// again, it is the same sale: the number makes it so).
    static func pay(_ sale: Sale, code: String, via t: TestTerminal) -> Result<OrderView, CallFailure> {
        switch sale.flow {
        case .twoCalls:
            return t.pay(sale.number, code: code)
        case .oneCall:
            return t.transport.call("POST", API.Path.sales,
                                    body: API.encode(SaleRequest(orderNo: sale.number, amount: sale.amount, paymentCode: code)),
                                    credentials: t.credentials).decoded(SaleResponse.self).map(\.order)
        }
    }

    func pay(_ sale: Sale, code: String, via t: TestTerminal) -> Result<OrderView, CallFailure> {
        Self.pay(sale, code: code, via: t)
    }

    func pay(_ sale: Sale, code: String) throws -> OrderView {
        try pay(sale, code: code, via: try terminal()).unwrap()
    }

    /// Begins and pays a sale; its first answer.
    func sell(_ flow: Flow, amount: Int64, code: String) throws -> (Sale, OrderView) {
        let sale = try begin(flow, amount: amount)
        let answer = try pay(sale, code: code)
        XCTAssertEqual(answer.orderNo, sale.number)
        XCTAssertEqual(answer.amount, amount)
        return (sale, answer)
    }

    /// Queries until the order leaves `paying` (bounded).
    func settled(_ number: OrderNumber, seconds: Double = 10) throws -> OrderView {
        let t = try terminal()
        let deadline = Date().addingTimeInterval(seconds)
        var last = try t.query(number).unwrap()
        while last.status == .paying && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
            last = try t.query(number).unwrap()
        }
        return last
    }

    /// Reverses, sending again while the channel does not take it yet (WeChat's earliest reverse; bounded).
    func reverse(_ number: OrderNumber, seconds: Double = 10) throws -> OrderView {
        let t = try terminal()
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            switch t.reverse(number) {
            case .success(let order): return order
            case .failure(.service(let e)) where e.code == .channelUnavailable && e.retryable && Date() < deadline:
                Thread.sleep(forTimeInterval: 0.2)
            case .failure(let f): throw RuntimeError("reverse of \(number): \(f)")
            }
        }
    }

    /// The simulator's payment for `number`.
    func charge(_ number: OrderNumber, file: StaticString = #filePath, line: UInt = #line) throws -> WeChatPayBooks.Payment {
        try XCTUnwrap(try simulator.books().payments[number.digits], "the simulator has no payment for \(number)", file: file, line: line)
    }

    /// The simulator took `amount` for `number`, from one pay call, and `order` names its transaction.
    func assertChargedOnce(_ order: OrderView, file: StaticString = #filePath, line: UInt = #line) throws {
        let p = try charge(order.orderNo, file: file, line: line)
        XCTAssertEqual(p.payCalls, 1, "pay calls that reached WeChat for \(order.orderNo)", file: file, line: line)
        XCTAssertEqual(p.charged, order.amount, "charged at WeChat for \(order.orderNo)", file: file, line: line)
        XCTAssertEqual(order.channelTxn, p.transactionID, file: file, line: line)
        XCTAssertEqual(order.status, .paid, file: file, line: line)
    }

    /// Runs `body(0)` … `body(count - 1)` each on a thread of its own, all at once (Dispatch's
    /// `concurrentPerform` runs at most one per core: two here), and waits for them (bounded).
    func inParallel<T: Sendable>(_ count: Int, seconds: Double = 30, _ body: @escaping @Sendable (Int) -> T) -> [T] {
        let box = LockedBox<[Int: T]>()
        box.value = [:]
        let group = DispatchGroup()
        for i in 0..<count {
            group.enter()
            Thread.detachNewThread {
                let r = body(i)
                box.mutate { $0![i] = r }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + seconds), .success, "the parallel calls did not end")
        let results = box.value ?? [:]
        return (0..<count).compactMap { results[$0] }
    }

    func refusal<T>(_ r: Result<T, CallFailure>) -> APIError? {
        if case .failure(.service(let e)) = r { return e }
        return nil
    }

    // MARK: - Paying

    func testPaidAtOnce() throws {
        for flow in Flow.allCases {
            let (sale, paid) = try sell(flow, amount: 1_234, code: wechatPaymentCode(.pays))
            XCTAssertEqual(paid.status, .paid, "\(flow)")
            XCTAssertNil(paid.pending)
            XCTAssertNotNil(paid.paidAt)
            try assertChargedOnce(paid)
            XCTAssertEqual(try terminal().query(sale.number).unwrap().status, .paid)
            let p = try charge(sale.number)
            XCTAssertEqual([p.state, String(p.kept)], ["SUCCESS", "1234"])
        }
    }

    /// The same pay sent again (a lost answer), and a second code on the paid order: answered with the paid
    /// order; only the first pay reached WeChat, and the second code never did.
    func testADoublePayChargesOnce() throws {
        for flow in Flow.allCases {
            let code = wechatPaymentCode(.pays)
            let (sale, first) = try sell(flow, amount: 500, code: code)
            XCTAssertEqual(first.status, .paid)
            XCTAssertEqual(try pay(sale, code: code).status, .paid, "\(flow): the same pay again")
            XCTAssertEqual(try pay(sale, code: code).status, .paid, "\(flow): and again")
            let other = wechatPaymentCode(.pays)
            XCTAssertEqual(try pay(sale, code: other).status, .paid, "\(flow): a second code on a paid order")
            try assertChargedOnce(try terminal().query(sale.number).unwrap())
            XCTAssertFalse(try simulator.books().payments.values.contains { $0.code == other }, "the second code reached WeChat")
        }
    }

    /// Eight copies of one pay at once, each on its own connection (terminals retrying, a double tap): one
    /// reaches WeChat; the rest are answered with the order as it stands.
    func testConcurrentPaysOfOneOrderChargeOnce() throws {
        for flow in Flow.allCases {
            // Slow: WeChat takes a second to answer, so the copies meet the payment under way.
            let code = wechatPaymentCode(.slow)
            let sale = try begin(flow, amount: 777)
            let terminals = try (0..<8).map { _ in try terminal() }
            let results = inParallel(terminals.count) { Self.pay(sale, code: code, via: terminals[$0]) }
            XCTAssertEqual(results.count, 8)
            for r in results {
                switch r {
                case .success(let order): XCTAssertTrue([.paid, .paying].contains(order.status), "\(flow): \(order.status)")
                case .failure(let f): XCTFail("\(flow): a copy failed: \(f)")
                }
            }
            let final = try settled(sale.number)
            try assertChargedOnce(final)
            XCTAssertEqual(try simulator.calls("/pay/micropay", outTradeNo: sale.number.digits).count, 1)
        }
    }

    /// USERPAYING: the customer confirms on the phone a second later; the terminal's queries find it paid.
    func testTheCustomerConfirmsLater() throws {
        var sales: [Sale] = []
        for flow in Flow.allCases {
            let started = Date()
            let (sale, first) = try sell(flow, amount: 2_500, code: wechatPaymentCode(.confirmsLater))
            XCTAssertEqual(first.status, .paying, "\(flow)")
            XCTAssertEqual(first.pending, .userConfirming, "\(flow)")
            let p = try charge(sale.number)
            if Date().timeIntervalSince(started) < 0.8 {  // the customer confirms after 1 s
                XCTAssertEqual([p.state, String(p.charged)], ["USERPAYING", "0"], "not charged before the customer confirms")
            }
            sales.append(sale)
        }
        for sale in sales {
            let final = try settled(sale.number)
            try assertChargedOnce(final)
            XCTAssertFalse(try simulator.calls("/pay/orderquery", outTradeNo: sale.number.digits).isEmpty, "found by queries")
        }
    }

    /// WeChat's refusals, each mapped to its reason; nothing charged; a declined order is not paid again with
    /// another code, and a code already used is refused as expired (WeChat's AUTHCODEEXPIRE).
    func testDeclinesMapToTheirReasons() throws {
        let cases: [(WeChatPayCustomer, String, String)] = [
            (.insufficientFunds, "INSUFFICIENT_FUNDS", "NOTENOUGH"),
            (.codeExpired, "CODE_EXPIRED", "AUTHCODEEXPIRE"),
            (.codeInvalid, "CODE_INVALID", "AUTH_CODE_INVALID"),
            (.cardNotSupported, "BUYER_RESTRICTED", "NOTSUPORTCARD"),
            (.buyerMismatch, "BUYER_MISMATCH", "BUYER_MISMATCH"),
        ]
        for flow in Flow.allCases {
            for (customer, reason, wechat) in cases {
                let code = wechatPaymentCode(customer)
                let (sale, declined) = try sell(flow, amount: 900, code: code)
                XCTAssertEqual(declined.status, .declined, "\(flow) \(customer)")
                XCTAssertEqual(declined.failure?.reason, reason, "\(flow) \(customer)")
                XCTAssertTrue(declined.failure?.message.contains("WeChat Pay \(wechat)") == true, "\(declined.failure?.message ?? "")")
                XCTAssertEqual(try charge(sale.number).charged, 0)
                XCTAssertEqual(try pay(sale, code: code).status, .declined, "the same pay again is answered, not sent")
                XCTAssertEqual(try simulator.calls("/pay/micropay", outTradeNo: sale.number.digits).count, 1)
                XCTAssertEqual(refusal(pay(sale, code: wechatPaymentCode(.pays), via: try terminal()))?.code, .orderNotPayable)
            }
            let used = wechatPaymentCode(.pays)
            XCTAssertEqual(try sell(flow, amount: 100, code: used).1.status, .paid)
            let (again, refused) = try sell(flow, amount: 100, code: used)
            XCTAssertEqual(refused.status, .declined)
            XCTAssertEqual(refused.failure?.reason, "CODE_EXPIRED", "a used code")
            XCTAssertNil(try simulator.books().payments[again.number.digits], "WeChat refuses a used code before any payment")
            XCTAssertEqual(try simulator.calls("/pay/micropay", outTradeNo: again.number.digits).count, 1)
        }
    }

    /// SYSTEMERROR (and BANKERROR) say nothing: the order stays paying and the query tells what happened —
    /// paid, or (PAYERROR) not decided, which only the reverse ends.
    func testSystemErrorThenTheQueryTellsTheTruth() throws {
        for flow in Flow.allCases {
            for customer in [WeChatPayCustomer.systemErrorButCharged, .bankErrorButCharged] {
                let (sale, first) = try sell(flow, amount: 1_500, code: wechatPaymentCode(customer))
                XCTAssertEqual(first.status, .paying, "\(flow) \(customer)")
                XCTAssertEqual(first.pending, .unknown)
                let queried = try terminal().query(sale.number).unwrap()
                XCTAssertEqual(queried.status, .paid, "\(flow) \(customer): the query finds the charge")
                try assertChargedOnce(queried)
            }
            let code = wechatPaymentCode(.systemErrorNothingCharged)
            let (sale, first) = try sell(flow, amount: 1_600, code: code)
            XCTAssertEqual(first.pending, .unknown)
            let queried = try terminal().query(sale.number).unwrap()
            XCTAssertEqual(queried.status, .paying, "PAYERROR is not a decline: the money may yet be taken")
            XCTAssertEqual(queried.pending, .unknown)
            XCTAssertEqual(try reverse(sale.number).status, .reversed)
            let p = try charge(sale.number)
            XCTAssertEqual([p.state, String(p.charged), String(p.payCalls)], ["REVOKED", "0", "1"])
            XCTAssertEqual(refusal(pay(sale, code: code, via: try terminal()))?.code, .orderNotPayable)
        }
    }

    /// WeChat answers after the adapter stopped waiting: no answer is not an answer. The pay is not sent
    /// again (to neither domain); the order stays paying and the query finds it paid.
    func testAPayWhoseAnswerNeverCameIsAskedAboutNotSentAgain() throws {
        // Longer than the settings' connect + read timeouts (3 s).
        try simulator.control(["delays": ["/pay/micropay": 3.5]])
        let sales = try Flow.allCases.map { try begin($0, amount: 4_200) }
        let code = sales.map { _ in wechatPaymentCode(.pays) }
        let terminals = try sales.map { _ in try terminal() }
        let answers = inParallel(sales.count) { Self.pay(sales[$0], code: code[$0], via: terminals[$0]) }
        try simulator.control(["delays": ["/pay/micropay": 0]])
        XCTAssertEqual(answers.count, sales.count)
        for (sale, answer) in zip(sales, answers) {
            let first = try answer.unwrap()
            XCTAssertEqual(first.status, .paying, "\(sale.flow)")
            XCTAssertEqual(first.pending, .unknown)
            let final = try settled(sale.number)
            try assertChargedOnce(final)
            let calls = try simulator.calls("/pay/micropay", outTradeNo: sale.number.digits)
            XCTAssertEqual(calls.map { $0["listener"] as? String }, ["primary"], "sent once, to one domain")
        }
    }

    /// WeChat takes a reverse no sooner than `earliest_reverse_ms` after the pay call: earlier, the terminal
    /// is told to send it again and nothing is sent; then the customer who never confirmed is reversed.
    func testTheCustomerNeverConfirmsAndTheReverseWaitsForWeChatsEarliest() throws {
        for flow in Flow.allCases {
            let (sale, first) = try sell(flow, amount: 3_000, code: wechatPaymentCode(.neverConfirms))
            XCTAssertEqual(first.pending, .userConfirming)
            let early = try terminal().reverse(sale.number)
            if case .success(let order) = early {
                // The machine was slow enough that the earliest reverse had passed.
                XCTAssertEqual(order.status, .reversed)
            } else {
                let e = try XCTUnwrap(refusal(early), "\(early)")
                XCTAssertEqual(e.code, .channelUnavailable)
                XCTAssertTrue(e.retryable)
                XCTAssertTrue(try simulator.calls("/secapi/pay/reverse", outTradeNo: sale.number.digits).isEmpty, "sent too early")
            }
            XCTAssertEqual(try reverse(sale.number).status, .reversed)
            XCTAssertEqual(try terminal().query(sale.number).unwrap().status, .reversed)
            let p = try charge(sale.number)
            XCTAssertEqual([p.state, String(p.charged)], ["REVOKED", "0"])
            // A customer confirming now finds the order closed for good.
            XCTAssertEqual(refusal(pay(sale, code: wechatPaymentCode(.pays), via: try terminal()))?.code, .orderNotPayable)
        }
    }

    // MARK: - Refunds

    func paidSale(_ flow: Flow, amount: Int64) throws -> Sale {
        let (sale, paid) = try sell(flow, amount: amount, code: wechatPaymentCode(.pays))
        XCTAssertEqual(paid.status, .paid)
        return sale
    }

    /// Eight refunds of 3.00 at once on an order of 10.00: three fit and are made; WeChat refunds 9.00 and
    /// is never asked for a fourth.
    func testConcurrentRefundsNeverRefundMoreThanPaid() throws {
        for flow in Flow.allCases {
            let sale = try paidSale(flow, amount: 1_000)
            let terminals = try (0..<8).map { _ in try terminal() }
            let results = inParallel(terminals.count) { i in
                terminals[i].refund(sale.number, amount: 300, ref: "race-\(flow.rawValue)-\(i)", pin: Cashierd.supervisorPIN)
            }
            XCTAssertEqual(results.count, 8)
            XCTAssertEqual(results.filter { (try? $0.get())?.refund.status == .succeeded }.count, 3, "\(flow): \(results)")
            XCTAssertEqual(results.compactMap { refusal($0)?.code }, Array(repeating: .refundExceedsPaid, count: 5))
            XCTAssertEqual(try terminal().query(sale.number).unwrap().refundedAmount, 900)
            let p = try charge(sale.number)
            XCTAssertEqual([p.refunded, p.kept], [900, 100], "\(flow): at WeChat")
            XCTAssertEqual(try simulator.books().refunds(of: sale.number.digits).count, 3)
            XCTAssertEqual(try simulator.calls("/secapi/pay/refund", outTradeNo: sale.number.digits).count, 3)
        }
    }

    /// WeChat made the refund but its answer was lost: the terminal sends it again under the same
    /// refund_ref; the service sends the same refund number, and WeChat refunds once.
    func testARefundSentAgainWithTheSameRefundRefRefundsOnce() throws {
        for flow in Flow.allCases {
            let sale = try paidSale(flow, amount: 1_000)
            let t = try terminal()
            try simulator.control(["drops": ["/secapi/pay/refund": 1]])
            let lost = t.refund(sale.number, amount: 400, ref: "same-\(flow.rawValue)", pin: Cashierd.supervisorPIN)
            let e = try XCTUnwrap(refusal(lost), "\(lost)")
            XCTAssertEqual(e.code, .channelUnavailable)
            XCTAssertTrue(e.retryable)
            XCTAssertEqual(try charge(sale.number).refunded, 400, "WeChat made it; the answer was what got lost")

            let again = try t.refund(sale.number, amount: 400, ref: "same-\(flow.rawValue)", pin: Cashierd.supervisorPIN).unwrap()
            XCTAssertEqual(again.refund.status, .succeeded)
            XCTAssertEqual(again.order.refundedAmount, 400)
            let third = try t.refund(sale.number, amount: 400, ref: "same-\(flow.rawValue)", pin: Cashierd.supervisorPIN).unwrap()
            XCTAssertEqual(third.refund.refundNo, again.refund.refundNo)
            XCTAssertEqual(refusal(t.refund(sale.number, amount: 500, ref: "same-\(flow.rawValue)", pin: Cashierd.supervisorPIN))?.code,
                           .idempotencyConflict)

            let refunds = try simulator.books().refunds(of: sale.number.digits)
            XCTAssertEqual(refunds.map(\.amount), [400], "\(flow): one refund at WeChat")
            XCTAssertEqual(try simulator.books().refunds[again.refund.refundNo.text]?.status, "SUCCESS")
            XCTAssertEqual(try simulator.calls("/secapi/pay/refund", outTradeNo: sale.number.digits).count, 2,
                           "sent twice (the lost one and the retry), never for a made refund")
            XCTAssertEqual(try charge(sale.number).kept, 600)
        }
    }

    /// WeChat accepts a refund before it makes it (PROCESSING): "accepted" is never reported as refunded.
    /// The terminal is told to send it again; sent again under the same number it stays one refund, and once
    /// WeChat has made it the same refund_ref answers succeeded.
    func testARefundWeChatIsStillProcessingIsNotReportedRefunded() throws {
        try simulator.control(["refund_settle_seconds": 1])
        let sales = try Flow.allCases.map { try paidSale($0, amount: 1_000) }
        let t = try terminal()
        for sale in sales {
            let accepted = t.refund(sale.number, amount: 250, ref: "slow-\(sale.flow.rawValue)", pin: Cashierd.supervisorPIN)
            let e = try XCTUnwrap(refusal(accepted), "\(accepted)")
            XCTAssertEqual(e.code, .channelUnavailable)
            XCTAssertTrue(e.retryable)
            XCTAssertEqual(try t.query(sale.number).unwrap().refunds.map(\.status), [.pending])
            XCTAssertEqual(try simulator.books().refunds(of: sale.number.digits).map(\.status), ["PROCESSING"])
        }
        Thread.sleep(forTimeInterval: 1.1)
        for sale in sales {
            let done = try t.refund(sale.number, amount: 250, ref: "slow-\(sale.flow.rawValue)", pin: Cashierd.supervisorPIN).unwrap()
            XCTAssertEqual(done.refund.status, .succeeded)
            XCTAssertEqual(done.order.refundedAmount, 250)
            XCTAssertEqual(try simulator.books().refunds(of: sale.number.digits).map(\.status), ["SUCCESS"], "one refund at WeChat")
            XCTAssertEqual(try charge(sale.number).kept, 750)
        }
    }

    /// A refund WeChat refuses (the merchant's balance is too low: NOTENOUGH) is answered REFUND_REFUSED with
    /// the reason, not as unavailable; nothing is refunded.
    func testARefundWeChatRefusesIsRefusedWithItsReason() throws {
        for flow in Flow.allCases {
            let sale = try paidSale(flow, amount: 1_000)
            try simulator.control(["refund_refusals": ["NOTENOUGH"]])
            let refused = try terminal().refund(sale.number, amount: 400, ref: "low-\(flow.rawValue)", pin: Cashierd.supervisorPIN)
            let e = try XCTUnwrap(refusal(refused), "\(refused)")
            XCTAssertEqual(e.code, .refundRefused)
            XCTAssertFalse(e.retryable)
            XCTAssertTrue(e.detail?.contains("MERCHANT_BALANCE_LOW") == true && e.detail?.contains("NOTENOUGH") == true, "\(e)")
            XCTAssertEqual(try charge(sale.number).refunded, 0)
            XCTAssertTrue(try simulator.books().refunds(of: sale.number.digits).isEmpty)
            // Nothing stays reserved or pending (so no sweep can make the refused refund later): the order
            // shows nothing refunded, and the whole amount can still be refunded, under the same reference.
            let after = try terminal().query(sale.number).unwrap()
            XCTAssertEqual(after.refundedAmount, 0)
            XCTAssertTrue(after.refunds.isEmpty, "\(after.refunds)")
            let whole = try terminal().refund(sale.number, amount: 1_000, ref: "low-\(flow.rawValue)", pin: Cashierd.supervisorPIN).unwrap()
            XCTAssertEqual(whole.refund.status, .succeeded)
            XCTAssertEqual(try charge(sale.number).refunded, 1_000)
        }
    }

    // MARK: - A crash mid-payment

    /// kill -9 of cashierd while WeChat holds its pay calls and a refund (answered 3 s late): after a
    /// restart the terminals ask again — a query, the same one-call sale, the same refund_ref — and get
    /// WeChat's truth: charged once for the paid ones; the declined one undecided (PAYERROR), then reversed,
    /// charged nothing; the refund made once. No pay is sent again.
    func testSIGKILLMidPaymentNeverChargesTwiceAndEndsInWeChatsState() throws {
        let refunded = try paidSale(.oneCall, amount: 5_000)
        try simulator.control(["delays": ["/pay/micropay": 3, "/secapi/pay/refund": 3]])
        let t = try terminal()
        let twoCalls = try begin(.twoCalls, amount: 1_111, via: t)
        let oneCall = try begin(.oneCall, amount: 2_222, via: t)
        let declined = try begin(.twoCalls, amount: 3_333, via: t)
        let payments: [(Sale, String)] = [(twoCalls, wechatPaymentCode(.pays)), (oneCall, wechatPaymentCode(.pays)),
                                          (declined, wechatPaymentCode(.insufficientFunds))]
        let group = DispatchGroup()
        for (sale, code) in payments {
            let payer = try terminal()
            group.enter()
            Thread.detachNewThread {
                _ = Self.pay(sale, code: code, via: payer)  // cut off by the kill
                group.leave()
            }
        }
        let refunder = try terminal()
        group.enter()
        Thread.detachNewThread {
            _ = refunder.refund(refunded.number, amount: 1_500, ref: "killed", pin: Cashierd.supervisorPIN)
            group.leave()
        }
        for (sale, _) in payments {
            XCTAssertTrue(try simulator.waitForCall("/pay/micropay", outTradeNo: sale.number.digits), "the pay of \(sale.number) never reached WeChat")
        }
        XCTAssertTrue(try simulator.waitForCall("/secapi/pay/refund", outTradeNo: refunded.number.digits), "the refund never reached WeChat")
        service.stop(signal: SIGKILL)
        XCTAssertEqual(group.wait(timeout: .now() + 15), .success, "the terminals' calls end with the service")
        try simulator.control(["delays": ["/pay/micropay": 0, "/secapi/pay/refund": 0]])
        try service.start()

        let after = try terminal()
        let queried = try after.query(twoCalls.number).unwrap()
        XCTAssertEqual(queried.status, .paid)
        try assertChargedOnce(queried)
        let resent = try pay(oneCall, code: payments[1].1, via: after).unwrap()
        XCTAssertEqual(resent.status, .paid, "the same one-call sale again meets its order, paid")
        try assertChargedOnce(resent)
        let undecided = try after.query(declined.number).unwrap()
        XCTAssertEqual(undecided.status, .paying, "WeChat says PAYERROR: not decided, so not declined either")
        XCTAssertEqual(try pay(declined, code: payments[2].1, via: after).unwrap().status, .paying, "sent again: asked, not paid")
        XCTAssertEqual(try reverse(declined.number).status, .reversed)
        let p = try charge(declined.number)
        XCTAssertEqual([p.state, String(p.charged), String(p.payCalls)], ["REVOKED", "0", "1"])

        XCTAssertEqual(try after.query(refunded.number).unwrap().refundedAmount, 1_500, "reserved before the call, kept by the crash")
        let retried = try after.refund(refunded.number, amount: 1_500, ref: "killed", pin: Cashierd.supervisorPIN).unwrap()
        XCTAssertEqual(retried.refund.status, .succeeded)
        XCTAssertEqual(try simulator.books().refunds(of: refunded.number.digits).map(\.amount), [1_500], "refunded once at WeChat")
        XCTAssertEqual(try charge(refunded.number).kept, 3_500)
        try assertReconciliationExact()
    }

    // MARK: - The sweep

    /// Nobody asks about these payments any more (the terminal vanished): the sweep, run in process on the
    /// stopped service's data with chosen `now`s, records the one the customer confirmed as paid and
    /// reverses the ones WeChat never decided — a customer who never confirmed, and a payment claimed in the
    /// group whose pay call never left (a crash); a late pay for those charges nothing.
    func testTheSweepSettlesAPaymentNobodyAsksAboutAndReversesOnesThatNeverComplete() throws {
        var confirming: [Sale] = [], neverConfirming: [Sale] = [], neverConfirmingCodes: [String] = []
        for flow in Flow.allCases {
            let (a, first) = try sell(flow, amount: 1_800, code: wechatPaymentCode(.confirmsLater))
            XCTAssertEqual(first.pending, .userConfirming)
            confirming.append(a)
            let code = wechatPaymentCode(.neverConfirms)
            let (b, second) = try sell(flow, amount: 1_900, code: code)
            XCTAssertEqual(second.pending, .userConfirming)
            neverConfirming.append(b)
            neverConfirmingCodes.append(code)
        }
        let lost = try begin(.twoCalls, amount: 2_100)
        let lostCode = wechatPaymentCode(.pays)
        // A refund WeChat made whose answer was lost, and the terminal never sent it again.
        let unanswered = try paidSale(.twoCalls, amount: 2_200)
        try simulator.control(["drops": ["/secapi/pay/refund": 1]])
        XCTAssertEqual(refusal(try terminal().refund(unanswered.number, amount: 700, ref: "dropped", pin: Cashierd.supervisorPIN))?.code,
                       .channelUnavailable)
        // A refund reserved (the supervisor's PIN checked) whose call never left.
        let unsent = try paidSale(.oneCall, amount: 2_300)
        let start = CashierService.systemClock()
        service.stop()
        // The customers confirm on their phones meanwhile (the simulator's confirm_seconds).
        let deadline = Date().addingTimeInterval(10)
        while try confirming.contains(where: { try charge($0.number).state != "SUCCESS" }) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }

        let runtime = try ServiceRuntime(dataDirectory: service.dataPath, logRequests: false)
        func stored(_ number: OrderNumber) throws -> OrderRecord? { try runtime.hopping.withGroup(number.group) { try $0.order(number) } }
        // Claimed for payment, then the process died before the pay call left.
        let claimed = try runtime.hopping.withGroup(lost.number.group) {
            try $0.transition(lost.number, from: [.created], change: OrderChange(status: .paying, paymentCode: lostCode), now: start)
        }
        XCTAssertEqual(claimed?.changed, true)
        let reserved = RefundRecord(refundNo: RefundNumber(epochSeconds: start / 1_000, instance: 998, sequence: 1, group: unsent.number.group),
                                    orderNo: unsent.number, amount: 800, currency: "CNY", refundRef: "never-sent", status: .pending,
                                    staffID: "supervisor", reason: nil, createdAt: start)
        let reservation = try runtime.hopping.withGroup(unsent.number.group) { try $0.reserveRefund(reserved, maxRefunds: 50, now: start) }
        XCTAssertEqual(reservation, .reserved(reserved))
        func refundStatuses(_ sale: Sale) throws -> [RefundStatus] {
            try runtime.hopping.withGroup(sale.number.group) { try $0.refunds(of: sale.number) }.map(\.status)
        }
        XCTAssertEqual(try refundStatuses(unanswered), [.pending])

        _ = runtime.service.sweepStalePayments(now: start + 30_000)
        for sale in confirming + neverConfirming + [lost] {
            XCTAssertEqual(try stored(sale.number)?.status, .paying, "younger than sweep.after_seconds: its terminal's business")
        }
        let first = runtime.service.sweepStalePayments(now: start + 61_000)
        XCTAssertGreaterThanOrEqual(first.settled, 2)
        XCTAssertGreaterThanOrEqual(first.refundsCompleted, 2)
        XCTAssertEqual(first.unreadableGroups, [])
        for sale in [unanswered, unsent] {
            XCTAssertEqual(try refundStatuses(sale), [.succeeded], "\(sale.flow): completed by the sweep")
            XCTAssertEqual(try simulator.books().refunds(of: sale.number.digits).count, 1)
            XCTAssertEqual(try simulator.calls("/secapi/pay/refund", outTradeNo: sale.number.digits).count, 1,
                           "asked first (pay/refundquery): a refund WeChat already made is not sent again")
        }
        XCTAssertEqual([try charge(unanswered.number).refunded, try charge(unsent.number).refunded], [700, 800])
        for sale in confirming {
            let order = try XCTUnwrap(try stored(sale.number))
            XCTAssertEqual(order.status, .paid, "\(sale.flow): settled by the sweep's query")
            let p = try charge(sale.number)
            XCTAssertEqual(order.channelTxn, p.transactionID)
            XCTAssertEqual([p.charged, Int64(p.payCalls)], [1_800, 1])
        }
        for sale in neverConfirming + [lost] {
            XCTAssertEqual(try stored(sale.number)?.status, .paying, "undecided, and not yet sweep.reverse_after_seconds old")
        }
        XCTAssertTrue(try simulator.calls("/secapi/pay/reverse", outTradeNo: lost.number.digits).isEmpty)

        let second = runtime.service.sweepStalePayments(now: start + 301_000)
        XCTAssertGreaterThanOrEqual(second.reversed, 3)
        for sale in neverConfirming + [lost] {
            XCTAssertEqual(try stored(sale.number)?.status, .reversed, "\(sale.flow) \(sale.amount)")
            let p = try charge(sale.number)
            XCTAssertEqual([p.state, String(p.charged)], ["REVOKED", "0"])
        }
        XCTAssertEqual(try charge(lost.number).payCalls, 0, "the lost pay never reached WeChat")
        XCTAssertEqual(runtime.service.sweepStalePayments(now: start + 400_000).examined, 0, "nothing is left to sweep")

        // The pay calls arriving only now (delayed somewhere) are refused by WeChat: nothing can charge them.
        let channel = try WeChatPayChannel(configuration: simulator.configuration())
        for (sale, code) in [(lost, lostCode), (neverConfirming[0], neverConfirmingCodes[0])] {
            let late = try channel.pay(ChannelPayRequest(outTradeNo: sale.number.digits, amount: sale.amount, currency: "CNY",
                                                         paymentCode: code, description: "late", storeID: service.storeID,
                                                         deviceID: "late", now: CashierService.systemClock()))
            guard case .declined(let reason, _) = late else { return XCTFail("a reversed order was answered \(late)") }
            XCTAssertEqual(reason, DeclineReason.orderReversed.rawValue)
            XCTAssertEqual(try charge(sale.number).charged, 0)
        }

        try service.start()
        let t = try terminal()
        for sale in confirming { XCTAssertEqual(try t.query(sale.number).unwrap().status, .paid) }
        for sale in neverConfirming + [lost] { XCTAssertEqual(try t.query(sale.number).unwrap().status, .reversed) }
        try assertReconciliationExact()
    }

    // MARK: - Reconciliation

    /// `cashierd reconcile --channel wechatpay --date DAY` against WeChat's bill (`pay/downloadbill`) of the
    /// day, downloaded by the adapter through the store's settings: exact, and counting what the simulator
    /// did; an order whose amount is changed in its group is found.
    func testTheDaysBillReconcilesExactlyAndAChangedAmountIsFound() throws {
        let a = try paidSale(.twoCalls, amount: 1_234)
        let b = try paidSale(.oneCall, amount: 2_000)
        XCTAssertEqual(try terminal().refund(b.number, amount: 500, ref: "bill-1", pin: Cashierd.supervisorPIN).unwrap().refund.status,
                       .succeeded)
        // A paid order reversed: WeChat gives the money back and lists the reverse on the bill.
        let c = try paidSale(.oneCall, amount: 3_000)
        XCTAssertEqual(try reverse(c.number).status, .reversed)
        XCTAssertEqual(try charge(c.number).returned, 3_000)

        let summary = try assertReconciliationExact()
        XCTAssertGreaterThanOrEqual(summary["matched_reversals"] as? Int ?? 0, 1)
        XCTAssertGreaterThanOrEqual(summary["matched_refunds"] as? Int ?? 0, 1)

        // Tampered: the group says 12.35 for a sale WeChat charged 12.34.
        let database = service.dataPath + String(format: "/group-%02d.sqlite", a.number.group.value)
        func setAmount(_ amount: Int64) throws {
            let r = try runCommand("/usr/bin/sqlite3", ["-cmd", ".timeout 5000", database,
                                                        "UPDATE orders SET amount = \(amount) WHERE order_no = '\(a.number.digits)'"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        try setAmount(1_235)
        let day = StatementDay.day(ofMs: CashierService.systemClock(), utcOffsetSeconds: 8 * 3_600)
        let tampered = try service.admin(["reconcile", "--channel", "wechatpay", "--date", day])
        try setAmount(1_234)
        XCTAssertEqual(tampered.status, 1, tampered.stdout + tampered.stderr)
        XCTAssertTrue(tampered.stdout.contains("order \(a.number.digits) (store \(service.storeID)): the channel charged 12.34, the group records 12.35 paid"),
                      tampered.stdout)
        XCTAssertTrue(tampered.stdout.contains("reconciliation: MISMATCH"), tampered.stdout)
        try assertReconciliationExact()
    }

    /// Reconciles today's WeChat bill and checks it is exact and counts what the simulator's books hold for
    /// the day; returns the counts.
    @discardableResult
    func assertReconciliationExact(file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let china: Int64 = 8 * 3_600
        let day = StatementDay.day(ofMs: CashierService.systemClock(), utcOffsetSeconds: china)
        let r = try service.admin(["reconcile", "--channel", "wechatpay", "--date", day, "--json"])
        let books = try simulator.books()
        guard StatementDay.day(ofMs: CashierService.systemClock(), utcOffsetSeconds: china) == day else {
            throw XCTSkip("midnight in China passed while reconciling; the counts below are for one day")
        }
        let document = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout + r.stderr,
                                     file: file, line: line)
        let statement = try XCTUnwrap((document["statements"] as? [[String: Any]])?.first, file: file, line: line)
        let counts = try XCTUnwrap(statement["counts"] as? [String: Any], "\(statement)", file: file, line: line)
        let mismatches = (statement["lines"] as? [[String: Any]] ?? []).filter { $0["mismatch"] as? Bool == true }
        XCTAssertEqual(r.status, 0, "\(mismatches) \(statement["failure"] ?? "")", file: file, line: line)
        XCTAssertEqual(document["exact"] as? Bool, true, file: file, line: line)
        XCTAssertEqual(mismatches.count, 0, "\(mismatches)", file: file, line: line)
        XCTAssertEqual(statement["stores"] as? [String], [service.storeID], file: file, line: line)
        // The bill the adapter read is the simulator's books of the day, line for line.
        let paid = books.payments.values.filter { $0.paidDay == day }
        let returned = books.payments.values.filter { $0.returned > 0 && $0.reversedDay == day }
        let refunds = books.refunds.values.filter { $0.day == day }
        XCTAssertEqual(counts["payments_on_statement"] as? Int, paid.count, file: file, line: line)
        XCTAssertEqual(counts["refunds_on_statement"] as? Int, refunds.count + returned.count, file: file, line: line)
        XCTAssertEqual(counts["matched_refunds"] as? Int, refunds.count, file: file, line: line)
        XCTAssertEqual(counts["matched_reversals"] as? Int, returned.count, file: file, line: line)
        XCTAssertEqual(counts["payments_under_way"] as? Int, 0, "every test settles its payments", file: file, line: line)
        XCTAssertEqual((counts["matched_payments"] as? Int ?? 0) + returned.count, paid.count,
                       "every payment on the bill is an order paid, or reversed with its money back", file: file, line: line)
        return counts
    }
}

/// The class's simulator and service, started once, stopped when the class ends.
final class SharedWeChatPayService: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = NSLock()
    private var simulator: WeChatPaySimulatorProcess?
    private var service: Cashierd?
    private var credentials: DeviceCredentials?
    private var failure: Error?

    /// How the simulator behaves unless a test says otherwise: by the payment codes, a customer confirming
    /// after 1 s, "slow" answers after 1 s, everything else at once.
    static var behaviour: [String: Any] { [
        "delays": ["/pay/micropay": 0, "/secapi/pay/refund": 0], "drops": ["/pay/micropay": 0, "/secapi/pay/refund": 0],
        "system_error_pays": 0, "userpaying_seconds": NSNull(), "recall_first": 0, "refund_refusals": [String](),
        "confirm_seconds": 1, "slow_seconds": 1, "refund_settle_seconds": 0,
        "primary_down": false, "backup_down": false,
    ] }

    func start() {
        lock.withLock {
            do {
                let simulator = try WeChatPaySimulatorProcess(arguments: ["--confirm-seconds", "1", "--slow-seconds", "1"])
                let service = try Cashierd(groups: 2)
                // The demo store takes WeChat Pay (its settings given before its first sale: no cached channels).
                try simulator.giveChannel(to: service)
                let listed = try service.admin(["store", "channel", "list", "--store", service.storeID]).stdout
                guard listed.contains("wechatpay") else { throw RuntimeError("the store does not list wechatpay: \(listed)") }
                (self.simulator, self.service, self.credentials) = (simulator, service, try service.activateTerminal())
            } catch {
                failure = error
            }
        }
    }

    func live() throws -> (WeChatPaySimulatorProcess, Cashierd, DeviceCredentials) {
        try lock.withLock {
            guard let simulator, let service, let credentials else { throw failure ?? RuntimeError("not started") }
            return (simulator, service, credentials)
        }
    }

    func stop() {
        lock.withLock {
            service?.stop()
            simulator?.stop()
            (service, simulator, credentials) = (nil, nil, nil)
        }
    }
}
