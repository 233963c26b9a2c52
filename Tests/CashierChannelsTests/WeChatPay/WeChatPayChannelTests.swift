import CashierChannels
import CashierCore
import Foundation
import HTTPClient
import XCTest

/// The adapter against the real simulator process, over HTTPS on loopback: payments.
final class WeChatPayChannelPaymentTests: WeChatPaySimulatorTestCase {
    func testPaidAtOnceWithEitherSignType() throws {
        for signType in WeChatPaySignType.allCases {
            let channel = try WeChatPayChannel(configuration: simulator.configuration(signType: signType))
            let order = orderNumber()
            let state = try channel.pay(payRequest(order, code: paymentCode(ending: "0"), amount: 1234))
            let booked = try XCTUnwrap(simulator.payment(order))
            XCTAssertEqual(booked["state"] as? String, "SUCCESS")
            XCTAssertEqual(booked["amount"] as? Int, 1234)
            XCTAssertEqual(state, .paid(txn: try XCTUnwrap(booked["txn"] as? String)), "\(signType)")
            XCTAssertEqual(try channel.query(outTradeNo: order, now: nowMs()), state)
        }
        XCTAssertEqual(try simulator.calls("/pay/micropay").map { $0["outcome"] as? String }, ["answered", "answered"],
                       "both sign types' requests verified at the provider")
    }

    /// The service calls one channel from many threads at once.
    func testConcurrentCallsEachReachTheProviderOnce() throws {
        let channel = try WeChatPayChannel(configuration: simulator.configuration())
        let orders = (0..<8).map { _ in orderNumber() }
        let requests = orders.map { payRequest($0, code: paymentCode(ending: "0")) }
        let results = ResultsBox(count: orders.count)
        DispatchQueue.concurrentPerform(iterations: orders.count) { i in
            let paid = (try? channel.pay(requests[i])).map { if case .paid = $0 { return true } else { return false } } ?? false
            let asked = (try? channel.query(outTradeNo: requests[i].outTradeNo, now: requests[i].now)).map { if case .paid = $0 { return true } else { return false } } ?? false
            results.set(i, paid && asked)
        }
        XCTAssertEqual(results.all, Array(repeating: true, count: orders.count))
        let pays = try simulator.calls("/pay/micropay").compactMap { $0["out_trade_no"] as? String }
        XCTAssertEqual(pays.sorted(), orders.sorted())
    }

    func testUserPayingThenPaidByQuery() throws {
        try simulator.control(["confirm_seconds": 1])
        let channel = try WeChatPayChannel(configuration: simulator.configuration())
        let order = orderNumber()
        XCTAssertEqual(try channel.pay(payRequest(order, code: paymentCode(ending: "4"))), .userConfirming)
        XCTAssertEqual(try channel.query(outTradeNo: order, now: nowMs()), .userConfirming)
        var state = ChannelPaymentState.userConfirming
        for _ in 0..<40 where state == .userConfirming {
            Thread.sleep(forTimeInterval: 0.1)
            state = try channel.query(outTradeNo: order, now: nowMs())
        }
        guard case .paid(let txn) = state else { return XCTFail("still \(state)") }
        XCTAssertEqual(txn, try simulator.payment(order)?["txn"] as? String)
        XCTAssertEqual(try simulator.calls("/pay/micropay").count, 1, "paid by asking, never by paying again")
    }

    func testUserNeverConfirmsIsReversedAfterTheEarliestReverse() throws {
        let channel = try WeChatPayChannel(configuration: simulator.configuration(earliestReverseMs: 500))
        let order = orderNumber(), code = paymentCode(ending: "5")
        let started = nowMs()
        XCTAssertEqual(try channel.pay(payRequest(order, code: code, now: started)), .userConfirming)
        assertChannelError(.notYet, try channel.reverse(outTradeNo: order, payStartedAt: started, now: started + 499))
        XCTAssertEqual(try simulator.calls("/secapi/pay/reverse").count, 0, "too early: nothing sent")
        try channel.reverse(outTradeNo: order, payStartedAt: started, now: started + 500)
        XCTAssertEqual(try simulator.payment(order)?["state"] as? String, "REVOKED")
        XCTAssertEqual(try channel.query(outTradeNo: order, now: nowMs()), .reversed)
        // The customer confirming now is too late: the order can never be charged.
        guard case .declined(let reason, _) = try channel.pay(payRequest(order, code: code)) else {
            return XCTFail("a reversed order was paid")
        }
        XCTAssertEqual(reason, DeclineReason.orderReversed.rawValue)
    }

