import CashierChannels
import CashierClient
import CashierCore
import CashierService
import CashierStorage
import Foundation
import TestSupport
import XCTest

/// The sandbox as a service of its own (`cashierd sandbox serve`) and its adapter (`SandboxHTTPChannel`),
/// talked to directly: the sandbox's rules hold over the wire because the service is the same ledger, and
/// every failure where no trustworthy answer came back is thrown, never answered.
final class SandboxServiceAdapterTests: XCTestCase {
    var sandbox: SandboxServer!

    override func tearDown() {
        sandbox?.stop()
        sandbox = nil
    }

    func testTheServiceKeepsTheSandboxRulesAndItsBooksAreTheLedgers() throws {
        sandbox = try SandboxServer(tls: true, signed: true)
        let channel = try sandbox.channel()
        let now = CashierService.systemClock()

        // Paid at once; idempotent by order number; a code is single-use.
        let a = orderNumber(), code = paymentCode(.paid)
        XCTAssertEqual(try channel.pay(payment(a, code, amount: 100, now: now)), .paid(txn: "SBX" + a))
        XCTAssertEqual(try channel.pay(payment(a, paymentCode(.paid), amount: 100, now: now)), .paid(txn: "SBX" + a),
                       "a second pay for the same order answers the first and charges nothing")
        XCTAssertEqual(try channel.pay(payment(orderNumber(), code, now: now)), declined(.codeUsed))
        XCTAssertEqual(try channel.query(outTradeNo: a, now: now), .paid(txn: "SBX" + a))
        XCTAssertEqual(try channel.query(outTradeNo: orderNumber(), now: now), .notFound)

        // The scenarios by the last digit, on the caller's clock.
        let confirms = orderNumber()
        XCTAssertEqual(try channel.pay(payment(confirms, paymentCode(.userConfirms), now: now)), .userConfirming)
        XCTAssertEqual(try channel.query(outTradeNo: confirms, now: now + 1_000), .userConfirming)
        XCTAssertEqual(try channel.query(outTradeNo: confirms, now: now + 1_500), .paid(txn: "SBX" + confirms))
        let poor = orderNumber()
        XCTAssertEqual(try channel.pay(payment(poor, paymentCode(.insufficientFunds), now: now)), declined(.insufficientFunds))
        let unknownPaid = orderNumber(), unknownNot = orderNumber()
        XCTAssertEqual(try channel.pay(payment(unknownPaid, paymentCode(.unknownButPaid), now: now)), .unknown)
        XCTAssertEqual(try channel.query(outTradeNo: unknownPaid, now: now), .paid(txn: "SBX" + unknownPaid))
        XCTAssertEqual(try channel.pay(payment(unknownNot, paymentCode(.unknownNotPaid), now: now)), .unknown)
        XCTAssertEqual(try channel.query(outTradeNo: unknownNot, now: now), declined(.systemError))

        // Reverse: a payment under way is closed for good; an order never seen can never be charged later.
        let never = orderNumber()
        XCTAssertEqual(try channel.pay(payment(never, paymentCode(.userNeverConfirms), now: now)), .userConfirming)
        try channel.reverse(outTradeNo: never, payStartedAt: now, now: now + 10)
        XCTAssertEqual(try channel.query(outTradeNo: never, now: now + 20), .reversed)
        let unseen = orderNumber()
        try channel.reverse(outTradeNo: unseen, payStartedAt: now, now: now)
        XCTAssertEqual(try channel.pay(payment(unseen, paymentCode(.paid), now: now + 10)), declined(.orderReversed))

        // Refunds: once per refund number, never more than was paid, only of paid orders.
        let r1 = "R" + orderNumber()
        XCTAssertEqual(try channel.refund(refund(r1, of: a, amount: 40, now: now)), .succeeded)
        XCTAssertEqual(try channel.refund(refund(r1, of: a, amount: 40, now: now)), .succeeded)
        guard case .refused(let exceeds, _) = try channel.refund(refund("R" + orderNumber(), of: a, amount: 61, now: now)) else {
            return XCTFail("a refund beyond what is left must be refused")
        }
        XCTAssertEqual(exceeds, "REFUND_EXCEEDS_PAID")
        guard case .refused(let unpaid, _) = try channel.refund(refund("R" + orderNumber(), of: poor, amount: 1, now: now)) else {
            return XCTFail("a declined order cannot be refunded")
        }
        XCTAssertEqual(unpaid, "ORDER_NOT_PAID")
        XCTAssertEqual(try channel.queryRefund(refundNo: r1, outTradeNo: a, now: now), .succeeded)
        XCTAssertEqual(try channel.queryRefund(refundNo: "R" + orderNumber(), outTradeNo: a, now: now), .notFound)

        // The day's statement and the books are the ledger's, read in this process from the same file.
        let day = StatementDay.day(ofMs: now, utcOffsetSeconds: 0)
        let statement = try channel.statement(day: day)
        XCTAssertTrue(statement.lines.contains(StatementLine(kind: .payment, outTradeNo: a, amount: 100, providerID: "SBX" + a, time: now)),
                      "\(statement.lines)")
        XCTAssertTrue(statement.lines.contains { $0.kind == .refund && $0.refundNo == r1 && $0.amount == 40 }, "\(statement.lines)")
        XCTAssertThrowsError(try channel.statement(day: "2024-13-01")) { error in
            XCTAssertEqual((error as? ChannelError)?.kind, .refused, "\(error)")
        }
        let books = try channel.books(now: now + 2_000)
        XCTAssertEqual(books.paid[a], 100)
        XCTAssertEqual(books.paid.keys.sorted(), [a, confirms, unknownPaid].sorted())
        XCTAssertEqual(books.refunds, [r1: 40])
        XCTAssertEqual(books.doubleCharges, 0)
        let ledger = try SandboxChannel(path: sandbox.ledgerPath)
        XCTAssertEqual(try ledger.books(now: now + 2_000), books)
        XCTAssertEqual(try ledger.statement(day: day), try channel.statement(day: day))
    }