    func testTheProvidersFifteenSecondsAreTheDefault() throws {
        let channel = try WeChatPayChannel(configuration: simulator.configuration(earliestReverseMs: nil))
        XCTAssertEqual(channel.timing.earliestReverseMs, 15_000)
        XCTAssertEqual(channel.timing.pollIntervalMs, 5_000)
        XCTAssertEqual(channel.timing.payDeadlineMs, 30_000)
        let order = orderNumber()
        let started = nowMs()
        XCTAssertEqual(try channel.pay(payRequest(order, code: paymentCode(ending: "5"), now: started)), .userConfirming)
        assertChannelError(.notYet, try channel.reverse(outTradeNo: order, payStartedAt: started, now: started + 14_999))
        XCTAssertEqual(try simulator.calls("/secapi/pay/reverse").count, 0)
        try channel.reverse(outTradeNo: order, payStartedAt: started, now: started + 15_000)
        XCTAssertEqual(try simulator.calls("/secapi/pay/reverse").count, 1)
    }

    func testSystemErrorIsUnknownAndTheQuerySaysPaid() throws {
        let channel = try WeChatPayChannel(configuration: simulator.configuration())
        let order = orderNumber()
        XCTAssertEqual(try channel.pay(payRequest(order, code: paymentCode(ending: "7"))), .unknown)
        guard case .paid = try channel.query(outTradeNo: order, now: nowMs()) else { return XCTFail("not paid") }
        // BANKERROR likewise, and one that took nothing is never called paid.
        let other = orderNumber()
        XCTAssertEqual(try channel.pay(payRequest(other, code: paymentCode(ending: "63"))), .unknown)
        XCTAssertEqual(try channel.query(outTradeNo: other, now: nowMs()), .unknown, "PAYERROR: reversed at the deadline, not assumed")
        // The control's SYSTEMERROR the same way.
        try simulator.control(["system_error_pays": 1])
        let third = orderNumber()
        XCTAssertEqual(try channel.pay(payRequest(third, code: paymentCode(ending: "0"))), .unknown)
        guard case .paid = try channel.query(outTradeNo: third, now: nowMs()) else { return XCTFail("not paid") }
    }

    func testDeclinesCarryTheRightReason() throws {
        let channel = try WeChatPayChannel(configuration: simulator.configuration())
        let cases: [(String, DeclineReason, String)] = [
            ("6", .insufficientFunds, "NOTENOUGH"), ("03", .codeExpired, "AUTHCODEEXPIRE"),
            ("13", .codeInvalid, "AUTH_CODE_INVALID"), ("23", .buyerRestricted, "NOTSUPORTCARD"),
            ("43", .buyerRestricted, "TRADE_ERROR"),
        ]
        for (ending, reason, code) in cases {
            let state = try channel.pay(payRequest(orderNumber(), code: paymentCode(ending: ending)))
            guard case .declined(let got, let message) = state else { XCTFail("\(code): \(state)"); continue }
            XCTAssertEqual(got, reason.rawValue, code)
            XCTAssertTrue(message.contains(code), message)
        }
        // A code is single-use: a second order with it is refused, not charged.
        let code = paymentCode(ending: "0")
        guard case .paid = try channel.pay(payRequest(orderNumber(), code: code)) else { return XCTFail() }
        guard case .declined(let reason, _) = try channel.pay(payRequest(orderNumber(), code: code)) else { return XCTFail() }
        XCTAssertEqual(reason, DeclineReason.codeExpired.rawValue)
        // Not a WeChat code at all: refused without asking.
        guard case .declined(let invalid, _) = try channel.pay(payRequest(orderNumber(), code: "283456789012345678")) else { return XCTFail() }
        XCTAssertEqual(invalid, DeclineReason.codeInvalid.rawValue)
        XCTAssertEqual(try simulator.calls("/pay/micropay").count, cases.count + 2)
    }