    func testTwoAdaptersPayingOneOrderAtOnceChargeItOnce() throws {
        // Two hosts' adapters, each with its own connections, race to pay the same order with different codes.
        sandbox = try SandboxServer(tls: false, signed: false)
        let hosts = [try sandbox.channel(), try sandbox.channel()]
        let now = CashierService.systemClock()
        for _ in 0..<3 {
            let no = orderNumber()
            let codes = [paymentCode(.paid), paymentCode(.paid)]
            let answers = Collected<ChannelPaymentState>()
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                if let answer = try? hosts[i].pay(payment(no, codes[i], amount: 500, now: now)) { answers.append(answer) }
            }
            XCTAssertEqual(answers.all, [.paid(txn: "SBX" + no), .paid(txn: "SBX" + no)], "both are answered with the one payment")
            let books = try hosts[0].books(now: now)
            XCTAssertEqual(books.paid[no], 500)
            XCTAssertEqual(books.doubleCharges, 0)
            // Exactly one of the codes was charged: the other is still unused and pays another order.
            let spare = codes.filter { (try? hosts[1].pay(payment(orderNumber(), $0, now: now))) != declined(.codeUsed) }
            XCTAssertEqual(spare.count, 1, "one code was charged for the order, the other never was")
        }
    }

    func testNoTrustworthyAnswerIsThrownNeverAnswered() throws {
        sandbox = try SandboxServer(tls: true, signed: true, slowDelayMs: 1_500)
        let now = CashierService.systemClock()

        // A timeout: the pay is still being made, so the adapter cannot say how it ends; the query can, later.
        let slow = orderNumber()
        XCTAssertEqual(kind { _ = try sandbox.channel(timeoutMs: 400).pay(payment(slow, paymentCode(.slow), now: now)) }, .noAnswer)
        let channel = try sandbox.channel()
        XCTAssertEqual(try poll(channel, slow, now: now), .paid(txn: "SBX" + slow), "the slow pay went through after the adapter gave up")

        // Signed answers only: a wrong secret, or none, gets nothing believed and charges nothing.
        let wrongSecret = try SandboxHTTPChannel(configuration: .init(url: sandbox.url, caFile: sandbox.caFile,
                                                                      secret: try SandboxSecret(key: Array("another secret, 32 bytes long...".utf8))))
        let unsigned = try SandboxHTTPChannel(configuration: .init(url: sandbox.url, caFile: sandbox.caFile))
        let refused = orderNumber()
        XCTAssertEqual(kind { _ = try wrongSecret.pay(payment(refused, paymentCode(.paid), now: now)) }, .unverifiedAnswer)
        XCTAssertEqual(kind { _ = try unsigned.pay(payment(refused, paymentCode(.paid), now: now)) }, .refused)
        XCTAssertEqual(try channel.query(outTradeNo: refused, now: now), .notFound)

        // Only the service's CA is trusted.
        let untrusted = try SandboxHTTPChannel(configuration: .init(url: sandbox.url, caFile: try otherCA(), secret: try sandbox.secret))
        XCTAssertEqual(kind { _ = try untrusted.query(outTradeNo: slow, now: now) }, .noAnswer)

        // A ledger that cannot be written answers 503: no answer, and nothing charged.
        if DatabaseLock.isAvailable {
            let lock = try DatabaseLock(databasePath: sandbox.ledgerPath)
            let locked = orderNumber()
            XCTAssertEqual(kind { _ = try channel.pay(payment(locked, paymentCode(.paid), now: now)) }, .noAnswer)
            lock.release()
            XCTAssertEqual(try channel.query(outTradeNo: locked, now: now), .notFound)
        }

        // Not the sandbox's protocol (a cashierd answers there): no answer.
        let cashierd = try Cashierd(groups: 1, listen: ["127.0.0.1:0"])
        defer { cashierd.stop() }
        let stranger = try SandboxHTTPChannel(configuration: .init(url: cashierd.urls[0], caFile: cashierd.caFile))
        XCTAssertEqual(kind { _ = try stranger.pay(payment(orderNumber(), paymentCode(.paid), now: now)) }, .noAnswer)
        XCTAssertEqual(kind { _ = try stranger.books(now: now) }, .noAnswer)

        // Nobody listening: no answer for every call.
        sandbox.stop()
        for call in [{ _ = try channel.pay(payment(orderNumber(), paymentCode(.paid), now: now)) },
                     { _ = try channel.query(outTradeNo: slow, now: now) },
                     { try channel.reverse(outTradeNo: slow, payStartedAt: now, now: now) },
                     { _ = try channel.statement(day: "2024-01-01") }] as [() throws -> Void] {
            XCTAssertEqual(kind(call), .noAnswer)
        }
        // Back on the same port with the same ledger, the truth is still there.
        try sandbox.start()
        XCTAssertEqual(try channel.query(outTradeNo: slow, now: now), .paid(txn: "SBX" + slow))
    }

    func testServeNeedsAnAddressAndStopsOnSIGTERM() throws {
        let directory = try TemporaryDirectory(prefix: "sandboxd-cli")
        let none = try runCommand(Cashierd.binary, ["sandbox", "serve", "--data", directory.path], timeoutSeconds: 10)
        XCTAssertEqual(none.status, 2, none.stderr)
        XCTAssertTrue(none.stderr.hasPrefix("cashierd: cashierd sandbox serve needs --listen HOST:PORT"), none.stderr)
        let noCertificate = try runCommand(Cashierd.binary, ["sandbox", "serve", "--data", directory.path, "--listen", "127.0.0.1:0"], timeoutSeconds: 10)
        XCTAssertEqual(noCertificate.status, 1, noCertificate.stderr)
        XCTAssertTrue(noCertificate.stderr.contains("for TLS"), noCertificate.stderr)

        let child = try ChildProcess(Cashierd.binary, ["sandbox", "serve", "--data", directory.path, "--plain", "127.0.0.1:0"])
        XCTAssertNotNil(child.waitForLine(containing: "sandbox listening on http://127.0.0.1:", timeoutSeconds: 30), "\(child.output)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.file("channel.sqlite")), "the ledger is in the data directory")
        child.stop(signal: SIGTERM)
        XCTAssertFalse(child.process.isRunning)
        XCTAssertEqual(child.process.terminationStatus, 0, "SIGTERM is a clean stop")
        let deadline = Date().addingTimeInterval(5)
        while !child.output.contains("sandbox stopped") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(child.output.contains("sandbox stopped"), "\(child.output)")
    }

    /// Another private CA's certificate, which did not sign the service's.
    private func otherCA() throws -> String {
        let other = try TemporaryDirectory(prefix: "other-ca")
        keep.append(other)
        let made = try runCommand(Cashierd.binary, ["init", "--data", other.file("data"), "--groups", "1"])
        XCTAssertEqual(made.status, 0, made.stderr)
        return other.file("data/ca.pem")
    }

    private var keep: [TemporaryDirectory] = []
}

/// Two `cashierd` instances with separate data directories — separate configuration, certificate, instance
/// number, channel settings, as on two hosts — that share the base and group files and one sandbox service.
final class SandboxSharedByInstancesTests: XCTestCase {
    var sandbox: SandboxServer!
    var services: [Cashierd] = []

    override func tearDown() {
        for s in services { s.stop() }
        services = []
        sandbox?.stop()
        sandbox = nil
    }

    /// Instance A (its own data) and instance B on "another host", both using the sandbox service.
    private func twoHosts(tweak: @escaping (inout ServiceConfiguration) -> Void = { _ in }) throws -> (Cashierd, Cashierd) {
        let sandbox = try XCTUnwrap(self.sandbox)
        let a = try Cashierd(groups: 2) { c in sandbox.configure(&c); tweak(&c) }
        services.append(a)
        let b = try Cashierd.anotherHost(sharingDataOf: a) { c in sandbox.configure(&c); tweak(&c) }
        services.append(b)
        return (a, b)
    }

    func testASaleOnOneInstanceIsPaidAtTheChannelForTheOther() throws {
        sandbox = try SandboxServer()
        let (a, b) = try twoHosts()
        let credentials = try a.activateTerminal()
        let onA = TestTerminal(transport: try a.transport(), credentials: credentials)
        let onB = TestTerminal(transport: try b.transport(), credentials: credentials)

        // The customer confirms on the phone; A leaves the order paying. B asks the channel (the shared
        // service: B's own data directory has never seen this payment) and finds it paid.
        let order = try onA.createOrder(amount: 1_234).unwrap()
        let started = try onA.pay(order.orderNo, code: paymentCode(.userConfirms)).unwrap()
        XCTAssertEqual(started.status, .paying)
        XCTAssertEqual(started.pending, .userConfirming)
        let seen = try settle(onB, order.orderNo)
        XCTAssertEqual(seen.status, .paid, "\(seen)")
        XCTAssertEqual(seen.channelTxn, "SBX" + order.orderNo.digits)
        XCTAssertEqual(try onA.query(order.orderNo).unwrap().status, .paid)

        // A code charged through A is used up for B too.
        let code = paymentCode(.paid)
        let first = try onA.createOrder(amount: 300).unwrap()
        XCTAssertEqual(try onA.pay(first.orderNo, code: code).unwrap().status, .paid)
        let second = try onB.createOrder(amount: 300).unwrap()
        let again = try onB.pay(second.orderNo, code: code).unwrap()
        XCTAssertEqual(again.status, .declined)
        XCTAssertEqual(again.failure?.reason, DeclineReason.codeUsed.rawValue)
    }