    func testARepeatedPayAnswersHowThePaymentStandsAndNeverChargesTwice() throws {
        let channel = try WeChatPayChannel(configuration: simulator.configuration())
        let order = orderNumber(), code = paymentCode(ending: "1")
        let first = try channel.pay(payRequest(order, code: code))
        guard case .paid = first else { return XCTFail("\(first)") }
        // The provider answers ORDERPAID; the adapter asks and reports the same payment.
        XCTAssertEqual(try channel.pay(payRequest(order, code: code)), first)
        XCTAssertEqual(try simulator.calls("/pay/micropay").last?["result"] as? String, "ORDERPAID")
        XCTAssertEqual(try simulator.calls("/pay/orderquery").count, 1)
    }

    func testAnAnswerThatFailsVerificationIsNeverPaidNorDeclined() throws {
        let channel = try WeChatPayChannel(configuration: simulator.configuration())
        try simulator.control(["bad_sign": ["/pay/micropay"]])
        let paidOrder = orderNumber()
        assertChannelError(.unverifiedAnswer, try channel.pay(payRequest(paidOrder, code: paymentCode(ending: "0"))))
        let refusedOrder = orderNumber()
        assertChannelError(.unverifiedAnswer, try channel.pay(payRequest(refusedOrder, code: paymentCode(ending: "6"))))
        // Validly signed, but for another appid: not ours, not believed.
        try simulator.control(["bad_sign": [], "foreign_appid": ["/pay/orderquery"]])
        assertChannelError(.unverifiedAnswer, try channel.query(outTradeNo: paidOrder, now: nowMs()))
        // What really happened, once the answers are genuine again: the first was charged, the second not.
        try simulator.control(["foreign_appid": []])
        guard case .paid = try channel.query(outTradeNo: paidOrder, now: nowMs()) else { return XCTFail() }
        XCTAssertEqual(try channel.query(outTradeNo: refusedOrder, now: nowMs()), .unknown)
    }

    func testATimeoutIsNoAnswerAndThePayIsNotSentAgainAnywhere() throws {
        try simulator.control(["delays": ["/pay/micropay": 4]])
        let channel = try WeChatPayChannel(configuration: simulator.configuration(readTimeoutMs: 1_000))
        let order = orderNumber()
        let error = assertChannelError(.noAnswer, try channel.pay(payRequest(order, code: paymentCode(ending: "0"))))
        XCTAssertTrue(error?.detail.contains("not sent again") ?? false, "\(String(describing: error))")
        let pays = try simulator.calls("/pay/micropay")
        XCTAssertEqual(pays.count, 1, "one attempt in the provider's books")
        XCTAssertEqual(pays.first?["listener"] as? String, "primary")
        XCTAssertFalse(channel.domainHealth.isPrimaryBad, "a timeout after connecting says nothing against the domain")
        // The service asks; the answer is in the provider's books.
        guard case .paid = try channel.query(outTradeNo: order, now: nowMs()) else { return XCTFail() }
    }

    func testADeadConnectionNeverMakesCurlSendThePayAgain() throws {
        let channel = try WeChatPayChannel(configuration: simulator.configuration())
        // Warm the kept-alive connections up, then have the provider take the next pay and drop the line.
        XCTAssertEqual(try channel.query(outTradeNo: orderNumber(), now: nowMs()), .notFound)
        try simulator.control(["drops": ["/pay/micropay": 1]])
        let order = orderNumber()
        assertChannelError(.noAnswer, try channel.pay(payRequest(order, code: paymentCode(ending: "0"))))
        XCTAssertEqual(try simulator.calls("/pay/micropay").count, 1, "libcurl did not re-send it on a fresh connection")
        guard case .paid = try channel.query(outTradeNo: order, now: nowMs()) else { return XCTFail() }
    }

    /// The hazard the fresh connection guards against is real: on a reused connection that dies before
    /// any answer byte, libcurl sends the same request again by itself.
    func testLibcurlReSendsOnAReusedConnectionUnlessEachRequestIsFresh() throws {
        for fresh in [false, true] {
            var http = HTTPClientConfiguration(caFile: simulator.ready.ca_file, connectTimeoutMs: 2_000, totalTimeoutMs: 5_000)
            http.freshConnectionEachRequest = fresh
            let connection = try CurlConnection(configuration: http)
            let url = simulator.primaryBaseURL + "/pay/refundquery"
            var fields: [(String, String)] = [("appid", simulator.ready.appid), ("mch_id", simulator.ready.mch_id),
                                              ("out_refund_no", "R-none"), ("nonce_str", "n1")]
            fields.append(("sign", WeChatPaySignature.sign(fields, key: simulator.apiKey, signType: .md5)))
            let body = try WeChatPayXML.encode(fields)
            guard case .success(let warm) = connection.perform(method: "POST", url: url, body: body) else {
                return XCTFail("warm-up failed")
            }
            XCTAssertEqual(warm.newConnections, 1)
            let before = try simulator.calls("/pay/refundquery").count
            try simulator.control(["drops": ["/pay/refundquery": 1]])
            let result = connection.perform(method: "POST", url: url, body: body)
            let sent = try simulator.calls("/pay/refundquery").count - before
            if fresh {
                XCTAssertEqual(sent, 1)
                guard case .failure = result else { return XCTFail("a dropped request answered") }
            } else {
                XCTAssertEqual(sent, 2, "libcurl re-sent the request on its own")
                guard case .success = result else { return XCTFail("the re-sent request had no answer") }
            }
        }
    }
}

/// The adapter against the simulator: the two domains.
final class WeChatPayChannelDomainTests: WeChatPaySimulatorTestCase {
    override var simulatorArguments: [String] { ["--primary-down"] }

    func testThePrimaryDownTheBackupServesAndThePrimaryIsTakenBackAfterThreeMinutes() throws {
        let channel = try WeChatPayChannel(configuration: simulator.configuration())
        let t0 = nowMs()
        // Refused at the primary, so surely not sent: the same pay goes to the backup.
        var orders: [String] = []
        for i in 0..<3 {
            let order = orderNumber()
            orders.append(order)
            guard case .paid = try channel.pay(payRequest(order, code: paymentCode(ending: "0"), now: t0 + Int64(i))) else {
                return XCTFail("pay \(i) not paid")
            }
        }
        XCTAssertEqual(try simulator.calls("/pay/micropay").map { $0["listener"] as? String }, ["backup", "backup", "backup"])
        XCTAssertTrue(channel.domainHealth.isPrimaryBad, "three refusals mark the primary bad")
        // The primary comes back, but within 3 minutes calls go straight to the backup.
        try simulator.control(["primary_down": false])
        _ = try channel.query(outTradeNo: orders[0], now: t0 + 60_000)
        XCTAssertEqual(try simulator.calls("/pay/orderquery").last?["listener"] as? String, "backup")
        // After 3 minutes, the nearest again.
        guard case .paid = try channel.pay(payRequest(orderNumber(), code: paymentCode(ending: "0"), now: t0 + 180_010)) else {
            return XCTFail()
        }
        XCTAssertEqual(try simulator.calls("/pay/micropay").last?["listener"] as? String, "primary")
        XCTAssertFalse(channel.domainHealth.isPrimaryBad)
        // The books hold each order once: nothing went to both.
        XCTAssertEqual(Set(try simulator.calls("/pay/micropay").compactMap { $0["out_trade_no"] as? String }).count, 4)
    }

    func testAQueryGoesToTheOtherDomainAfterATimeoutButAPayDoesNot() throws {
        try simulator.control(["primary_down": false, "delays": ["/pay/orderquery": 4, "/pay/micropay": 4]])
        let channel = try WeChatPayChannel(configuration: simulator.configuration(readTimeoutMs: 1_000))
        // Both domains are slow for queries: the query is tried at both, then "no answer".
        assertChannelError(.noAnswer, try channel.query(outTradeNo: orderNumber(), now: nowMs()))
        XCTAssertEqual(try simulator.calls("/pay/orderquery").map { $0["listener"] as? String }, ["primary", "backup"])
        assertChannelError(.noAnswer, try channel.pay(payRequest(orderNumber(), code: paymentCode(ending: "0"))))
        XCTAssertEqual(try simulator.calls("/pay/micropay").map { $0["listener"] as? String }, ["primary"])
    }
}