    func testTheSameOrderPaidThroughBothInstancesAtOnceIsChargedOnce() throws {
        sandbox = try SandboxServer()
        let (a, b) = try twoHosts()
        let credentials = try a.activateTerminal()
        let terminals = [TestTerminal(transport: try a.transport(), credentials: credentials),
                         TestTerminal(transport: try b.transport(), credentials: credentials)]
        let channel = try sandbox.channel()
        for round in 0..<3 {
            let order = try terminals[0].createOrder(amount: 2_000 + Int64(round)).unwrap()
            // One code sent through both instances (a terminal retrying on the other host). The slow scenario
            // keeps the first pay at the channel while the other instance's arrives.
            let code = paymentCode(.slow)
            let answers = Collected<Result<OrderView, CallFailure>>()
            DispatchQueue.concurrentPerform(iterations: 2) { i in answers.append(terminals[i].pay(order.orderNo, code: code)) }
            for answer in answers.all {
                let status = try answer.unwrap().status
                XCTAssertTrue(status == .paid || status == .paying, "neither instance may decline the order: \(answer)")
            }
            for terminal in terminals {
                let final = try settle(terminal, order.orderNo)
                XCTAssertEqual(final.status, .paid)
                XCTAssertEqual(final.channelTxn, "SBX" + order.orderNo.digits)
            }
            let books = try channel.books(now: CashierService.systemClock())
            XCTAssertEqual(books.paid[order.orderNo.digits], order.amount, "the shared channel took the payment")
            XCTAssertEqual(books.doubleCharges, 0)
        }
        XCTAssertEqual(try channel.books(now: CashierService.systemClock()).paid.count, 3, "one charge per order")
    }