/// The adapter against the simulator: reverse, refunds, the bill, mutual TLS.
final class WeChatPayChannelAfterSaleTests: WeChatPaySimulatorTestCase {
    func testReverseIsCalledAgainWhileTheAnswerSaysRecall() throws {
        let channel = try WeChatPayChannel(configuration: simulator.configuration(reverseAttemptsMax: 4))
        let order = orderNumber()
        let started = nowMs()
        guard case .paid = try channel.pay(payRequest(order, code: paymentCode(ending: "0"), now: started)) else { return XCTFail() }
        try simulator.control(["recall_first": 2])
        try channel.reverse(outTradeNo: order, payStartedAt: started, now: started + 1_000)
        XCTAssertEqual(try simulator.calls("/secapi/pay/reverse").count, 3)
        XCTAssertEqual(try simulator.payment(order)?["state"] as? String, "REVOKED")
        XCTAssertEqual(try simulator.payment(order)?["reversed_paid"] as? Bool, true, "a paid order's money is returned")
        // Bounded: still recall=Y after the last allowed call is "not yet", never "done".
        let other = orderNumber()
        _ = try channel.pay(payRequest(other, code: paymentCode(ending: "5"), now: started))
        try simulator.control(["recall_first": 10])
        assertChannelError(.notYet, try channel.reverse(outTradeNo: other, payStartedAt: started, now: started + 1_000))
        XCTAssertEqual(try simulator.calls("/secapi/pay/reverse").count, 3 + 4)
        XCTAssertEqual(try simulator.payment(other)?["state"] as? String, "USERPAYING")
        // An order the provider never saw: done, and it can never be charged later.
        let unseen = orderNumber()
        try simulator.control(["recall_first": 0])
        try channel.reverse(outTradeNo: unseen, payStartedAt: started, now: started + 1_000)
        guard case .declined(let reason, _) = try channel.pay(payRequest(unseen, code: paymentCode(ending: "0"))) else { return XCTFail() }
        XCTAssertEqual(reason, DeclineReason.orderReversed.rawValue)
    }

    func testRefundsAreIdempotentByRefundNumberAndConfirmedByQuery() throws {
        let channel = try WeChatPayChannel(configuration: simulator.configuration())
        let order = orderNumber()
        guard case .paid = try channel.pay(payRequest(order, code: paymentCode(ending: "0"), amount: 100)) else { return XCTFail() }
        func refund(_ no: String, _ amount: Int64) throws -> ChannelRefundState {
            try channel.refund(ChannelRefundRequest(refundNo: no, outTradeNo: order, orderAmount: 100, amount: amount,
                                                    currency: "CNY", reason: "returned cup", now: nowMs()))
        }
        XCTAssertEqual(try refund("R1", 60), .succeeded)
        XCTAssertEqual(try refund("R1", 60), .succeeded, "the same refund number again")
        let refunds = try XCTUnwrap(try simulator.state()["refunds"] as? [String: Any])
        XCTAssertEqual(refunds.count, 1, "refunded once")
        // More than is left: refused, nothing refunded.
        guard case .refused(let reason, _) = try refund("R2", 50) else { return XCTFail() }
        XCTAssertEqual(reason, "CHANNEL_REFUSED")
        XCTAssertEqual(try channel.queryRefund(refundNo: "R1", outTradeNo: order, now: nowMs()), .succeeded)
        XCTAssertEqual(try channel.queryRefund(refundNo: "R2", outTradeNo: order, now: nowMs()), .notFound)
        // Still paid: the money was taken, a refund exists.
        guard case .paid = try channel.query(outTradeNo: order, now: nowMs()) else { return XCTFail() }
        XCTAssertEqual(try simulator.calls("/secapi/pay/refund").count, 3)
    }

    func testAcceptedIsNotRefunded() throws {
        try simulator.control(["refund_settle_seconds": 1.5])
        let channel = try WeChatPayChannel(configuration: simulator.configuration())
        let order = orderNumber()
        guard case .paid = try channel.pay(payRequest(order, code: paymentCode(ending: "0"))) else { return XCTFail() }
        let request = ChannelRefundRequest(refundNo: "R7", outTradeNo: order, orderAmount: 100, amount: 100, currency: "CNY", now: nowMs())
        XCTAssertEqual(try channel.refund(request), .processing)
        var state = ChannelRefundState.processing
        for _ in 0..<40 where state == .processing {
            Thread.sleep(forTimeInterval: 0.1)
            state = try channel.queryRefund(refundNo: "R7", outTradeNo: order, now: nowMs())
        }
        XCTAssertEqual(state, .succeeded)
    }

    func testTheBillMatchesTheProvidersBooks() throws {
        let channel = try WeChatPayChannel(configuration: simulator.configuration())
        let started = nowMs()
        let a = orderNumber(), b = orderNumber(), c = orderNumber()
        _ = try channel.pay(payRequest(a, code: paymentCode(ending: "0"), amount: 1_000))
        _ = try channel.pay(payRequest(b, code: paymentCode(ending: "1"), amount: 250))
        _ = try channel.pay(payRequest(c, code: paymentCode(ending: "2"), amount: 99))
        _ = try channel.pay(payRequest(orderNumber(), code: paymentCode(ending: "6"), amount: 5))
        XCTAssertEqual(try channel.refund(ChannelRefundRequest(refundNo: "RA1", outTradeNo: a, orderAmount: 1_000, amount: 300,
                                                               currency: "CNY", now: nowMs())), .succeeded)
        try channel.reverse(outTradeNo: c, payStartedAt: started, now: started + 1_000)

        let day = beijingDay(nowMs())
        let statement = try channel.statement(day: day)
        XCTAssertEqual(statement.day, day)
        let books = try simulator.state()
        let payments = try XCTUnwrap(books["payments"] as? [String: [String: Any]])
        let expectedPayments = payments.values.filter { ($0["paid_at"] as? NSNumber) != nil }
            .map { "\($0["out_trade_no"]!)=\($0["amount"]!)=\($0["txn"]!)" }.sorted()
        XCTAssertEqual(statement.lines.filter { $0.kind == .payment }.map { "\($0.outTradeNo)=\($0.amount)=\($0.providerID)" }.sorted(),
                       expectedPayments)
        XCTAssertEqual(expectedPayments.count, 3)
        let refunds = statement.lines.filter { $0.kind == .refund }
        XCTAssertEqual(refunds.count, 2)
        XCTAssertTrue(refunds.contains { $0.outTradeNo == a && $0.refundNo == "RA1" && $0.amount == 300 })
        XCTAssertTrue(refunds.contains { $0.outTradeNo == c && $0.refundNo == nil && $0.amount == 99 }, "the reversed payment's money")
        for line in statement.lines { XCTAssertLessThan(abs((line.time ?? 0) - started), 60_000) }
        // A day with nothing: not yet / none — never an empty statement passed off as the truth.
        assertChannelError(.notYet, try channel.statement(day: "2001-01-01"))
    }

    func testSecapiNeedsTheMerchantsClientCertificate() throws {
        let channel = try WeChatPayChannel(configuration: simulator.configuration())
        let order = orderNumber()
        guard case .paid = try channel.pay(payRequest(order, code: paymentCode(ending: "0"))) else { return XCTFail() }
        let key = simulator.apiKey
        var fields: [(String, String)] = [("appid", simulator.ready.appid), ("mch_id", simulator.ready.mch_id),
                                          ("out_trade_no", order), ("nonce_str", "abc123")]
        fields.append(("sign", WeChatPaySignature.sign(fields, key: key, signType: .md5)))
        let body = try WeChatPayXML.encode(fields)
        let merchant = WeChatPayAnswers.Merchant(appID: simulator.ready.appid, merchantID: simulator.ready.mch_id)

        // A correctly signed reverse without a client certificate: refused by the provider.
        let bare = try CurlConnection(configuration: HTTPClientConfiguration(caFile: simulator.ready.ca_file))
        guard case .success(let refused) = bare.perform(method: "POST", url: simulator.primaryBaseURL + "/secapi/pay/reverse", body: body) else {
            return XCTFail("no answer")
        }
        assertChannelError(.refused, try WeChatPayAnswers.verified(refused.body, call: "reverse", key: key, signType: .md5, merchant: merchant))
        // With a certificate from another CA: the TLS handshake fails.
        var strangerConfiguration = HTTPClientConfiguration(caFile: simulator.ready.ca_file)
        strangerConfiguration.clientCertificateFile = simulator.ready.stranger_cert_file
        strangerConfiguration.clientKeyFile = simulator.ready.stranger_key_file
        let stranger = try CurlConnection(configuration: strangerConfiguration)
        if case .success(let answer) = stranger.perform(method: "POST", url: simulator.primaryBaseURL + "/secapi/pay/reverse", body: body) {
            XCTFail("a stranger's certificate was let in: HTTP \(answer.status)")
        }
        XCTAssertEqual((try simulator.state()["tls_refusals"] as? [Any])?.count, 1)
        XCTAssertEqual(try simulator.payment(order)?["state"] as? String, "SUCCESS", "not reversed")
        // The adapter presents the merchant's certificate: the same reverse goes through.
        try channel.reverse(outTradeNo: order, payStartedAt: 0, now: nowMs())
        XCTAssertEqual(try simulator.payment(order)?["state"] as? String, "REVOKED")
    }