    func testReconcileIsExactWithTheRemoteSandboxFromEitherDataDirectory() throws {
        sandbox = try SandboxServer()
        let (a, b) = try twoHosts()
        let credentials = try a.activateTerminal()
        let onA = TestTerminal(transport: try a.transport(), credentials: credentials)
        let onB = TestTerminal(transport: try b.transport(), credentials: credentials)
        let paidOnA = try onA.createOrder(amount: 1_000).unwrap()
        XCTAssertEqual(try onA.pay(paidOnA.orderNo, code: paymentCode(.paid)).unwrap().status, .paid)
        let paidOnB = try onB.createOrder(amount: 800).unwrap()
        XCTAssertEqual(try onB.pay(paidOnB.orderNo, code: paymentCode(.paid)).unwrap().status, .paid)
        let declinedOnA = try onA.createOrder(amount: 50).unwrap()
        XCTAssertEqual(try onA.pay(declinedOnA.orderNo, code: paymentCode(.insufficientFunds)).unwrap().status, .declined)
        let refund = try onB.refund(paidOnA.orderNo, amount: 250, ref: "shared-1", pin: Cashierd.supervisorPIN).unwrap()
        XCTAssertEqual(refund.refund.status, .succeeded)

        for service in [a, b] {
            let r = try service.admin(["reconcile"])
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
            XCTAssertTrue(r.stdout.contains("paid orders in groups: 2; paid at channel: 2"), r.stdout)
            XCTAssertTrue(r.stdout.contains("refunds in groups: 1; refunds at channel: 1"), r.stdout)
            XCTAssertTrue(r.stdout.contains("double charges: 0"), r.stdout)
            XCTAssertTrue(r.stdout.hasSuffix("reconciliation: EXACT\n"), r.stdout)
        }

        // A charge at the channel that no group records is found, from the remote books.
        let stray = orderNumber()
        XCTAssertEqual(try sandbox.channel().pay(payment(stray, paymentCode(.paid), now: CashierService.systemClock())), .paid(txn: "SBX" + stray))
        let mismatch = try b.admin(["reconcile"])
        XCTAssertEqual(mismatch.status, 1)
        XCTAssertTrue(mismatch.stdout.contains("order \(stray): the channel charged"), mismatch.stdout)
        XCTAssertTrue(mismatch.stdout.contains("charged-not-recorded: 1"), mismatch.stdout)

        // A code charged twice (a ledger tampered with behind the sandbox's back) is reported as such.
        let tamper = try SQLiteTestDatabase(path: sandbox.ledgerPath)
        try tamper.exec("""
            DROP INDEX payments_code;
            INSERT INTO payments (out_trade_no, payment_code, amount, currency, scenario, status, txn, created_at, updated_at)
            SELECT '9' || substr(out_trade_no, 2), payment_code, amount, currency, scenario, 'PAID', txn, created_at, updated_at
            FROM payments WHERE out_trade_no = '\(stray)';
            """)
        let doubled = try a.admin(["reconcile"])
        XCTAssertEqual(doubled.status, 1)
        XCTAssertTrue(doubled.stdout.contains("double charges: 1"), doubled.stdout)

        // Without the sandbox service there are no books to compare: a failure, never "exact".
        sandbox.stop()
        let down = try a.admin(["reconcile"])
        XCTAssertEqual(down.status, 1)
        XCTAssertFalse(down.stdout.contains("EXACT"), down.stdout)
        XCTAssertTrue(down.stderr.contains("sandbox service"), down.stderr)
    }