    func testNoErrorEverShowsTheKey() throws {
        let key = simulator.apiKey
        XCTAssertEqual(key.count, 32)
        var errors: [Error] = []
        let channel = try WeChatPayChannel(configuration: simulator.configuration(readTimeoutMs: 500))
        try simulator.control(["bad_sign": ["*"]])
        do { _ = try channel.pay(payRequest(orderNumber(), code: paymentCode(ending: "0"))) } catch { errors.append(error) }
        try simulator.control(["bad_sign": [], "delays": ["/pay/orderquery": 2]])
        do { _ = try channel.query(outTradeNo: orderNumber(), now: nowMs()) } catch { errors.append(error) }
        do { try channel.reverse(outTradeNo: orderNumber(), payStartedAt: nowMs(), now: nowMs()) } catch { errors.append(error) }
        var wrongKey = simulator.configuration()
        wrongKey.apiKeyFile = nil
        wrongKey.apiKey = WeChatPaySecret(String(key.reversed()))
        do { _ = try WeChatPayChannel(configuration: wrongKey).pay(payRequest(orderNumber(), code: paymentCode(ending: "0"))) } catch { errors.append(error) }
        var unreadable = simulator.configuration()
        unreadable.apiKeyFile = "/nonexistent"
        do { _ = try WeChatPayChannel(configuration: unreadable) } catch { errors.append(error) }
        XCTAssertEqual(errors.count, 5)
        for error in errors {
            for text in [String(describing: error), String(reflecting: error), "\(error)"] {
                XCTAssertFalse(text.contains(key), text)
                XCTAssertFalse(text.contains(String(key.reversed())), text)
            }
        }
        XCTAssertFalse(String(describing: simulator.configuration()).contains(key))
    }

    /// Without `ca_file` the system's CA store is trusted — and the simulator's private CA is not in it.
    func testWithoutACAFileTheSystemStoreIsTrusted() throws {
        var http = HTTPClientConfiguration(caFile: "")
        http.usesSystemTrustStore = true
        XCTAssertNoThrow(try CurlConnection(configuration: http), "libcurl has a built-in store")
        var configuration = simulator.configuration()
        configuration.caFile = nil
        let channel = try WeChatPayChannel(configuration: configuration)
        let error = assertChannelError(.noAnswer, try channel.pay(payRequest(orderNumber(), code: paymentCode(ending: "0"))))
        XCTAssertTrue(error?.detail.contains("untrusted") ?? false, "\(String(describing: error))")
        XCTAssertEqual(try simulator.calls("/pay/micropay").count, 0, "nothing sent to an untrusted peer")
        XCTAssertFalse(channel.domainHealth.isPrimaryBad, "an untrusted peer is not an unreachable domain")
    }

    func beijingDay(_ ms: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 8 * 3600)
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}

/// Results written by concurrent threads.
private final class ResultsBox: @unchecked Sendable {
    // @unchecked: `values` is only touched under `lock`.
    private let lock = NSLock()
    private var values: [Bool]
    init(count: Int) { values = Array(repeating: false, count: count) }
    func set(_ i: Int, _ v: Bool) { lock.withLock { values[i] = v } }
    var all: [Bool] { lock.withLock { values } }
}