    func testTheSweepAndTheTerminalsReversalWorkThroughTheRemoteAdapter() throws {
        sandbox = try SandboxServer(tls: false, signed: false)
        let sandbox = try XCTUnwrap(self.sandbox)
        let service = try Cashierd(groups: 1) { c in
            sandbox.configure(&c)
            c.sweep.afterSeconds = 1
            c.sweep.reverseAfterSeconds = 3
            c.sweep.everySeconds = 1
        }
        services.append(service)
        let terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        let channel = try sandbox.channel()

        // The terminal reverses a payment the customer never confirms: reversed at the shared channel.
        let reversed = try terminal.createOrder(amount: 700).unwrap()
        XCTAssertEqual(try terminal.pay(reversed.orderNo, code: paymentCode(.userNeverConfirms)).unwrap().pending, .userConfirming)
        XCTAssertEqual(try terminal.reverse(reversed.orderNo).unwrap().status, .reversed)
        XCTAssertEqual(try channel.query(outTradeNo: reversed.orderNo.digits, now: CashierService.systemClock()), .reversed)

        // Nobody asks about these two: the sweep records the charge the pay could not report, and reverses
        // at the channel the payment nobody will ever confirm.
        let unknown = try terminal.createOrder(amount: 900).unwrap()
        XCTAssertEqual(try terminal.pay(unknown.orderNo, code: paymentCode(.unknownButPaid)).unwrap().pending, .unknown)
        let abandoned = try terminal.createOrder(amount: 600).unwrap()
        XCTAssertEqual(try terminal.pay(abandoned.orderNo, code: paymentCode(.userNeverConfirms)).unwrap().pending, .userConfirming)
        let runtime = try ServiceRuntime(dataDirectory: service.dataPath, logRequests: false)
        func stored(_ order: OrderView) throws -> OrderRecord? {
            try runtime.hopping.withGroup(order.orderNo.group) { try $0.order(order.orderNo) }
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, try stored(unknown)?.status != .paid || stored(abandoned)?.status != .reversed {
            Thread.sleep(forTimeInterval: 0.25)
        }
        XCTAssertEqual(try stored(unknown)?.status, .paid)
        XCTAssertEqual(try stored(unknown)?.channelTxn, "SBX" + unknown.orderNo.digits)
        XCTAssertEqual(try stored(abandoned)?.status, .reversed)
        let now = CashierService.systemClock()
        XCTAssertEqual(try channel.query(outTradeNo: abandoned.orderNo.digits, now: now), .reversed, "the sweep reversed it at the shared channel")
        XCTAssertEqual(try channel.pay(payment(abandoned.orderNo.digits, paymentCode(.paid), now: now)), declined(.orderReversed))
        let r = try service.admin(["reconcile"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("paid orders in groups: 1; paid at channel: 1"), r.stdout)
    }

    func testTheSandboxServiceKilledMidSaleLeavesThePaymentUnknownUntilItIsBack() throws {
        sandbox = try SandboxServer(slowDelayMs: 2_000)
        let sandbox = try XCTUnwrap(self.sandbox)
        let service = try Cashierd(groups: 1) { c in
            sandbox.configure(&c)
            c.sweep.afterSeconds = 0  // only the terminal asks
        }
        services.append(service)
        let terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        let channel = try sandbox.channel()

        // Killed while the pay is at the channel (the slow scenario answers paid after 2 s), before it
        // charged: the pay is unknown, never declined.
        let lost = try terminal.createOrder(amount: 1_100).unwrap()
        let answer = Collected<Result<OrderView, CallFailure>>()
        let paying = Thread { answer.append(terminal.pay(lost.orderNo, code: paymentCode(.slow))) }
        paying.start()
        Thread.sleep(forTimeInterval: 0.4)
        sandbox.kill()
        let deadline = Date().addingTimeInterval(15)
        while answer.all.isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let unknown = try XCTUnwrap(answer.all.first).unwrap()
        XCTAssertEqual(unknown.status, .paying)
        XCTAssertEqual(unknown.pending, .unknown)
        XCTAssertEqual(try terminal.query(lost.orderNo).unwrap().pending, .unknown, "nothing to ask while the channel is down")
        guard case .failure(.service(let refusal)) = terminal.reverse(lost.orderNo) else {
            return XCTFail("a reversal that cannot reach the channel must not be reported done")
        }
        XCTAssertEqual(refusal.code, .channelUnavailable)

        // Back (same port, same ledger): it never charged, so the query still cannot end the sale; the
        // terminal's reversal does, and the order can never be charged.
        try sandbox.start()
        XCTAssertEqual(try terminal.query(lost.orderNo).unwrap().pending, .unknown)
        XCTAssertEqual(try channel.query(outTradeNo: lost.orderNo.digits, now: CashierService.systemClock()), .notFound)
        XCTAssertEqual(try terminal.reverse(lost.orderNo).unwrap().status, .reversed)
        XCTAssertEqual(try channel.query(outTradeNo: lost.orderNo.digits, now: CashierService.systemClock()), .reversed)

        // The charge made but its answer lost (scenario 7), then the sandbox dies mid-sale.
        let charged = try terminal.createOrder(amount: 1_200).unwrap()
        let pending = try terminal.pay(charged.orderNo, code: paymentCode(.unknownButPaid)).unwrap()
        XCTAssertEqual(pending.status, .paying)
        XCTAssertEqual(pending.pending, .unknown)
        sandbox.kill()
        let whileDown = try terminal.query(charged.orderNo).unwrap()
        XCTAssertEqual(whileDown.status, .paying)
        XCTAssertEqual(whileDown.pending, .unknown)
        try sandbox.start()
        let found = try terminal.query(charged.orderNo).unwrap()
        XCTAssertEqual(found.status, .paid, "after the restart the query finds the charge")
        XCTAssertEqual(found.channelTxn, "SBX" + charged.orderNo.digits)
        let r = try service.admin(["reconcile"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("paid orders in groups: 1; paid at channel: 1"), r.stdout)
    }

    /// Queries until the order is no longer `paying` (bounded).
    private func settle(_ terminal: TestTerminal, _ order: OrderNumber, seconds: Double = 15) throws -> OrderView {
        let deadline = Date().addingTimeInterval(seconds)
        var last = try terminal.query(order).unwrap()
        while last.status == .paying && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.25)
            last = try terminal.query(order).unwrap()
        }
        return last
    }
}

// MARK: - Helpers

/// A random 23-digit order number nobody else uses.
private func orderNumber() -> String {
    "8" + (0..<22).map { _ in String(Int.random(in: 0...9)) }.joined()
}

private func payment(_ outTradeNo: String, _ code: String, amount: Int64 = 100, now: Int64) -> ChannelPayRequest {
    ChannelPayRequest(outTradeNo: outTradeNo, amount: amount, currency: "CNY", paymentCode: code, description: "test",
                      storeID: "S1", deviceID: "D1", now: now)
}

private func refund(_ refundNo: String, of outTradeNo: String, amount: Int64, now: Int64) -> ChannelRefundRequest {
    ChannelRefundRequest(refundNo: refundNo, outTradeNo: outTradeNo, orderAmount: 100, amount: amount, currency: "CNY", now: now)
}

private func declined(_ reason: DeclineReason) -> ChannelPaymentState {
    .declined(reason: reason.rawValue, message: reason.message)
}

/// The kind of `ChannelError` the call throws; nil when it returns or throws something else.
private func kind(_ call: () throws -> Void) -> ChannelError.Kind? {
    do {
        try call()
        return nil
    } catch {
        return (error as? ChannelError)?.kind
    }
}

/// Asks the channel until it says something other than `notFound` (bounded).
private func poll(_ channel: SandboxHTTPChannel, _ outTradeNo: String, now: Int64, seconds: Double = 10) throws -> ChannelPaymentState {
    let deadline = Date().addingTimeInterval(seconds)
    var state = try channel.query(outTradeNo: outTradeNo, now: now)
    while state == .notFound && Date() < deadline {
        Thread.sleep(forTimeInterval: 0.2)
        state = try channel.query(outTradeNo: outTradeNo, now: now)
    }
    return state
}

/// Collects values from concurrent threads.
private final class Collected<Value: Sendable>: @unchecked Sendable {
    // @unchecked: guarded by lock.
    private let lock = NSLock()
    private var items: [Value] = []
    func append(_ value: Value) { lock.withLock { items.append(value) } }
    var all: [Value] { lock.withLock { items } }
}
